package send

import (
	"fmt"

	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// REQUIRETLS (RFC 8689) and the TLS-Required: No header field, as the
// sender honours them.
//
// A message sent with MAIL FROM … REQUIRETLS goes only to a next hop whose
// TLS policy came from DNS securely — DANE (DNSSEC-authenticated TLSA) or
// MTA-STS, a testing-mode MTA-STS policy being enforced for such a message
// (RFC 8689 §4.2.1) — or to a smart host named in the configuration whose
// certificate the connector validates by name (tls_auth_level
// DomainValidation): the administrator's configuration is as trustworthy
// a source of the name as DNSSEC. The session must be encrypted, the
// certificate valid under that policy, and the next hop must offer
// REQUIRETLS itself; the flag is passed on in MAIL FROM. A host that fails
// any of this is skipped; when no host qualifies the message is returned
// with 550 5.7.30 REQUIRETLS support required.
//
// A message with "TLS-Required: No" (and without REQUIRETLS) is delivered
// despite DANE and MTA-STS failures (RFC 8689 §5): their verdicts are still
// reported (TLS-RPT), and the connector's own TLS settings decide.

// StatusRequireTLS is the status RFC 8689 registers for a REQUIRETLS
// message that cannot be relayed securely.
const (
	StatusRequireTLS = "550 5.7.30 REQUIRETLS support required"
	ReasonRequireTLS = "RequireTlsNotSupported"
)

func requireTLSFailure(message string) *failure {
	return &failure{status: StatusRequireTLS, reason: ReasonRequireTLS, message: message, outcome: outcome.Failed, ours: true}
}

// dnsPolicy reports whether p came from DNS (DANE or MTA-STS).
func (p TargetPolicy) dnsPolicy() bool { return p.Type == PolicyTLSA || p.Type == PolicySTS }

// adjustPolicy applies the message's own TLS demands to a target's policy.
func (m Message) adjustPolicy(c Connector, p TargetPolicy) TargetPolicy {
	switch {
	case m.RequireTLS && p.dnsPolicy():
		p.Enforce, p.RequireTLS = true, true
	case m.RequireTLS:
		p.RequireTLS = true
	case m.TLSOptional && p.dnsPolicy():
		p.Enforce, p.RequireTLS = false, c.requireTLS()
		p.Note += " — the message has TLS-Required: No, so a failure is reported but does not stop the delivery"
	}
	return p
}

// requireTLSPolicyFailure refuses, before connecting, a target a
// REQUIRETLS message may not go to.
func requireTLSPolicyFailure(m Message, c Connector, t Target, p TargetPolicy) *failure {
	if !m.RequireTLS || p.dnsPolicy() {
		return nil
	}
	if !t.FromMX && len(c.Hosts) > 0 && c.Level == tlscheck.DomainValidation {
		return nil
	}
	return requireTLSFailure(fmt.Sprintf("the message was sent with REQUIRETLS and %s is protected by neither DANE (DNSSEC-authenticated TLSA records) nor an MTA-STS policy", t.Host))
}

// requireTLSSessionFailure checks a ready connection for a REQUIRETLS
// message: encrypted, and the next hop offers REQUIRETLS.
func requireTLSSessionFailure(cn *Connection) *failure {
	if cn.TLS == nil || cn.TLS.VersionID == 0 {
		return requireTLSFailure(fmt.Sprintf("the message was sent with REQUIRETLS and the session with %s is not encrypted", cn.Target.Host))
	}
	if _, ok := cn.TLSExtensions["REQUIRETLS"]; !ok {
		return requireTLSFailure(fmt.Sprintf("the message was sent with REQUIRETLS and %s does not offer REQUIRETLS after STARTTLS", cn.Target.Host))
	}
	return nil
}
