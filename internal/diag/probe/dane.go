package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// The DNS-based part of a probe: when the probe resolves through a
// validating resolver (--resolver, or the configuration's dns with
// dnssec: trust_ad) it takes the sender's per-destination TLS policy step
// (send.Sender.Policy: DANE before the connector's own policy), so a host
// with DNSSEC-authentic TLSA records is judged against them, exactly as a
// delivery would be, and the report shows the DNSSEC status, the TLSA
// records and whether the presented chain matches them.

// MXContext says a probed host came from a domain's MX records.
type MXContext struct {
	Domain   string
	Security dnsres.Security // of the MX RRset
}

// DNSInfo is what DNS said about the endpoint.
type DNSInfo struct {
	Resolver   string `json:"resolver"`
	Validating bool   `json:"validating"` // the resolver's AD bit is trusted
	// MXSecurity is the DNSSEC status of the domain's MX RRset, for a
	// host probed from --mx.
	MXSecurity string `json:"mx_security,omitempty"`
	// AddressSecure: the host name was found securely and its address
	// records are DNSSEC-authentic, so senders use its TLSA records.
	AddressSecure bool      `json:"address_secure"`
	TLSA          *TLSAInfo `json:"tlsa,omitempty"`
}

// TLSAInfo is the TLSA RRset of the endpoint and how the presented chain
// fares against it.
type TLSAInfo struct {
	Owner    string   `json:"owner"`
	Security string   `json:"security"`
	Records  []string `json:"records,omitempty"`
	Usable   int      `json:"usable"`
	// Matched is the record the chain satisfied; Presented is the 3 1 1
	// record of the presented leaf (what to publish for it).
	Matched   string `json:"matched,omitempty"`
	Presented string `json:"presented,omitempty"`
	// Error is a failed lookup (bogus: a DNSSEC validation failure).
	Error string `json:"error,omitempty"`
}

// PolicyInfo is the TLS policy a sender applies to the endpoint (the
// outcome of the sender's policy step).
type PolicyInfo struct {
	Type       send.PolicyType `json:"type"`
	Domain     string          `json:"domain,omitempty"`
	Strings    []string        `json:"strings,omitempty"`
	RequireTLS bool            `json:"require_tls"`
	Note       string          `json:"note,omitempty"`
}

// dnsInfo fills the DNS and policy part of a report.
func (p Runner) dnsInfo(ctx context.Context, r *Report, t send.Target, cn *send.Connection) {
	if cn != nil {
		pol := cn.Policy
		r.TLSPolicy = &PolicyInfo{Type: pol.Type, Domain: pol.Domain, Strings: pol.Strings, RequireTLS: pol.RequireTLS, Note: pol.Note}
	}
	res := p.Sender.DNS
	if res == nil {
		return
	}
	d := &DNSInfo{Resolver: strings.Join(res.Servers(), ", "), Validating: res.Validating(), AddressSecure: t.Secure}
	if p.MX != nil {
		d.MXSecurity = p.MX.Security.String()
	}
	if t.Host != "" && net.ParseIP(t.Host) == nil {
		d.TLSA = tlsaInfo(ctx, res, t, r)
	}
	r.DNS = d
}

func tlsaInfo(ctx context.Context, res *dnsres.Resolver, t send.Target, r *Report) *TLSAInfo {
	ans, err := res.TLSA(ctx, t.Port, t.Host)
	if c := strings.TrimSuffix(t.Canonical, "."); c != "" && !strings.EqualFold(c, t.Host) {
		// The sender looks at the end of the CNAME chain first.
		if ca, cerr := res.TLSA(ctx, t.Port, c); cerr == nil && ca.Security == dnsres.Secure || errors.Is(cerr, dnsres.ErrBogus) {
			ans, err = ca, cerr
		}
	}
	ti := &TLSAInfo{Owner: ans.Name, Security: ans.Security.String()}
	var de *dnsres.Error
	if err != nil && !(errors.As(err, &de) && de.NotFound) {
		ti.Error = err.Error()
	}
	for _, rec := range ans.Parsed() {
		ti.Records = append(ti.Records, rec.String())
		if rec.Usable() {
			ti.Usable++
		}
	}
	if c := r.Verdict.Check; c != nil && c.DANE != nil {
		ti.Presented = c.DANE.Presented
		if c.DANE.Matched != nil {
			ti.Matched = c.DANE.Matched.String()
		}
	} else {
		ti.Presented = r.leafTLSA
	}
	return ti
}

// isDANEStatus reports a status a DANE sender records (4.7.321–4.7.325).
func isDANEStatus(s string) bool {
	switch s {
	case tlscheck.StatusStartTLSNotSupported, tlscheck.StatusDANEExpired, tlscheck.StatusTLSAInvalid,
		tlscheck.StatusDNSSECInvalid, tlscheck.StatusDANEHostMismatch:
		return true
	}
	return false
}

// daneSummary words a DANE failure.
func daneSummary(r *Report) string {
	v := r.Verdict
	switch v.Status {
	case tlscheck.StatusDNSSECInvalid:
		return fmt.Sprintf("A DANE sender does not deliver to %s: its DNS answers fail DNSSEC validation (%s).", r.Host, v.Message)
	case tlscheck.StatusStartTLSNotSupported:
		return fmt.Sprintf("A DANE sender does not deliver to %s: the host publishes TLSA records but offers no STARTTLS.", probeEndpoint(r))
	}
	if v.Reason == send.ReasonDANERequired {
		return "A sender with dane: required does not deliver: " + v.Message + "."
	}
	return fmt.Sprintf("A DANE sender refuses %s: %s.", probeEndpoint(r), strings.TrimSuffix(probeCheckDetail(v), "."))
}

