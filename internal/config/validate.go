package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/domain"
)

// validator collects problems for Validate.
type validator struct {
	c    *Config
	errs Errors
}

// add records a problem unless key (or a parent) already failed to decode:
// a value of the wrong type is reported once, not again as "missing".
func (v *validator) add(key, msg, fix string) {
	for k := key; k != ""; {
		if v.c.bad[k] {
			return
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	v.errs = append(v.errs, v.c.ErrorAt(key, msg, fix))
}

// join builds a child key.
func join(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

// Validate checks the structure and consistency of the configuration:
// every problem is returned at once, as Errors, each naming file, line, key
// and fix. It normalises enumerated values to their canonical spelling
// (tls → Tls) and caches parsed ranges and bindings. Files named in the
// configuration are not opened: that is for a Check.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.server()
	v.acceptedDomains()
	v.trust()
	v.certificates()
	v.receiveConnectors()
	v.sendConnectors()
	v.queue()
	v.limits()
	v.admin()
	v.tlsRPT()
	v.metrics()
	v.dns()
	return v.errs.err()
}

var serverName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

func (v *validator) server() {
	s := v.c.Server
	switch {
	case s.Name == "":
		v.add("server.name", "server name is missing",
			`add "name: SERVER1" under server: (the short name used in connector ids such as SERVER1\Default Frontend SERVER1)`)
	case !serverName.MatchString(s.Name):
		v.add("server.name", fmt.Sprintf("%q is not a server name", s.Name),
			"use letters, digits, hyphens and underscores only (up to 63), e.g. SERVER1")
	}
	if s.FQDN == "" {
		v.add("server.fqdn", "server fqdn is missing",
			"add \"fqdn: server1.contoso.com\" under server: (the name used in EHLO and, last, for certificate selection)")
	} else if p := domain.Problem(s.FQDN, false); p != "" {
		v.add("server.fqdn", fmt.Sprintf("%q is not a host name: %s", s.FQDN, p), "write a fully qualified host name such as server1.contoso.com")
	}
	if strings.TrimSpace(s.DataDir) == "" {
		v.add("server.data_dir", "data_dir is blank", "remove it for the default ./data or name a directory")
	}
}

func (v *validator) acceptedDomains() {
	seen := map[string]int{}
	for i, d := range v.c.AcceptedDomains {
		key := fmt.Sprintf("accepted_domains[%d]", i)
		if p := domain.Problem(d, true); p != "" {
			v.add(key, fmt.Sprintf("%q is not a domain: %s", d, p),
				"write a domain such as contoso.com, or *.contoso.com for the domain and all its subdomains")
			continue
		}
		lower := strings.ToLower(d)
		if first, dup := seen[lower]; dup {
			v.add(key, fmt.Sprintf("%s is listed twice (also accepted_domains[%d], line %d)", d, first, v.c.Line(fmt.Sprintf("accepted_domains[%d]", first))), "remove one")
			continue
		}
		seen[lower] = i
	}
}

func (v *validator) trust() {
	for i, f := range v.c.Trust.CAFiles {
		if strings.TrimSpace(f) == "" {
			v.add(fmt.Sprintf("trust.ca_files[%d]", i), "empty file name", "name a PEM file of CA certificates or remove the entry")
		}
	}
}

func (v *validator) certificates() {
	seen := map[string]int{}
	for i := range v.c.Certificates {
		ref := &v.c.Certificates[i]
		key := fmt.Sprintf("certificates[%d]", i)
		if ref.Key == "" {
			ref.Key = key
		}
		if ref.ACME.Enabled() {
			v.acme(key, ref)
		}
		if strings.TrimSpace(ref.File) == "" && ref.ACME.Enabled() {
			ref.File = filepath.Join(v.c.DataDir(), "acme", acmeFileName(ref.ACME)+".pem")
		}
		if strings.TrimSpace(ref.File) == "" {
			v.add(join(key, "file"), "certificate entry without file",
				"add \"file: certs/name.pem\" (PEM with chain and key) or a .pfx/.p12 with password_file")
			continue
		}
		resolved := v.c.Resolve(ref.File)
		if first, dup := seen[resolved]; dup {
			v.add(join(key, "file"), fmt.Sprintf("%s is listed twice (also certificates[%d], line %d)", ref.File, first, v.c.Line(fmt.Sprintf("certificates[%d]", first))), "remove one of the entries")
			continue
		}
		seen[resolved] = i
		ext := strings.ToLower(filepath.Ext(ref.File))
		if (ext == ".pfx" || ext == ".p12") && ref.KeyFile != "" {
			v.add(join(key, "key_file"), "a PFX file holds its own private key; key_file does not apply",
				"remove key_file (and give password_file if the PFX has a password)")
		}
	}
}

func (v *validator) queue() {
	q := v.c.Queue
	if len(q.RetryIntervals) == 0 {
		v.add("queue.retry_intervals", "the retry schedule is empty",
			"list at least one interval, e.g. [1m, 5m, 15m, 30m, 1h], or remove the key for that default")
	}
	for i, d := range q.RetryIntervals {
		if d <= 0 {
			v.add(fmt.Sprintf("queue.retry_intervals[%d]", i), fmt.Sprintf("retry interval %s is not positive", d), "use a positive duration such as 5m")
		}
	}
	v.positiveDuration("queue.expiry", q.Expiry, DefaultExpiry)
	v.positiveInt("queue.concurrency", q.Concurrency, DefaultConcurrency)
	v.positiveDuration("queue.lease", q.Lease, DefaultLease)
	switch q.Backend {
	case QueueBbolt, "":
		if q.DSN != "" || q.DSNFile != "" {
			key := "queue.dsn"
			if q.DSN == "" {
				key = "queue.dsn_file"
			}
			v.add(key, "a database connection is given but the queue backend is bbolt (one local file)",
				"add 'backend: postgres' to share the queue in PostgreSQL, or remove the key")
		}
	case QueuePostgres:
		if q.DSN != "" && q.DSNFile != "" {
			v.add("queue.dsn_file", "both dsn and dsn_file are given",
				"keep one: dsn_file (or the MAILFLOW_QUEUE_DSN environment variable) keeps the password out of this file")
		}
	default:
		v.add("queue.backend", fmt.Sprintf("%q is not a queue backend", q.Backend),
			"write bbolt (one node, the default) or postgres (a queue shared by several nodes)")
	}
}

func (v *validator) limits() {
	l := v.c.Limits
	if l.MaxMessageSize <= 0 {
		v.add("limits.max_message_size", fmt.Sprintf("max_message_size %s must be positive", l.MaxMessageSize),
			fmt.Sprintf("write a size such as 36MB, or remove the key for the default (%s)", DefaultMaxMessageSize))
	}
	v.positiveInt("limits.max_recipients", l.MaxRecipients, DefaultMaxRecipients)
	v.positiveInt("limits.max_connections_per_ip", l.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	v.positiveInt("limits.max_connections", l.MaxConnections, DefaultMaxConnections)
	v.positiveInt("limits.max_outbound_connections", l.MaxOutboundConnections, DefaultMaxOutboundConnections)
	v.positiveDuration("limits.read_timeout", l.ReadTimeout, DefaultReadTimeout)
	v.positiveDuration("limits.data_timeout", l.DataTimeout, DefaultDataTimeout)
	v.positiveInt("limits.max_protocol_errors", l.MaxProtocolErrors, DefaultMaxProtocolErrors)
	v.positiveDuration("limits.tls_handshake_timeout", l.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	v.positiveInt("limits.auth_failures_per_ip", l.AuthFailuresPerIP, DefaultAuthFailuresPerIP)
	v.positiveInt("limits.auth_failures_per_user", l.AuthFailuresPerUser, DefaultAuthFailuresPerUser)
	v.positiveDuration("limits.auth_failure_window", l.AuthFailureWindow, DefaultAuthFailureWindow)
	v.positiveDuration("limits.auth_lockout", l.AuthLockout, DefaultAuthLockout)
	v.positiveDuration("limits.auth_tarpit", l.AuthTarpit, DefaultAuthTarpit)
	v.positiveInt("limits.user_message_rate", l.UserMessageRate, DefaultUserMessageRate)
	if l.MaxConnectionsPerIP > l.MaxConnections && l.MaxConnections > 0 {
		v.add("limits.max_connections_per_ip", fmt.Sprintf("max_connections_per_ip (%d) is larger than max_connections (%d)", l.MaxConnectionsPerIP, l.MaxConnections),
			"lower max_connections_per_ip or raise max_connections")
	}
}

func (v *validator) positiveInt(key string, n, def int) {
	if n <= 0 {
		v.add(key, fmt.Sprintf("%d must be a positive number (there is no unlimited)", n),
			fmt.Sprintf("write a positive number, or remove the key for the default (%d)", def))
	}
}

func (v *validator) positiveDuration(key string, d, def Duration) {
	if d <= 0 {
		v.add(key, fmt.Sprintf("%s must be a positive duration", d),
			fmt.Sprintf("write a positive duration, or remove the key for the default (%s)", def))
	}
}

func (v *validator) metrics() {
	l := v.c.Metrics.Listen
	if l == "" {
		return
	}
	// Any address is allowed: the metrics say how much mail flows and which
	// certificates are presented, but change nothing and hold no secret.
	if _, err := ListenLoopback(l); err != nil {
		v.add("metrics.listen", err.Error(),
			`write "127.0.0.1:9125" (only Prometheus on this machine) or "0.0.0.0:9125"; remove the key to serve /metrics only on the admin listener`)
	}
}

func (v *validator) admin() {
	a := v.c.Admin
	if strings.EqualFold(a.Listen, "off") {
		return
	}
	loopback, err := ListenLoopback(a.Listen)
	if err != nil {
		v.add("admin.listen", err.Error(), `write "127.0.0.1:8025" (the default), "[::1]:8025", or off`)
		return
	}
	if loopback {
		return
	}
	if !a.AllowNonLoopback {
		v.add("admin.listen", fmt.Sprintf("%s is reachable from other machines; the admin API controls the whole server", a.Listen),
			"listen on 127.0.0.1 (or [::1]), or set allow_non_loopback: true together with tls_certificate_name")
	}
	if a.TLSCertificateName == "" {
		v.add("admin.tls_certificate_name", fmt.Sprintf("admin.listen %s is beyond loopback but no TLS certificate is set: the token would cross the network in clear", a.Listen),
			"set admin.tls_certificate_name to <I>issuer<S>subject of a certificate in certificates:, or a host name it covers")
	} else {
		v.certOrDomain("admin.tls_certificate_name", a.TLSCertificateName)
	}
}

// certOrDomain checks a value that may be an <I>…<S>… certificate name or
// a host name (optionally with a left-most wildcard).
func (v *validator) certOrDomain(key, s string) {
	if certs.IsCertificateName(s) {
		v.certName(key, s)
		return
	}
	if p := domain.Problem(s, true); p != "" {
		v.add(key, fmt.Sprintf("%q is neither <I>issuer<S>subject nor a host name: %s", s, p),
			"write a host name the certificate covers (mail.contoso.com, *.contoso.com) or <I>issuer<S>subject")
	}
}

// certName checks an optional "<I>issuer<S>subject" certificate name.
func (v *validator) certName(key, s string) {
	if s == "" {
		return
	}
	if p := certs.NameProblem(s); p != "" {
		v.add(key, fmt.Sprintf("%q is not a certificate name (<I>issuer<S>subject): %s", s, p), certNameFix)
	}
}

// connectorRef is a connector whose name uniqueConnectorName has taken.
type connectorRef struct{ name, key string }

// uniqueConnectorName checks a connector name and that no earlier connector
// of the same kind has it; Exchange compares names ignoring case. taken maps
// the lower-cased names seen so far to the connector that took each first.
func (v *validator) uniqueConnectorName(taken map[string]connectorRef, key, kind, name string) {
	if !v.connectorName(key, kind, name) {
		return
	}
	lower := strings.ToLower(name)
	other, dup := taken[lower]
	if !dup {
		taken[lower] = connectorRef{name: name, key: key}
		return
	}
	v.add(join(key, "name"), fmt.Sprintf("a %s named %q already exists (%s, line %d); names are compared ignoring case", kind, other.name, other.key, v.c.Line(other.key)),
		"give this connector another name")
}

// connectorName checks a connector name; Exchange limits names to 64
// characters, and the backslash separates server and connector in ids.
func (v *validator) connectorName(key, kind, name string) bool {
	switch {
	case strings.TrimSpace(name) == "":
		v.add(join(key, "name"), kind+" without a name", fmt.Sprintf("add \"name: …\" as the first key of the %s", kind))
		return false
	case len(name) > 64:
		v.add(join(key, "name"), fmt.Sprintf("the name %q is longer than 64 characters", name), "shorten it")
	case strings.ContainsAny(name, `\`) || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		v.add(join(key, "name"), fmt.Sprintf("the name %q contains a backslash or a control character", name),
			`remove it: the backslash separates server and connector in ids (SERVER1\Default Frontend SERVER1)`)
	case strings.TrimSpace(name) != name:
		v.add(join(key, "name"), fmt.Sprintf("the name %q starts or ends with spaces", name), "remove the spaces")
	}
	return true
}

// enumList checks and canonicalises a list of enumerated values in place.
func (v *validator) enumList(key, what string, list []string, values []string) {
	seen := map[string]bool{}
	for i, s := range list {
		k := fmt.Sprintf("%s[%d]", key, i)
		c, ok := canonical(s, values)
		if !ok {
			v.add(k, fmt.Sprintf("%q is not a%s %s", s, article(what), what), enumFix(s, values))
			continue
		}
		if seen[c] {
			v.add(k, fmt.Sprintf("%s is listed twice", c), "remove one")
		}
		seen[c] = true
		list[i] = c
	}
}

// enumValue checks and canonicalises one enumerated value.
func (v *validator) enumValue(key, what string, s *string, values []string) {
	c, ok := canonical(*s, values)
	if !ok {
		v.add(key, fmt.Sprintf("%q is not a%s %s", *s, article(what), what), enumFix(*s, values))
		return
	}
	*s = c
}

func article(what string) string {
	if strings.ContainsRune("aeiou", rune(what[0])) {
		return "n"
	}
	return ""
}
