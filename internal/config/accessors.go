package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mailflowhq/mailflow/internal/domain"
	"github.com/mailflowhq/mailflow/internal/netrange"
)

// ErrorAt builds an Error for key with the line that key (or its nearest
// written parent) has in the file. Packages that check what this one
// cannot (certificate files, name resolution) use it so their messages
// point at the right line.
func (c *Config) ErrorAt(key, msg, fix string) *Error {
	return &Error{File: c.Path, Line: c.Line(key), Key: key, Msg: msg, Fix: fix}
}

// Line is the line of key in the file. A key the file does not set (a
// defaulted or missing value) gets the line of its nearest parent, so an
// error about a missing receive_connectors[1].fqdn points at the
// connector. 0 means unknown (a Config built in code).
func (c *Config) Line(key string) int {
	for key != "" {
		if l, ok := c.lines[key]; ok {
			return l
		}
		switch i := strings.LastIndexAny(key, ".["); {
		case i < 0:
			return 0
		default:
			key = key[:i]
		}
	}
	return 0
}

// Resolve interprets p relative to the configuration file's directory, as
// every path in the file is. Absolute and empty paths are returned as is.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if c.Path == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}

// QueueDSN is the PostgreSQL connection string of a shared queue: queue.dsn,
// else the contents of queue.dsn_file, else the MAILFLOW_QUEUE_DSN
// environment variable.
func (c *Config) QueueDSN() (string, error) {
	q := c.Queue
	switch {
	case q.DSN != "":
		return q.DSN, nil
	case q.DSNFile != "":
		path := c.Resolve(q.DSNFile)
		b, err := os.ReadFile(path)
		if err != nil {
			return "", c.ErrorAt("queue.dsn_file", fmt.Sprintf("cannot read the connection string: %v", err),
				"write the PostgreSQL URL (postgres://user:password@host:5432/db) into "+path+", readable by mailflow only")
		}
		if dsn := strings.TrimSpace(string(b)); dsn != "" {
			return dsn, nil
		}
		return "", c.ErrorAt("queue.dsn_file", path+" is empty", "write the PostgreSQL URL (postgres://user:password@host:5432/db) into it")
	case os.Getenv("MAILFLOW_QUEUE_DSN") != "":
		return os.Getenv("MAILFLOW_QUEUE_DSN"), nil
	}
	return "", c.ErrorAt("queue.backend", "the postgres backend has no connection string",
		"give queue.dsn, queue.dsn_file, or set MAILFLOW_QUEUE_DSN=postgres://user:password@host:5432/db")
}

// DataDir is server.data_dir resolved.
func (c *Config) DataDir() string {
	d := c.Server.DataDir
	if d == "" {
		d = DefaultDataDir
	}
	return c.Resolve(d)
}

// LogDir is server.log_dir resolved, by default <data_dir>/logs.
func (c *Config) LogDir() string {
	if c.Server.LogDir != "" {
		return c.Resolve(c.Server.LogDir)
	}
	return filepath.Join(c.DataDir(), "logs")
}

// AdminTokenFile is admin.token_file resolved, by default
// <data_dir>/admin.token.
func (c *Config) AdminTokenFile() string {
	if c.Admin.TokenFile != "" {
		return c.Resolve(c.Admin.TokenFile)
	}
	return filepath.Join(c.DataDir(), "admin.token")
}

// ListenLoopback reads an admin listen address ("127.0.0.1:8025",
// "[::1]:8025", "localhost:8025", ":8025") and reports whether only this
// machine reaches it: localhost or a loopback IP, IPv4-mapped loopback
// included; an empty host means every interface. The error says why listen
// is not IP:port. It is the one loopback rule of the admin API's
// validation, listener and client.
func ListenLoopback(listen string) (bool, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		return false, fmt.Errorf("%q is not IP:port", listen)
	}
	switch {
	case strings.EqualFold(host, "localhost"):
		return true, nil
	case host == "":
		return false, nil // ":8025" listens on every interface
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, fmt.Errorf("%q is not an IP address", host)
	}
	return ip.Unmap().IsLoopback(), nil
}

