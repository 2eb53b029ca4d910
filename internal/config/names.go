package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Values of receive connector auth_mechanism, as Exchange spells them.
const (
	AuthNone                  = "None"
	AuthTLS                   = "Tls"
	AuthExternalAuthoritative = "ExternalAuthoritative"
	AuthBasic                 = "BasicAuth"
	AuthBasicRequireTLS       = "BasicAuthRequireTLS"
	AuthIntegrated            = "Integrated"
	AuthExchangeServer        = "ExchangeServer"
)

// Values of receive connector permission_groups.
const (
	PermAnonymousUsers        = "AnonymousUsers"
	PermExchangeUsers         = "ExchangeUsers"
	PermExchangeServers       = "ExchangeServers"
	PermExchangeLegacyServers = "ExchangeLegacyServers"
	PermPartners              = "Partners"
	PermCustom                = "Custom"
)

// Values of receive connector connector_type (Exchange Online's inbound
// connector ConnectorType).
const (
	// ConnectorPartner: a client certificate (domain security) grants the
	// Partners group: mail to accepted domains. The default.
	ConnectorPartner = "Partner"
	// ConnectorOnPremises: the tenant's inbound connector from its own
	// on-premises servers. A client certificate holding
	// tls_sender_certificate_name attributes the session to the tenant and
	// lets it relay to any recipient; without it, mail for non-accepted
	// domains gets 550 5.7.64 TenantAttribution; Relay Access Denied.
	ConnectorOnPremises = "OnPremises"
)

// ConnectorTypes lists the accepted connector_type values.
func ConnectorTypes() []string { return []string{ConnectorPartner, ConnectorOnPremises} }

// Values of protocol_logging_level.
const (
	LoggingNone    = "None"
	LoggingVerbose = "Verbose"
)

// Values of send connector tls_auth_level.
const (
	EncryptionOnly        = "EncryptionOnly"
	CertificateValidation = "CertificateValidation"
	DomainValidation      = "DomainValidation"
)

// AuthMechanisms lists the accepted auth_mechanism values.
func AuthMechanisms() []string {
	return []string{AuthNone, AuthTLS, AuthExternalAuthoritative, AuthBasic, AuthBasicRequireTLS, AuthIntegrated, AuthExchangeServer}
}

// PermissionGroups lists the accepted permission_groups values.
func PermissionGroups() []string {
	return []string{PermAnonymousUsers, PermExchangeUsers, PermExchangeServers, PermExchangeLegacyServers, PermPartners, PermCustom}
}

// ProtocolLoggingLevels lists the accepted protocol_logging_level values.
func ProtocolLoggingLevels() []string { return []string{LoggingNone, LoggingVerbose} }

// TLSAuthLevels lists the accepted tls_auth_level values.
func TLSAuthLevels() []string {
	return []string{EncryptionOnly, CertificateValidation, DomainValidation}
}

// canonical finds v in values ignoring case (PowerShell is case-blind, and
// administrators paste from it) and returns the canonical spelling.
func canonical(v string, values []string) (string, bool) {
	for _, c := range values {
		if strings.EqualFold(strings.TrimSpace(v), c) {
			return c, true
		}
	}
	return "", false
}

// enumFix lists the accepted values, nearest first when there is one.
func enumFix(v string, values []string) string {
	list := strings.Join(values, ", ")
	if s := nearest(v, values); s != "" {
		return fmt.Sprintf("did you mean %s? Valid values: %s", s, list)
	}
	return "use one of: " + list
}

