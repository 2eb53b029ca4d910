package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mailflowhq/mailflow/internal/domain"
	"github.com/mailflowhq/mailflow/internal/netrange"
)

func (v *validator) receiveConnectors() {
	taken := map[string]connectorRef{}
	for i := range v.c.ReceiveConnectors {
		rc := &v.c.ReceiveConnectors[i]
		if rc.Key == "" {
			rc.Key = fmt.Sprintf("receive_connectors[%d]", i)
		}
		v.uniqueConnectorName(taken, rc.Key, "receive connector", rc.Name)
		v.receiveConnector(rc)
	}
	v.bindingConflicts()
}

func (v *validator) receiveConnector(rc *ReceiveConnector) {
	key := rc.Key

	rc.bindings = make([]netrange.Binding, 0, len(rc.Bindings))
	if len(rc.Bindings) == 0 {
		v.add(join(key, "bindings"), fmt.Sprintf("receive connector %q has no bindings, so it never receives anything", rc.Name),
			`add bindings: ["0.0.0.0:25"] (all IPv4 addresses, port 25) or a specific "IP:port"`)
	}
	for i, s := range rc.Bindings {
		b, err := netrange.ParseBinding(s)
		if err != nil {
			msg := err.Error()
			var be *netrange.BindingError
			if errors.As(err, &be) {
				msg = fmt.Sprintf("%q is not a binding: %s", s, be.Reason)
			}
			v.add(fmt.Sprintf("%s.bindings[%d]", key, i), msg, netrange.BindingForms())
			continue
		}
		rc.bindings = append(rc.bindings, b)
	}

	rc.ranges = make([]netrange.Range, 0, len(rc.RemoteIPRanges))
	if len(rc.RemoteIPRanges) == 0 {
		v.add(join(key, "remote_ip_ranges"), "remote_ip_ranges is empty, so no client can ever use this connector",
			`list the client addresses, e.g. ["192.0.2.0/24"], or remove the key for every address`)
	}
	for i, s := range rc.RemoteIPRanges {
		r, err := netrange.Parse(s)
		if err != nil {
			msg := err.Error()
			var pe *netrange.ParseError
			if errors.As(err, &pe) {
				msg = fmt.Sprintf("%q is not an IP range: %s", s, pe.Reason)
			}
			v.add(fmt.Sprintf("%s.remote_ip_ranges[%d]", key, i), msg, netrange.Forms())
			continue
		}
		rc.ranges = append(rc.ranges, r)
	}

	if p := domain.Problem(rc.FQDN, false); p != "" && rc.FQDN != "" {
		v.add(join(key, "fqdn"), fmt.Sprintf("%q is not a host name: %s", rc.FQDN, p),
			"write the name this connector answers as, e.g. mail.contoso.com (it is in the banner, EHLO reply and certificate selection)")
	}

	v.enumList(join(key, "auth_mechanism"), "auth mechanism", rc.AuthMechanism, AuthMechanisms())
	v.enumList(join(key, "permission_groups"), "permission group", rc.PermissionGroups, PermissionGroups())
	v.enumValue(join(key, "protocol_logging_level"), "protocol logging level", &rc.ProtocolLoggingLevel, ProtocolLoggingLevels())
	v.enumValue(join(key, "connector_type"), "connector type", &rc.ConnectorType, ConnectorTypes())
	if rc.ConnectorType == ConnectorOnPremises {
		if !rc.HasAuth(AuthTLS) {
			v.add(join(key, "connector_type"), "connector_type OnPremises recognises the sender by its client certificate, which needs Tls in auth_mechanism",
				"add Tls to auth_mechanism")
		}
		if rc.TLSSenderCertificateName == "" {
			v.add(join(key, "tls_sender_certificate_name"), "connector_type OnPremises needs tls_sender_certificate_name: the name the on-premises server's certificate must hold",
				"set tls_sender_certificate_name to a name in the on-premises send connector's certificate, e.g. mail.contoso.com or *.contoso.com")
		}
	}

	if rc.HasAuth(AuthNone) && len(rc.AuthMechanism) > 1 {
		v.add(join(key, "auth_mechanism"), "None cannot be combined with other mechanisms",
			"keep only None, or remove it and keep the others")
	}
	if rc.HasAuth(AuthBasicRequireTLS) && (!rc.HasAuth(AuthBasic) || !rc.HasAuth(AuthTLS)) {
		v.add(join(key, "auth_mechanism"), "BasicAuthRequireTLS needs both BasicAuth and Tls",
			"add BasicAuth and Tls to auth_mechanism, or remove BasicAuthRequireTLS")
	}
	if rc.HasAuth(AuthExternalAuthoritative) && !rc.HasPermission(PermExchangeServers) {
		v.add(join(key, "auth_mechanism"), "ExternalAuthoritative requires the ExchangeServers permission group (as on Exchange)",
			"add ExchangeServers to permission_groups, or remove ExternalAuthoritative")
	}

	v.certName(join(key, "tls_certificate_name"), rc.TLSCertificateName)
	if rc.RequireTLS && !rc.HasAuth(AuthTLS) {
		v.add(join(key, "require_tls"), "require_tls is set but auth_mechanism lacks Tls, so STARTTLS is never offered and every message would be refused",
			"add Tls to auth_mechanism, or set require_tls: false")
	}
	if rc.DomainSecureEnabled && !rc.HasAuth(AuthTLS) {
		v.add(join(key, "domain_secure_enabled"), "domain_secure_enabled needs Tls in auth_mechanism (mutual TLS runs inside STARTTLS)",
			"add Tls to auth_mechanism, or set domain_secure_enabled: false")
	}
	if rc.DomainSecureEnabled && rc.TLSSenderCertificateName == "" {
		v.add(join(key, "tls_sender_certificate_name"), "domain_secure_enabled is set but tls_sender_certificate_name is empty, so no client certificate can be accepted",
			"set tls_sender_certificate_name to the domain in the partner's certificate (e.g. mail.protection.outlook.com), or set domain_secure_enabled: false")
	}
	if rc.TLSSenderCertificateName != "" {
		v.certOrDomain(join(key, "tls_sender_certificate_name"), rc.TLSSenderCertificateName)
	}

	if rc.MaxMessageSize <= 0 {
		v.add(join(key, "max_message_size"), fmt.Sprintf("max_message_size %s must be positive", rc.MaxMessageSize),
			"write a size such as 36MB, or remove the key to use limits.max_message_size")
	}
	if rc.MaxRecipientsPerMessage <= 0 {
		v.add(join(key, "max_recipients_per_message"), fmt.Sprintf("max_recipients_per_message %d must be positive", rc.MaxRecipientsPerMessage),
			"write a positive number, or remove the key to use limits.max_recipients")
	}

	if rc.BasicAuthInClear() && !rc.AllowBasicAuthWithoutTLS {
		v.add(join(key, "auth_mechanism"),
			fmt.Sprintf("receive connector %q accepts BasicAuth without BasicAuthRequireTLS from %v, beyond loopback: passwords would cross the network in clear text", rc.Name, rc.RemoteIPRanges),
			"add Tls and BasicAuthRequireTLS to auth_mechanism (AUTH is then offered only after STARTTLS); if the clients really cannot use TLS, set allow_basic_auth_without_tls: true")
	}
	if rc.OpenRelay() && !rc.AllowOpenRelay {
		v.add(join(key, "remote_ip_ranges"),
			fmt.Sprintf("receive connector %q is an open relay: it relays to any recipient (%s) and remote_ip_ranges %v cover the whole internet", rc.Name, rc.relayReason(), rc.RemoteIPRanges),
			"narrow remote_ip_ranges to the hosts allowed to relay (e.g. 192.0.2.10/32); if you really want an open relay, set allow_open_relay: true")
	}
}

