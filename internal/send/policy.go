package send

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// The per-destination TLS policy step.
//
// Before connecting to a target, Sender.Policy decides — in one place —
// what TLS the target requires and how its certificate is judged. Sources
// are consulted in order and the first that has a policy wins:
//
//  1. DANE (RFC 7672): DNSSEC-authentic TLSA records for the target, when
//     the connector's dane mode is not off and the resolver validates;
//  2. the Sender's PolicySources in order (MTA-STS plugs in here: DANE
//     wins over MTA-STS, RFC 8461 §2);
//  3. the connector's own policy (require_tls, tls_auth_level,
//     tls_domain).
//
// A source may also refuse a target before any connection (a bogus TLSA
// answer: 4.7.324 dnssec-invalid). Every policy outcome — the refusal, or
// the session's TLS result under the policy — is reported to the Sender's
// PolicyObserver (TLS-RPT records them).

// PolicyType is the TLS-RPT policy-type (RFC 8460 §4.3) of a policy.
type PolicyType string

// The policy types.
const (
	PolicyTLSA      PolicyType = "tlsa"
	PolicySTS       PolicyType = "sts"
	PolicyConnector PolicyType = "no-policy-found" // the connector's own settings: no DNS policy
)

// TLS-RPT result types (RFC 8460 §4.3) used in outcomes and refusals.
const (
	ResultStartTLSNotSupported    = "starttls-not-supported"
	ResultCertificateHostMismatch = "certificate-host-mismatch"
	ResultCertificateExpired      = "certificate-expired"
	ResultCertificateNotTrusted   = "certificate-not-trusted"
	ResultValidationFailure       = "validation-failure"
	ResultTLSAInvalid             = "tlsa-invalid"
	ResultDNSSECInvalid           = "dnssec-invalid"
	ResultDANERequired            = "dane-required"
)

// DANEMode is a send connector's dane setting.
type DANEMode int

const (
	// DANEOff never looks up TLSA records.
	DANEOff DANEMode = iota
	// DANEOpportunistic applies DANE where authentic TLSA records exist
	// (Postfix's "dane", what Exchange Online does).
	DANEOpportunistic
	// DANERequired delivers only to targets with authentic TLSA records
	// (Postfix's "dane-only").
	DANERequired
)

func (m DANEMode) String() string {
	switch m {
	case DANEOpportunistic:
		return "opportunistic"
	case DANERequired:
		return "required"
	}
	return "off"
}

// ParseDANEMode reads opportunistic, required or off (case ignored).
func ParseDANEMode(s string) (DANEMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "off":
		return DANEOff, nil
	case "opportunistic":
		return DANEOpportunistic, nil
	case "required":
		return DANERequired, nil
	}
	return DANEOff, fmt.Errorf("dane %q is not valid: use opportunistic, required or off", s)
}

// TargetPolicy is what one target requires, decided before connecting.
type TargetPolicy struct {
	Type PolicyType `json:"type"`
	// Domain is the policy domain: the recipient domain.
	Domain string `json:"domain"`
	// Strings are the policy as published: TLSA records in presentation
	// form (with their owner name) or MTA-STS policy lines.
	Strings []string `json:"strings,omitempty"`
	// RequireTLS: never continue in plaintext with this target.
	RequireTLS bool `json:"require_tls"`
	// Check is how the server's certificate is judged (Roots and Now are
	// filled in when connecting).
	Check tlscheck.Policy `json:"-"`
	// Enforce false is report-only (MTA-STS testing): failures are
	// reported but the connector's own policy decides the delivery.
	Enforce bool `json:"enforce"`
	// Refusal, when set, forbids connecting to this target at all.
	Refusal *Refusal `json:"refusal,omitempty"`
	// Note is a sentence for the protocol log and diagnostics.
	Note string `json:"note,omitempty"`
	// ServerName, when set, is the name sent in SNI instead of the host
	// name (DANE: the TLSA base domain after CNAME expansion).
	ServerName string `json:"server_name,omitempty"`
}

// Refusal is a policy's verdict that a target must not be used.
type Refusal struct {
	Status     string `json:"status"`      // "450 4.7.324 dnssec-invalid: …"
	Reason     string `json:"reason"`      // MSG=
	ResultType string `json:"result_type"` // TLS-RPT result type
	Message    string `json:"message"`
}

// PolicyRequest is what a PolicySource is asked.
type PolicyRequest struct {
	Connector Connector
	Domain    string // recipient domain
	Target    Target
	// FromMX: the target's host came from the domain's MX records (not a
	// smart host).
	FromMX bool
}

// PolicySource supplies a per-destination TLS policy other than DANE and
// the connector's own (MTA-STS). It returns nil when it has no policy for
// the request.
type PolicySource interface {
	Policy(ctx context.Context, req PolicyRequest) *TargetPolicy
}

