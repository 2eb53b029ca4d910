package receive

import (
	"strings"

	"github.com/mailflowhq/mailflow/internal/config"
)

// Permissions are the rights a session holds, named as Exchange names them
// in its "Set Session Permissions" protocol-log line.
type Permissions uint32

const (
	PermSubmit                 Permissions = 1 << iota // ms-Exch-SMTP-Submit
	PermAcceptAnyRecipient                             // ms-Exch-SMTP-Accept-Any-Recipient: relay
	PermAcceptAnySender                                // ms-Exch-SMTP-Accept-Any-Sender
	PermAcceptAuthoritativeDom                         // ms-Exch-SMTP-Accept-Authoritative-Domain-Sender
	PermBypassAntiSpam                                 // ms-Exch-Bypass-Anti-Spam
	PermBypassMessageSizeLimit                         // ms-Exch-Bypass-Message-Size-Limit
	PermAcceptRoutingHeaders                           // ms-Exch-Accept-Headers-Routing
)

var permNames = []struct {
	p    Permissions
	name string
}{
	{PermSubmit, "SMTPSubmit"},
	{PermAcceptAnyRecipient, "SMTPAcceptAnyRecipient"},
	{PermAcceptAnySender, "SMTPAcceptAnySender"},
	{PermAcceptAuthoritativeDom, "SMTPAcceptAuthoritativeDomainSender"},
	{PermBypassAntiSpam, "BypassAntiSpam"},
	{PermBypassMessageSizeLimit, "BypassMessageSizeLimit"},
	{PermAcceptRoutingHeaders, "AcceptRoutingHeaders"},
}

// String lists the permissions space-separated, as Exchange logs them.
func (p Permissions) String() string {
	var names []string
	for _, n := range permNames {
		if p&n.p != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "None"
	}
	return strings.Join(names, " ")
}

// Has reports whether all of q are granted.
func (p Permissions) Has(q Permissions) bool { return p&q == q }

const anonymous = PermSubmit | PermAcceptAnySender | PermAcceptAuthoritativeDom | PermAcceptRoutingHeaders

// basePermissions are granted to every session on the connector before
// TLS: what AnonymousUsers, ExchangeServers with ExternalAuthoritative and
// anonymous_relay give.
func basePermissions(rc *config.ReceiveConnector) Permissions {
	var p Permissions
	if rc.HasPermission(config.PermAnonymousUsers) {
		p |= anonymous
		if rc.AnonymousRelay {
			p |= PermAcceptAnyRecipient
		}
	}
	// ExternalAuthoritative: the connection is secured outside SMTP (a
	// trusted network), so the ExchangeServers group applies to every
	// sender in the connector's ranges: the classic relay connector.
	if rc.HasAuth(config.AuthExternalAuthoritative) && rc.HasPermission(config.PermExchangeServers) {
		p |= PermSubmit | PermAcceptAnyRecipient | PermAcceptAnySender | PermAcceptAuthoritativeDom |
			PermBypassAntiSpam | PermBypassMessageSizeLimit | PermAcceptRoutingHeaders
	}
	return p
}

// partnerPermissions are added once a domain-secure peer's certificate has
// been verified: Partners may send to accepted domains.
func partnerPermissions(rc *config.ReceiveConnector) Permissions {
	if rc.HasPermission(config.PermPartners) {
		return PermSubmit | PermAcceptAnySender | PermAcceptRoutingHeaders
	}
	return 0
}

// onPremisesPermissions are granted on an OnPremises connector once the
// client certificate holds tls_sender_certificate_name: the tenant's own
// servers relay to any recipient.
const onPremisesPermissions = PermSubmit | PermAcceptAnyRecipient | PermAcceptAnySender | PermAcceptRoutingHeaders

// RelayDescription says, for `connector list`, who the connector relays for.
func RelayDescription(rc *config.ReceiveConnector) string {
	p := basePermissions(rc)
	if !p.Has(PermAcceptAnyRecipient) {
		before := "nothing before it"
		if p.Has(PermSubmit) {
			before = "accepted domains only before it"
		}
		switch {
		case rc.ConnectorType == config.ConnectorOnPremises:
			return "any recipient for senders whose client certificate holds " + rc.TLSSenderCertificateName + " (OnPremises); otherwise " +
				strings.Replace(before, " before it", "", 1) + " (550 5.7.64 TenantAttribution)"
		case rc.HasPermission(config.PermExchangeUsers) && rc.HasAuth(config.AuthBasic):
			return "any recipient after SMTP AUTH (ExchangeUsers); " + before
		}
		if p.Has(PermSubmit) || rc.HasPermission(config.PermPartners) {
			return "accepted domains only"
		}
		return "nobody (no permission group grants submit)"
	}
	ranges := strings.Join(rc.RemoteIPRanges, ", ")
	why := "anonymous_relay"
	if rc.HasAuth(config.AuthExternalAuthoritative) && rc.HasPermission(config.PermExchangeServers) {
		why = "ExternalAuthoritative + ExchangeServers"
	}
	if rc.OpenRelay() {
		return "ANY recipient from ANY address (" + why + ", allow_open_relay) — open relay"
	}
	return "any recipient from " + ranges + " (" + why + ")"
}
