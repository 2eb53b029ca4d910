package config

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/mailflowhq/mailflow/internal/domain"
)

func (v *validator) sendConnectors() {
	taken := map[string]connectorRef{}
	for i := range v.c.SendConnectors {
		sc := &v.c.SendConnectors[i]
		if sc.Key == "" {
			sc.Key = fmt.Sprintf("send_connectors[%d]", i)
		}
		v.uniqueConnectorName(taken, sc.Key, "send connector", sc.Name)
		v.sendConnector(sc)
	}
}

func (v *validator) sendConnector(sc *SendConnector) {
	key := sc.Key
	if len(sc.AddressSpaces) == 0 {
		v.add(join(key, "address_spaces"), fmt.Sprintf("send connector %q has no address spaces, so no mail is routed to it", sc.Name),
			`add address_spaces: ["contoso.com"] (or "*.contoso.com" with subdomains, "*" for everything)`)
	}
	for i, a := range sc.AddressSpaces {
		if _, err := domain.ParseAddressSpace(a); err != nil {
			v.add(fmt.Sprintf("%s.address_spaces[%d]", key, i), fmt.Sprintf("%q is not an address space: %v", a, err),
				`write "*" (all domains), a domain (contoso.com), "*.contoso.com" (the domain and its subdomains) or the Exchange form "SMTP:*.contoso.com;1"`)
		}
	}
	for i, h := range sc.SmartHosts {
		if _, _, err := domain.SplitHostPort(h, DefaultSMTPPort); err != nil {
			v.add(fmt.Sprintf("%s.smart_hosts[%d]", key, i), err.Error(),
				`write a host name or IP, optionally with a port: "mail.contoso.com", "192.0.2.10:2525", "[192.0.2.10]:2525", "[2001:db8::25]:25"`)
		}
	}
	if sc.Port < 1 || sc.Port > 65535 {
		v.add(join(key, "port"), fmt.Sprintf("port %d is not from 1 to 65535", sc.Port), "write a port such as 25, or remove the key for 25")
	}
	if p := domain.Problem(sc.FQDN, false); p != "" && sc.FQDN != "" {
		v.add(join(key, "fqdn"), fmt.Sprintf("%q is not a host name: %s", sc.FQDN, p),
			"write the name sent in EHLO, e.g. mail.contoso.com")
	}

	if sc.TLSAuthLevel != "" {
		v.enumValue(join(key, "tls_auth_level"), "TLS authentication level", &sc.TLSAuthLevel, TLSAuthLevels())
		if !sc.RequireTLS {
			v.add(join(key, "tls_auth_level"), "tls_auth_level only applies with require_tls: true (as on Exchange)",
				"set require_tls: true, or remove tls_auth_level")
		}
	}
	if sc.TLSDomain != "" {
		if p := domain.Problem(sc.TLSDomain, true); p != "" {
			v.add(join(key, "tls_domain"), fmt.Sprintf("%q is not a TLS domain: %s", sc.TLSDomain, p),
				"write the name the peer certificate must hold: mail.contoso.com, or *.contoso.com (a wildcard only as the left-most label)")
		}
		if !strings.EqualFold(sc.TLSAuthLevel, DomainValidation) {
			v.add(join(key, "tls_domain"), "tls_domain is only checked with tls_auth_level DomainValidation",
				"set require_tls: true and tls_auth_level: DomainValidation, or remove tls_domain")
		}
	}
	v.certName(join(key, "tls_certificate_name"), sc.TLSCertificateName)
	if sc.SourceIP != "" {
		a, err := netip.ParseAddr(strings.TrimSpace(sc.SourceIP))
		if err != nil || a.Zone() != "" || a.IsUnspecified() {
			v.add(join(key, "source_ip"), fmt.Sprintf("%q is not a local IP address", sc.SourceIP),
				"write an address of this machine to send from, e.g. 127.0.0.2, or remove source_ip")
		}
	}
	v.enumValue(join(key, "protocol_logging_level"), "protocol logging level", &sc.ProtocolLoggingLevel, ProtocolLoggingLevels())
	v.positiveDuration(join(key, "connect_timeout"), sc.ConnectTimeout, DefaultConnectTimeout)
	v.positiveInt(join(key, "max_messages_per_connection"), sc.MaxMessagesPerConnection, DefaultMaxMessagesPerConnection)
	v.positiveInt(join(key, "max_per_domain_connections"), sc.MaxPerDomainConnections, DefaultMaxPerDomainConnections)
	v.positiveDuration(join(key, "connection_idle_timeout"), sc.ConnectionIdleTimeout, DefaultConnectionIdleTimeout)
	v.enumValue(join(key, "mta_sts"), "policy mode for MTA-STS", &sc.MTASTS, MTASTSModes())
	v.sendConnectorDANE(sc)
}