// PolicyOutcome is one policy's result for one session, as TLS-RPT
// records it.
type PolicyOutcome struct {
	Time    time.Time  `json:"time"`
	Type    PolicyType `json:"policy_type"`
	Domain  string     `json:"policy_domain"`
	Strings []string   `json:"policy_strings,omitempty"`
	MXHost  string     `json:"mx_host"`
	// FromMX: the host came from the domain's MX records. Only those
	// sessions are the domain's to hear about (TLS-RPT); a smart host
	// relays for many domains.
	FromMX      bool   `json:"from_mx,omitempty"`
	ReceivingIP string `json:"receiving_ip,omitempty"`
	SendingIP   string `json:"sending_ip,omitempty"`
	Success     bool   `json:"success"`
	// ResultType is the RFC 8460 result type of a failure.
	ResultType string `json:"result_type,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

// PolicyObserver receives every policy outcome. It is called from
// delivery goroutines concurrently and must not block for long.
type PolicyObserver interface {
	PolicyOutcome(PolicyOutcome)
}

// Policy decides the TLS policy of target t for a delivery through c to
// domain: DANE, then the PolicySources, then the connector (see above).
// Diagnostics call it to report the policy a delivery would apply.
func (s *Sender) Policy(ctx context.Context, c Connector, domain string, t Target) TargetPolicy {
	if p, ok := s.danePolicy(ctx, c, domain, t); ok {
		return p
	}
	for _, src := range s.Policies {
		if p := src.Policy(ctx, PolicyRequest{Connector: c, Domain: domain, Target: t, FromMX: t.FromMX}); p != nil {
			if p.Domain == "" {
				p.Domain = domain
			}
			return *p
		}
	}
	return connectorPolicy(c, domain)
}

// connectorPolicy is the connector's own settings.
func connectorPolicy(c Connector, domain string) TargetPolicy {
	expected := c.TLSDomain
	if expected == "" {
		expected = domain
	}
	return TargetPolicy{
		Type: PolicyConnector, Domain: domain, RequireTLS: c.requireTLS(), Enforce: true,
		Check: tlscheck.Policy{Level: c.Level, ExpectedName: expected, Usage: x509.ExtKeyUsageServerAuth},
	}
}

// report sends an outcome to the observer, if any.
func (s *Sender) report(p TargetPolicy, t Target, local string, f *failure, resultType string) {
	if s.Observer == nil {
		return
	}
	o := PolicyOutcome{
		Time: s.now(), Type: p.Type, Domain: p.Domain, Strings: p.Strings, MXHost: t.Host, FromMX: t.FromMX,
		ReceivingIP: t.IP, SendingIP: hostOf(local), Success: f == nil && resultType == "",
		ResultType: resultType,
	}
	if f != nil {
		o.Detail = f.status + " " + f.message
	}
	s.Observer.PolicyOutcome(o)
}

// hostOf is the address of "ip:port" ("" stays "").
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// resultTypeOf maps a certificate verdict to a TLS-RPT result type.
func resultTypeOf(v tlscheck.Result) string {
	switch v.Reason {
	case tlscheck.TLSAInvalid:
		return ResultTLSAInvalid
	case tlscheck.CertificateHostMismatch, tlscheck.SubjectMismatch:
		return ResultCertificateHostMismatch
	case tlscheck.DANECertificateExpired, tlscheck.CertificateExpired, tlscheck.CertificateNotYetValid:
		return ResultCertificateExpired
	case tlscheck.UntrustedRoot, tlscheck.IncompleteChain:
		return ResultCertificateNotTrusted
	}
	return ResultValidationFailure
}

// failure is the delivery failure a refusal causes.
func (r *Refusal) failure() *failure {
	return deferred(r.Status, r.Reason, r.Message)
}

// logRefusal writes a refused target to the SmtpSend protocol log: no
// session was opened, so it is a session of its own with the remote
// address only.
func (s *Sender) logRefusal(c Connector, t Target, p TargetPolicy) {
	if !c.Log || s.Log == nil {
		return
	}
	log := s.Log.Session(c.Name, "", t.Addr())
	log.Info("", fmt.Sprintf("TLS policy (%s) for %s: %s [%s]", p.Type, t.Host, p.Refusal.Status, p.Refusal.Message))
	switch {
	case p.Type == PolicyTLSA && len(p.Strings) > 0:
		log.Info("", "TLSA records seen: "+TLSALines(p, 8))
	case p.Type == PolicySTS:
		log.Info("", "MTA-STS policy of "+p.Domain+": "+strings.Join(p.Strings, "; "))
	}
	log.Disconnect("Local")
}