// domainProblem says what is wrong with a DNS name, or "" when it is
// fine. With wildcard, a left-most "*." label is allowed (and nowhere
// else, as Exchange TlsDomain and certificate matching require).
func domainProblem(s string, wildcard bool) string {
	if s == "" {
		return "it is empty"
	}
	if strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t") {
		return "it contains spaces"
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "it is an IP address, not a name"
	}
	if strings.HasSuffix(s, ".") {
		return "it ends with a dot"
	}
	name := s
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		if !wildcard {
			return "a wildcard is not allowed here"
		}
		name = rest
	}
	if len(name) > 253 {
		return "it is longer than 253 characters"
	}
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return "it has an empty label (two dots in a row, or a leading dot)"
		case label == "*" || strings.Contains(label, "*"):
			return "a wildcard is only allowed as the whole left-most label (*.contoso.com)"
		case len(label) > 63:
			return fmt.Sprintf("the label %q is longer than 63 characters", label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("the label %q starts or ends with a hyphen", label)
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			case r > 127:
				return "it has non-ASCII characters; write internationalised names in punycode (xn--…)"
			default:
				return fmt.Sprintf("it contains %q; names use letters, digits, hyphens and dots", r)
			}
		}
	}
	return ""
}

// certNameProblem is the quick syntax check of "<I>issuer<S>subject": both
// markers present (any case) in that order, both parts non-empty. The certs
// package does the real parsing.
func certNameProblem(s string) string {
	lower := strings.ToLower(s)
	i := strings.Index(lower, "<i>")
	j := strings.Index(lower, "<s>")
	switch {
	case i < 0 || j < 0:
		return "it must be <I>issuer<S>subject"
	case i != 0:
		return "it must start with <I>"
	case j < i:
		return "<I> must come before <S>"
	case strings.TrimSpace(s[i+3:j]) == "":
		return "the issuer after <I> is empty"
	case strings.TrimSpace(s[j+3:]) == "":
		return "the subject after <S> is empty"
	}
	return ""
}

const certNameFix = `write "<I>" + the issuer + "<S>" + the subject, as Exchange builds it: "<I>$($cert.Issuer)<S>$($cert.Subject)", e.g. "<I>CN=Contoso Lab CA<S>CN=mail.contoso.com"; leave it empty to select by fqdn`

// SplitSmartHost splits "host", "host:port", "[IPv6]:port" or a bare IPv6
// address into host and port, using defaultPort when none is written.
func SplitSmartHost(s string, defaultPort int) (host string, port int, err error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", 0, fmt.Errorf("empty smart host")
	}
	if a, err := netip.ParseAddr(t); err == nil {
		if a.Zone() != "" {
			return "", 0, fmt.Errorf("%q: zones are not allowed", s)
		}
		return a.String(), defaultPort, nil
	}
	if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
		a, err := netip.ParseAddr(t[1 : len(t)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", 0, fmt.Errorf("%q: brackets must hold an IPv6 address", s)
		}
		return a.String(), defaultPort, nil
	}
	host, portText := t, ""
	if strings.Contains(t, ":") {
		h, p, err := net.SplitHostPort(t)
		if err != nil {
			return "", 0, fmt.Errorf("%q is not host or host:port", s)
		}
		host, portText = h, p
	}
	port = defaultPort
	if portText != "" {
		n, err := strconv.Atoi(portText)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("%q: the port %q is not a number from 1 to 65535", s, portText)
		}
		port = n
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return "", 0, fmt.Errorf("%q: zones are not allowed", s)
		}
		return a.String(), port, nil
	}
	if p := domainProblem(host, false); p != "" {
		return "", 0, fmt.Errorf("%q: host %q: %s", s, host, p)
	}
	return host, port, nil
}

// addressSpaceProblem checks a send connector address space: "*", a
// domain, or "*.domain" (the domain and all its subdomains).
func addressSpaceProblem(s string) string {
	if s == "*" {
		return ""
	}
	return domainProblem(s, true)
}

// MatchDomain reports whether domain falls under pattern: equal ignoring
// case, "*" for everything, or "*.contoso.com" for contoso.com and every
// subdomain (Exchange address-space and accepted-domain semantics).
func MatchDomain(pattern, domain string) bool {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	pattern = strings.ToLower(pattern)
	if pattern == "*" {
		return true
	}
	if base, ok := strings.CutPrefix(pattern, "*."); ok {
		return domain == base || strings.HasSuffix(domain, "."+base)
	}
	return domain == pattern
}