// daneFix is the fix for a DANE failure.
func (p Runner) daneFix(r *Report) *Fix {
	f := &Fix{}
	add := func(format string, a ...any) { f.Steps = append(f.Steps, fmt.Sprintf(format, a...)) }
	owner := dnsres.TLSAName(r.Port, r.Host)
	presented := ""
	if r.DNS != nil && r.DNS.TLSA != nil {
		presented = r.DNS.TLSA.Presented
	}
	switch r.Verdict.Status {
	case tlscheck.StatusTLSAInvalid:
		if r.Verdict.Reason == send.ReasonDANERequired {
			add("Publish TLSA records for %s in a DNSSEC-signed zone (on a mailflow receiver: mailflow cert tlsa --config FILE prints them), or relax the sender's dane: required.", r.Host)
			break
		}
		if presented != "" {
			add("If the server presents the right certificate (a renewal with a new key), publish its record beside the old one: %s IN TLSA %s", owner, presented)
			add("Wait at least the TTL of the TLSA records, then remove the record of the old key. Next time renew with the same key, so a 3 1 1 record stays valid (on mailflow: mailflow cert tlsa --config FILE --check shows what is published and what to publish).")
		}
		add("If the records are right, present the certificate they name on %s (the one whose key they hash).", r.Host)
	case tlscheck.StatusDANEExpired:
		add("Renew the certificate %s; with a DANE-TA (2 x x) record the chain's dates count. A 3 1 1 record that names the key stays valid when the renewal keeps the key.", probeLeafSubject(r))
	case tlscheck.StatusDANEHostMismatch:
		add("A DANE-TA (2 x x) record also needs %s in the certificate's names (SAN): reissue it with that name, or publish a DANE-EE record for the certificate instead: %s IN TLSA %s", r.Host, owner, presented)
	case tlscheck.StatusDNSSECInvalid:
		add("Repair the zone's DNSSEC: re-sign it (fresh RRSIGs) and make the DS at the parent match the current key; or remove the DS at the parent to make the zone unsigned while fixing it (DANE then no longer applies).")
	case tlscheck.StatusStartTLSNotSupported:
		add("Offer STARTTLS on %s with a certificate matching the TLSA records, or remove the TLSA records at %s (and wait their TTL) if the host no longer does TLS.", probeEndpoint(r), owner)
	}
	add("Verify: %s.", Command(r, "", "--resolver "+probeOr(firstServer(p.Sender.DNS), "HOST:PORT")))
	return f
}

func firstServer(r *dnsres.Resolver) string {
	if r == nil || len(r.Servers()) == 0 {
		return ""
	}
	return r.Servers()[0]
}

// writeDNS renders the DNS part of a report.
func (r *Report) writeDNS(p *TextWriter) {
	if r.DNS == nil && (r.TLSPolicy == nil || r.TLSPolicy.Type == send.PolicyConnector) {
		return
	}
	p.Printf("\nDNS and TLS policy\n")
	if d := r.DNS; d != nil {
		val := "validating (AD bit trusted)"
		if !d.Validating {
			val = "not validating: DNSSEC status unknown, DANE cannot apply"
		}
		p.Printf("  Resolver    %s (%s)\n", d.Resolver, val)
		if d.MXSecurity != "" {
			p.Printf("  MX RRset    %s\n", d.MXSecurity)
		}
		sec := "insecure"
		if d.AddressSecure {
			sec = "secure"
		}
		p.Printf("  Address     %s\n", sec)
		if t := d.TLSA; t != nil {
			switch {
			case t.Error != "":
				p.Printf("  %s TLSA      %s: %s\n", MarkBad, t.Owner, t.Error)
			case len(t.Records) == 0:
				p.Printf("  TLSA        none at %s (%s)\n", t.Owner, t.Security)
			default:
				p.Printf("  TLSA        %s (%s, %d record(s), %d usable)\n", t.Owner, t.Security, len(t.Records), t.Usable)
				for i, rec := range t.Records {
					if i == 8 {
						p.Printf("                … %d more\n", len(t.Records)-8)
						break
					}
					p.Printf("                %s\n", rec)
				}
				switch {
				case t.Matched != "":
					p.Printf("  %s The presented chain matches %s\n", MarkOK, t.Matched)
				case r.Verdict.Check != nil && r.Verdict.Check.DANE != nil && r.Verdict.Check.DANE.Unauthenticated:
					p.Printf("  %s No usable record: TLS is required but the certificate is not authenticated\n", MarkWarn)
				case t.Security == "secure" && d.AddressSecure:
					p.Printf("  %s The presented chain matches none of them\n", MarkBad)
				}
			}
			if t.Presented != "" && t.Matched == "" {
				p.Printf("  Presented   %s IN TLSA %s\n", t.Owner, t.Presented)
			}
		}
	}
	if pol := r.TLSPolicy; pol != nil {
		p.Printf("  Policy      %s", pol.Type)
		if pol.Type == send.PolicyConnector {
			p.Printf(" (no DNS policy applies: the sender's own TLS settings)")
		}
		p.Printf("\n")
	}
}

// leafRecord is the 3 1 1 record of the presented leaf (for reports of
// hosts without a DANE verdict).
func leafRecord(cn *send.Connection) string {
	if cn == nil || len(cn.PeerChain) == 0 {
		return ""
	}
	rec, err := tlscheck.RecordFor(cn.PeerChain[0], 3, 1, 1)
	if err != nil {
		return ""
	}
	return rec.String()
}
