package send

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Statuses of DANE failures decided before connecting (Exchange Online's).
const (
	StatusDNSSECInvalid = tlscheck.StatusDNSSECInvalid
	StatusTLSAInvalid   = tlscheck.StatusTLSAInvalid
	StatusNoSTARTTLS    = tlscheck.StatusStartTLSNotSupported
)

// Reasons (MSG=) of DANE refusals.
const (
	ReasonDNSSECInvalid = "dnssec-invalid"
	ReasonDANERequired  = "dane-required"
	ReasonTLSALookup    = "TlsaLookupFailed"
	ReasonNoSTARTTLS    = "starttls-not-supported"
)

// daneActive reports whether DANE can apply to deliveries through c.
func (s *Sender) daneActive(c Connector) bool {
	return c.DANE != DANEOff && s.DNS != nil && s.DNS.Validating()
}

// danePolicy looks up the TLSA records of t (RFC 7672 §2.2): only for a
// target whose host name and addresses are DNSSEC-authentic (an MX host
// from a secure MX RRset, or a smart host named in the configuration). It
// returns false when DANE does not apply and the next source decides.
func (s *Sender) danePolicy(ctx context.Context, c Connector, domain string, t Target) (TargetPolicy, bool) {
	if !s.daneActive(c) {
		return TargetPolicy{}, false
	}
	p := TargetPolicy{Type: PolicyTLSA, Domain: domain, RequireTLS: true, Enforce: true}
	required := func(why string) (TargetPolicy, bool) {
		if c.DANE != DANERequired {
			return TargetPolicy{}, false
		}
		p.Refusal = &Refusal{Status: StatusTLSAInvalid, Reason: ReasonDANERequired, ResultType: ResultDANERequired,
			Message: fmt.Sprintf("send connector %s requires DANE (dane: required) but %s", c.Name, why)}
		return p, true
	}
	if !t.Secure {
		return required(fmt.Sprintf("the address of %s was not found securely (DNSSEC), so TLSA records cannot be used", t.Host))
	}
	// RFC 7672 §2.2.3: the TLSA base domain is the end of the host's CNAME
	// chain when it has records there, else the host name itself.
	bases := []string{t.Host}
	if t.Canonical != "" && !strings.EqualFold(strings.TrimSuffix(t.Canonical, "."), t.Host) {
		bases = []string{strings.TrimSuffix(t.Canonical, "."), t.Host}
	}
	var (
		ans  dnsres.TLSAAnswer
		err  error
		base string
	)
	for _, base = range bases {
		ans, err = s.DNS.TLSA(ctx, t.Port, base)
		var nf *dnsres.Error
		if !(errors.As(err, &nf) && nf.NotFound) && (err != nil || ans.Security == dnsres.Secure) {
			break // records (or a failure) at this base: it decides
		}
	}
	var de *dnsres.Error
	switch {
	case errors.Is(err, dnsres.ErrBogus):
		p.Strings = []string{ans.Name}
		p.Refusal = &Refusal{Status: StatusDNSSECInvalid, Reason: ReasonDNSSECInvalid, ResultType: ResultDNSSECInvalid,
			Message: "the TLSA lookup failed DNSSEC validation: " + err.Error() + " — the zone's signatures or its DS record at the parent are wrong; re-sign the zone or fix the DS"}
		return p, true
	case errors.As(err, &de) && de.NotFound:
		if de.Security != dnsres.Secure {
			return required(fmt.Sprintf("%s has no TLSA records", ans.Name))
		}
		return required(fmt.Sprintf("%s has no TLSA records (DNSSEC-authenticated denial)", ans.Name))
	case err != nil:
		// RFC 7672 §2.2: a failed TLSA lookup for a secure host is not a
		// denial; deliver later rather than without the records.
		p.Refusal = &Refusal{Status: StatusDNSFailed, Reason: ReasonTLSALookup, ResultType: ResultTLSAInvalid,
			Message: "the TLSA lookup failed: " + err.Error()}
		return p, true
	case ans.Security != dnsres.Secure:
		return required(fmt.Sprintf("the TLSA records at %s are not DNSSEC-signed", ans.Name))
	}
	if base != t.Host {
		// RFC 7672 §8.1: the server name sent is the TLSA base domain.
		p.ServerName = base
	}
	pol := &tlscheck.DANEPolicy{Owner: ans.Name, Names: daneNames(t, base, domain)}
	pol.Records = ans.Parsed()
	for _, rec := range pol.Records {
		p.Strings = append(p.Strings, ans.Name+" IN TLSA "+rec.String())
	}
	p.Check = tlscheck.Policy{DANE: pol}
	p.Note = fmt.Sprintf("DANE: %d DNSSEC-authenticated TLSA record(s) at %s; TLS required, certificate matched against them", len(pol.Records), ans.Name)
	return p, true
}

// daneNames are the reference identifiers for DANE-TA (RFC 7672 §3.2.2):
// the TLSA base domain, the host name it came from and, for an MX host,
// the recipient domain.
func daneNames(t Target, base, domain string) []string {
	names := []string{strings.TrimSuffix(base, ".")}
	if !strings.EqualFold(base, t.Host) {
		names = append(names, strings.TrimSuffix(t.Host, "."))
	}
	if t.FromMX && domain != "" {
		names = append(names, domain)
	}
	return names
}

// TLSALines renders TLSA records for logs, at most max of them.
func TLSALines(p TargetPolicy, max int) string {
	if len(p.Strings) <= max {
		return strings.Join(p.Strings, "; ")
	}
	return strings.Join(p.Strings[:max], "; ") + fmt.Sprintf("; … %d more", len(p.Strings)-max)
}
