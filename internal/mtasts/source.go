package mtasts

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Status and reason of a delivery MTA-STS refuses (an MX host its
// enforce-mode policy does not list). Certificate failures under a policy
// are the sender's 450 4.7.320 with tlscheck's reason.
const (
	StatusMXNotAllowed = "450 4.7.5 MX host not allowed by the domain's MTA-STS policy"
	ReasonMXNotAllowed = "MtaStsMxMismatch"
)

// Source is MTA-STS as a per-destination TLS policy of the sender
// (send.PolicySource). The sender consults it after DANE, so a domain with
// DNSSEC-authentic TLSA records for its MX is judged by DANE (RFC 8461 §2).
type Source struct {
	Client *Client
	// Observer receives the failures to obtain a policy (TLS-RPT's
	// sts-policy-fetch-error and friends); sessions under a policy are
	// reported by the sender itself.
	Observer send.PolicyObserver
}

// Policy implements send.PolicySource: for an MX host of a domain with an
// MTA-STS policy in mode enforce or testing, TLS with a certificate valid
// for the MX host name (WebPKI: the sender's trust store) and an MX host
// the policy lists. Testing mode is report-only. Smart hosts and connectors
// with mta_sts: off get no MTA-STS policy.
func (s *Source) Policy(ctx context.Context, req send.PolicyRequest) *send.TargetPolicy {
	if s == nil || s.Client == nil || !req.Connector.MTASTS || !req.FromMX || req.Domain == "" {
		return nil
	}
	r := s.Client.Lookup(ctx, req.Domain)
	if r.Err != nil {
		s.reportFetchError(r, req)
		return nil
	}
	if !r.Applies() {
		return nil
	}
	return TargetPolicy(r, req.Target.Host)
}

// TargetPolicy is what policy result r requires of MX host host: the send
// step's policy, and the probe's account of it.
func TargetPolicy(r Result, host string) *send.TargetPolicy {
	host = strings.TrimSuffix(host, ".")
	enforce := r.Policy.Mode == ModeEnforce
	p := &send.TargetPolicy{
		Type: send.PolicySTS, Domain: r.Domain, Strings: r.Policy.Strings(),
		RequireTLS: enforce, Enforce: enforce,
		Check: tlscheck.Policy{Level: tlscheck.DomainValidation, ExpectedName: host, Usage: x509.ExtKeyUsageServerAuth},
		Note: fmt.Sprintf("MTA-STS: policy of %s (id %s, mode %s, %s); TLS with a certificate valid for %s required",
			r.Domain, r.ID, r.Policy.Mode, strings.Join(r.Policy.MX, " "), host),
	}
	if !enforce {
		p.Note = fmt.Sprintf("MTA-STS: policy of %s (id %s) is in mode testing: failures are reported, the connector's own TLS settings decide", r.Domain, r.ID)
	}
	if !r.Policy.Matches(host) {
		p.Refusal = &send.Refusal{
			Status: StatusMXNotAllowed, Reason: ReasonMXNotAllowed, ResultType: send.ResultValidationFailure,
			Message: MXMismatchMessage(r, host),
		}
	}
	return p
}

// MXMismatchMessage says why host is refused and how the domain's owner
// fixes it.
func MXMismatchMessage(r Result, host string) string {
	return fmt.Sprintf("%s is not among the mx patterns (%s) of the MTA-STS policy of %s (id %s, mode %s). "+
		"If %s is a genuine MX of %s, add the line %q to https://mta-sts.%s/.well-known/mta-sts.txt and publish a new id in _mta-sts.%s TXT; otherwise correct the MX records",
		host, strings.Join(r.Policy.MX, ", "), r.Domain, r.ID, r.Policy.Mode, host, r.Domain, SuggestPattern(host), r.Domain, r.Domain)
}

func (s *Source) reportFetchError(r Result, req send.PolicyRequest) {
	if s.Observer == nil {
		return
	}
	typ := ResultFetchError
	var fe *FetchError
	if errors.As(r.Err, &fe) {
		typ = fe.Type
	}
	s.Observer.PolicyOutcome(send.PolicyOutcome{
		Time: s.Client.now(), Type: send.PolicySTS, Domain: r.Domain, MXHost: req.Target.Host, FromMX: req.FromMX,
		ReceivingIP: req.Target.IP, ResultType: typ, Detail: r.Err.Error(),
	})
}

// DNS adapts the sender's DNSSEC-aware resolver to Resolver.
func DNS(r *dnsres.Resolver) Resolver { return dnsTXT{r} }

type dnsTXT struct{ *dnsres.Resolver }

func (d dnsTXT) LookupTXT(ctx context.Context, name string) ([]string, error) {
	a, err := d.TXT(ctx, name)
	return a.TXT, err
}