// bindingConflicts applies Exchange's rule to enabled connectors: two
// connectors on the same IP:port must differ in remote_ip_ranges, and their
// ranges may overlap only if one contains the other, so that "most specific
// range wins" always has one answer. Disabled connectors take no part in
// selection; enabling one re-runs this check.
func (v *validator) bindingConflicts() {
	rcs := v.c.ReceiveConnectors
	for i := range rcs {
		for j := i + 1; j < len(rcs); j++ {
			a, b := &rcs[i], &rcs[j]
			if !a.IsEnabled() || !b.IsEnabled() {
				continue
			}
			shared, ok := sharedBinding(a.bindings, b.bindings)
			if !ok {
				continue
			}
			v.rangeConflicts(a, b, shared)
		}
	}
}

func sharedBinding(as, bs []netrange.Binding) (netrange.Binding, bool) {
	for _, x := range as {
		for _, y := range bs {
			if x.SameEndpoint(y) {
				return y, true
			}
		}
	}
	return netrange.Binding{}, false
}

// rangeConflicts reports each conflicting range of b (the later connector)
// against a. Validate fills the parsed ranges in file order, so indexes are
// recovered by text.
func (v *validator) rangeConflicts(a, b *ReceiveConnector, shared netrange.Binding) {
	for _, rb := range b.ranges {
		for _, ra := range a.ranges {
			key := rangeKey(b, rb)
			switch {
			case ra.SameAddresses(rb):
				v.add(key, fmt.Sprintf("receive connectors %q and %q (line %d) both bind %s with the same remote IP range %s, so a connection from there matches both",
					b.Name, a.Name, v.c.Line(a.Key), shared, rb),
					"give one of them a narrower or different remote_ip_ranges entry or another binding, or disable one (enabled: false)")
			case ra.Overlaps(rb) && !ra.ContainsRange(rb) && !rb.ContainsRange(ra):
				v.add(key, fmt.Sprintf("remote IP range %s overlaps %s of receive connector %q (line %d) on the same binding %s, and neither contains the other",
					rb, ra, a.Name, v.c.Line(a.Key), shared),
					"make one range contain the other (the most specific range wins) or make them disjoint")
			}
		}
	}
}

func rangeKey(rc *ReceiveConnector, r netrange.Range) string {
	for i, s := range rc.RemoteIPRanges {
		if strings.TrimSpace(s) == r.Text {
			return fmt.Sprintf("%s.remote_ip_ranges[%d]", rc.Key, i)
		}
	}
	return join(rc.Key, "remote_ip_ranges")
}
