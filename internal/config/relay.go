package config

import (
	"fmt"

	"github.com/mailflowhq/mailflow/internal/netrange"
)

// RelaysForAll reports whether clients on this connector may send to any
// recipient, accepted domain or not: anonymous_relay, or the Exchange
// pattern of ExternalAuthoritative with ExchangeServers, which treats every
// client as an authenticated Exchange server.
func (rc *ReceiveConnector) RelaysForAll() bool {
	return rc.AnonymousRelay || (rc.HasAuth(AuthExternalAuthoritative) && rc.HasPermission(PermExchangeServers))
}

// CoversInternet reports whether remote_ip_ranges together hold every
// IPv4 address or every IPv6 address, however they are split up.
func (rc *ReceiveConnector) CoversInternet() bool {
	rs := rc.Ranges()
	return netrange.Covers(rs, netrange.All4) || netrange.Covers(rs, netrange.All6)
}

// OpenRelay reports whether anyone on the internet can relay through the
// connector. The brief rule is "relays for all, covers the internet, and
// admits anonymous clients"; with ExternalAuthoritative every client counts
// as an Exchange server whatever permission_groups says, so admitting
// AnonymousUsers is not needed for the connector to be open.
func (rc *ReceiveConnector) OpenRelay() bool {
	return rc.RelaysForAll() && rc.CoversInternet()
}

// relayReason says why the connector relays for everyone.
func (rc *ReceiveConnector) relayReason() string {
	if rc.AnonymousRelay {
		return "anonymous_relay: true"
	}
	return "auth_mechanism ExternalAuthoritative with permission group ExchangeServers"
}

// OpenRelayWarnings returns one loud line for every enabled receive
// connector that relays for any recipient, even when allowed: start-up logs
// them so such a connector never goes unnoticed.
func (c *Config) OpenRelayWarnings() []string {
	var out []string
	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		if !rc.IsEnabled() || !rc.RelaysForAll() {
			continue
		}
		where := c.ErrorAt(rc.Key, "", "")
		loc := where.File
		if where.Line > 0 {
			loc = fmt.Sprintf("%s:%d", where.File, where.Line)
		}
		if rc.OpenRelay() {
			out = append(out, fmt.Sprintf("%s: OPEN RELAY: receive connector %q relays mail to any recipient for ANY address on the internet (%s, remote_ip_ranges %v, allow_open_relay: true); anyone can send spam through this server",
				loc, rc.Name, rc.relayReason(), rc.RemoteIPRanges))
			continue
		}
		out = append(out, fmt.Sprintf("%s: receive connector %q relays mail to any recipient for clients in %v (%s); make sure only trusted hosts are in those ranges",
			loc, rc.Name, rc.RemoteIPRanges, rc.relayReason()))
	}
	return out
}

var loopback = []netrange.Range{netrange.MustParse("127.0.0.0/8"), netrange.MustParse("::1/128")}

// BasicAuthInClear reports whether the connector would accept a password
// over an unencrypted connection from an address beyond loopback: BasicAuth
// without BasicAuthRequireTLS, and a remote range outside 127.0.0.0/8 and ::1.
func (rc *ReceiveConnector) BasicAuthInClear() bool {
	if !rc.HasAuth(AuthBasic) || rc.HasAuth(AuthBasicRequireTLS) {
		return false
	}
	for _, r := range rc.Ranges() {
		inside := false
		for _, lo := range loopback {
			if lo.ContainsRange(r) {
				inside = true
			}
		}
		if !inside {
			return true
		}
	}
	return false
}

// BasicAuthWarnings returns one line for every enabled receive connector
// that takes passwords in clear text beyond loopback because
// allow_basic_auth_without_tls is set: start-up logs them, as it logs
// relay connectors.
func (c *Config) BasicAuthWarnings() []string {
	var out []string
	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		if !rc.IsEnabled() || !rc.BasicAuthInClear() {
			continue
		}
		where := c.ErrorAt(rc.Key, "", "")
		loc := where.File
		if where.Line > 0 {
			loc = fmt.Sprintf("%s:%d", where.File, where.Line)
		}
		out = append(out, fmt.Sprintf("%s: CLEAR-TEXT PASSWORDS: receive connector %q accepts SMTP AUTH without TLS from %v (allow_basic_auth_without_tls: true); anyone on the path can read the passwords",
			loc, rc.Name, rc.RemoteIPRanges))
	}
	return out
}