// AdminEnabled reports whether the admin API should listen.
func (c *Config) AdminEnabled() bool { return !strings.EqualFold(c.Admin.Listen, "off") }

// ReceiveConnector finds a receive connector by name, ignoring case as
// Exchange does; nil when there is none.
func (c *Config) ReceiveConnector(name string) *ReceiveConnector {
	for i := range c.ReceiveConnectors {
		if strings.EqualFold(c.ReceiveConnectors[i].Name, name) {
			return &c.ReceiveConnectors[i]
		}
	}
	return nil
}

// SendConnector finds a send connector by name, ignoring case.
func (c *Config) SendConnector(name string) *SendConnector {
	for i := range c.SendConnectors {
		if strings.EqualFold(c.SendConnectors[i].Name, name) {
			return &c.SendConnectors[i]
		}
	}
	return nil
}

// IsAcceptedDomain reports whether mail for d is for this organisation:
// an accepted_domains pattern covers it (the rule of domain.Match).
func (c *Config) IsAcceptedDomain(d string) bool { return domain.MatchAny(c.AcceptedDomains, d) }

// ConnectorID is the connector-id of protocol logs: SERVER\Connector.
func (c *Config) ConnectorID(rc *ReceiveConnector) string {
	return c.Server.Name + `\` + rc.Name
}

// IsEnabled reports whether the connector takes part (default true).
func (rc *ReceiveConnector) IsEnabled() bool { return rc.Enabled == nil || *rc.Enabled }

// HasAuth reports whether auth_mechanism includes m (case-insensitive).
func (rc *ReceiveConnector) HasAuth(m string) bool { return containsFold(rc.AuthMechanism, m) }

// HasPermission reports whether permission_groups includes g.
func (rc *ReceiveConnector) HasPermission(g string) bool { return containsFold(rc.PermissionGroups, g) }

// LoggingVerbose reports whether the connector writes a protocol log.
func (rc *ReceiveConnector) LoggingVerbose() bool {
	return strings.EqualFold(rc.ProtocolLoggingLevel, LoggingVerbose)
}

// Ranges returns remote_ip_ranges parsed. Validate caches them; for a
// connector that was not validated they are parsed here and invalid
// entries are skipped.
func (rc *ReceiveConnector) Ranges() []netrange.Range {
	if len(rc.ranges) == len(rc.RemoteIPRanges) && rc.ranges != nil {
		return rc.ranges
	}
	var out []netrange.Range
	for _, s := range rc.RemoteIPRanges {
		if r, err := netrange.Parse(s); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// ParsedBindings returns bindings parsed, like Ranges.
func (rc *ReceiveConnector) ParsedBindings() []netrange.Binding {
	if len(rc.bindings) == len(rc.Bindings) && rc.bindings != nil {
		return rc.bindings
	}
	var out []netrange.Binding
	for _, s := range rc.Bindings {
		if b, err := netrange.ParseBinding(s); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// IsEnabled reports whether the connector takes part (default true).
func (sc *SendConnector) IsEnabled() bool { return sc.Enabled == nil || *sc.Enabled }

// LoggingVerbose reports whether the connector writes a protocol log.
func (sc *SendConnector) LoggingVerbose() bool {
	return strings.EqualFold(sc.ProtocolLoggingLevel, LoggingVerbose)
}

// SmartHostAddresses returns the smart hosts as "host:port" dial
// addresses, with the connector's port where none is written. Empty means
// deliver by MX. Invalid entries (only possible without Validate) are
// skipped.
func (sc *SendConnector) SmartHostAddresses() []string {
	port := sc.Port
	if port == 0 {
		port = DefaultSMTPPort
	}
	var out []string
	for _, s := range sc.SmartHosts {
		host, p, err := domain.SplitHostPort(s, port)
		if err != nil {
			continue
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(p)))
	}
	return out
}

// Matches reports whether one of the connector's address spaces covers d
// (the rule of domain.AddressSpace.Matches).
func (sc *SendConnector) Matches(d string) bool {
	for _, a := range sc.AddressSpaces {
		if as, err := domain.ParseAddressSpace(a); err == nil && as.Matches(d) {
			return true
		}
	}
	return false
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}
