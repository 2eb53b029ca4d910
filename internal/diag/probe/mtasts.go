package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/loopguard"
	"github.com/mailflowhq/mailflow/internal/mtasts"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
	"github.com/mailflowhq/mailflow/internal/tlsrpt"
)

// DomainPolicies is what a domain publishes about the TLS of its MX hosts
// beyond DANE: its MTA-STS policy and its TLS-RPT record.
type DomainPolicies struct {
	MTASTS *MTASTSInfo `json:"mta_sts"`
	TLSRPT *TLSRPTInfo `json:"tls_rpt"`
}

// MTASTSInfo is the domain's MTA-STS policy as a sender fetches it.
type MTASTSInfo struct {
	Published bool     `json:"published"` // an _mta-sts TXT record exists
	ID        string   `json:"id,omitempty"`
	URL       string   `json:"url,omitempty"`
	Mode      string   `json:"mode,omitempty"`
	MX        []string `json:"mx,omitempty"`
	MaxAge    int64    `json:"max_age,omitempty"` // seconds
	// Error is why no policy could be obtained, ResultType its TLS-RPT
	// result type (sts-policy-fetch-error, sts-policy-invalid,
	// sts-webpki-invalid).
	Error      string   `json:"error,omitempty"`
	ResultType string   `json:"result_type,omitempty"`
	Fix        []string `json:"fix,omitempty"`

	policy mtasts.Result
}

// TLSRPTInfo is the domain's TLS-RPT record.
type TLSRPTInfo struct {
	Published bool     `json:"published"`
	RUA       []string `json:"rua,omitempty"`
	Error     string   `json:"error,omitempty"`
	Fix       []string `json:"fix,omitempty"`
}

// MTASTSHost is one MX host judged by the domain's MTA-STS policy.
type MTASTSHost struct {
	Mode       string `json:"mode"`
	MXAllowed  bool   `json:"mx_allowed"`
	Pattern    string `json:"pattern,omitempty"` // the mx line that allows it
	TLS        bool   `json:"tls"`               // STARTTLS negotiated
	CertValid  bool   `json:"certificate_valid"` // valid (WebPKI) for the MX host name
	CertReason string `json:"certificate_reason,omitempty"`
	// Satisfied: a sender applying the policy delivers to this host.
	Satisfied bool `json:"satisfied"`
}

// domainPolicies fetches domain's MTA-STS policy and TLS-RPT record as a
// sender would (the probe's resolver, trust store and clock).
func domainPolicies(ctx context.Context, domain string, opts Options) *DomainPolicies {
	res := txtResolver(opts)
	f := &mtasts.Fetcher{Resolver: res, Roots: opts.Roots, Port: opts.MTASTSPort, Timeout: probeDuration(opts.CommandTimeout, 30*time.Second), Now: opts.Now}
	dp := &DomainPolicies{MTASTS: &MTASTSInfo{}, TLSRPT: &TLSRPTInfo{}}
	m := dp.MTASTS
	id, err := f.Discover(ctx, domain)
	switch {
	case errors.Is(err, mtasts.ErrNoRecord):
		m.Fix = []string{fmt.Sprintf("Optional: publish an MTA-STS policy so senders insist on validated TLS to your MX hosts: a TXT record _mta-sts.%s \"v=STSv1; id=%s\" and the policy at %s (start with mode: testing)",
			domain, time.Now().UTC().Format("20060102T150405"), f.URL(domain))}
	case err != nil:
		m.Published = true
		m.Error, m.ResultType = err.Error(), mtasts.ResultInvalid
		m.Fix = []string{fmt.Sprintf("Publish exactly one TXT record at _mta-sts.%s of the form \"v=STSv1; id=20260101T000000\" (id: 1 to 32 letters and digits)", domain)}
	default:
		m.Published, m.ID, m.URL = true, id, f.URL(domain)
		p, err := f.Fetch(ctx, domain)
		if err != nil {
			var fe *mtasts.FetchError
			m.Error, m.ResultType = err.Error(), mtasts.ResultFetchError
			if errors.As(err, &fe) {
				m.ResultType = fe.Type
				m.Error = fe.Err.Error()
			}
			m.Fix = []string{fetchFix(m.ResultType, domain, m.URL)}
			break
		}
		m.Mode, m.MX, m.MaxAge = string(p.Mode), p.MX, int64(p.MaxAge/time.Second)
		m.policy = mtasts.Result{Domain: domain, Policy: p, ID: id, Origin: mtasts.OriginFetched}
	}

	r := dp.TLSRPT
	rua, err := tlsrpt.LookupRUA(ctx, res, domain)
	switch {
	case tlsrpt.IsNoRecord(err):
		r.Fix = []string{fmt.Sprintf("Publish a TLS-RPT record so senders report their TLS failures to you: _smtp._tls.%s TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@%s\"", domain, domain)}
	case err != nil:
		r.Published, r.Error = true, err.Error()
		r.Fix = []string{fmt.Sprintf("Correct _smtp._tls.%s: one TXT record \"v=TLSRPTv1; rua=mailto:…\" (mailto: or https: addresses, comma-separated)", domain)}
	default:
		r.Published, r.RUA = true, rua
	}
	return dp
}

func fetchFix(resultType, domain, url string) string {
	switch resultType {
	case mtasts.ResultWebPKI:
		return fmt.Sprintf("Serve %s with a certificate for mta-sts.%s from a publicly trusted CA: senders validate it like a browser does", url, domain)
	case mtasts.ResultInvalid:
		return fmt.Sprintf("Correct the policy at %s: text/plain, lines \"version: STSv1\", \"mode: enforce|testing|none\", one \"mx: <host or *.domain>\" per MX, \"max_age: <seconds>\"", url)
	}
	return fmt.Sprintf("Make %s answer 200 with the policy (no redirect) over HTTPS, or remove _mta-sts.%s if the domain has no policy", url, domain)
}

// txtResolver is the probe's DNS for TXT records: Options.TXT, else the
// probe's resolver when it can look up TXT, else the system's.
func txtResolver(opts Options) mtasts.Resolver {
	if opts.TXT != nil {
		return opts.TXT
	}
	if opts.DNS != nil {
		return mtasts.DNS(opts.DNS)
	}
	switch r := opts.Resolver.(type) {
	case mtasts.Resolver:
		return r
	case *dnsres.Resolver:
		return mtasts.DNS(r)
	}
	return loopguard.System()
}

// judgeMTASTS judges every MX report of b by the domain's policy (the one
// the sender applies, mtasts.TargetPolicy) and adds the findings and fixes.
func (b *Batch) judgeMTASTS(opts Options) {
	m := b.Policies.MTASTS
	if m.policy.Policy == nil || !m.policy.Applies() {
		return
	}
	for _, r := range b.Reports {
		if r.MXPreference == nil {
			continue
		}
		tp := mtasts.TargetPolicy(m.policy, r.Host)
		h := &MTASTSHost{Mode: m.Mode, MXAllowed: tp.Refusal == nil, Pattern: m.policy.Policy.MatchingPattern(r.Host)}
		h.TLS = r.TLS != nil && r.TLS.Version != ""
		if len(r.peerChain) > 0 {
			check := tp.Check
			check.Roots, check.Now = opts.Roots, probeNow(opts.Now)
			v := tlscheck.Verify(r.peerChain, check)
			h.CertValid = v.OK
			if !v.OK {
				h.CertReason = v.Message()
			}
		}
		h.Satisfied = h.MXAllowed && h.TLS && h.CertValid
		r.MTASTS = h
		sev := "info"
		if !h.Satisfied {
			sev = "warning"
		}
		var text []string
		if h.MXAllowed {
			text = append(text, fmt.Sprintf("MTA-STS (%s, id %s): %s is allowed by \"mx: %s\"", m.Mode, m.ID, r.Host, h.Pattern))
		} else {
			text = append(text, fmt.Sprintf("MTA-STS (%s, id %s): %s matches none of the mx patterns (%s)", m.Mode, m.ID, r.Host, strings.Join(m.MX, ", ")))
			r.addFix(fmt.Sprintf("Add %q to %s and publish a new id in _mta-sts.%s TXT (or correct the MX record if %s should not receive mail)",
				mtasts.SuggestPattern(r.Host), m.URL, b.Domain, r.Host))
		}
		switch {
		case !h.TLS:
			text = append(text, "no TLS session, so the policy cannot be met (starttls-not-supported)")
			r.addFix(fmt.Sprintf("Offer STARTTLS on %s with a certificate for %s from a publicly trusted CA", r.Host, r.Host))
		case !h.CertValid:
			text = append(text, "the certificate is not valid for "+r.Host+": "+h.CertReason)
			r.addFix(fmt.Sprintf("Present a certificate for %s issued by a publicly trusted CA (MTA-STS senders validate the MX host name against the WebPKI roots)", r.Host))
		default:
			text = append(text, "the certificate is valid for "+r.Host)
		}
		if !h.Satisfied {
			if m.Mode == string(mtasts.ModeEnforce) {
				text = append(text, "senders applying the policy defer mail to this host (mailflow: "+mtasts.StatusMXNotAllowed+" or 450 4.7.320)")
			} else {
				text = append(text, "mode testing: senders still deliver and report the failure (TLS-RPT)")
			}
		}
		r.Findings = append(r.Findings, Finding{Severity: sev, Text: strings.Join(text, "; ")})
	}
}

// enforceFailures counts MX hosts an enforce-mode policy refuses.
func (b *Batch) enforceFailures() int {
	n := 0
	for _, r := range b.Reports {
		if r.MTASTS != nil && !r.MTASTS.Satisfied && r.MTASTS.Mode == string(mtasts.ModeEnforce) {
			n++
		}
	}
	return n
}

func (r *Report) addFix(step string) {
	if r.Fix == nil {
		r.Fix = &Fix{}
	}
	r.Fix.Steps = append(r.Fix.Steps, step)
}

// renderPolicies writes the domain's MTA-STS and TLS-RPT block.
func (b *Batch) renderPolicies(p *TextWriter) {
	dp := b.Policies
	if dp == nil {
		return
	}
	p.Printf("Domain policies of %s\n", b.Domain)
	m := dp.MTASTS
	switch {
	case !m.Published:
		p.Printf("  %s MTA-STS   none published (_mta-sts.%s has no TXT record)\n", MarkInfo, b.Domain)
	case m.Error != "":
		p.Printf("  %s MTA-STS   %s: %s\n", MarkBad, m.ResultType, m.Error)
	default:
		p.Printf("  %s MTA-STS   id %s, mode %s, max_age %ds, mx %s\n", MarkOK, m.ID, m.Mode, m.MaxAge, strings.Join(m.MX, ", "))
		p.Printf("              %s\n", m.URL)
	}
	r := dp.TLSRPT
	switch {
	case !r.Published:
		p.Printf("  %s TLS-RPT   none published (_smtp._tls.%s has no TXT record)\n", MarkInfo, b.Domain)
	case r.Error != "":
		p.Printf("  %s TLS-RPT   %s\n", MarkBad, r.Error)
	default:
		p.Printf("  %s TLS-RPT   reports to %s\n", MarkOK, strings.Join(r.RUA, ", "))
	}
	for _, f := range append(append([]string(nil), m.Fix...), r.Fix...) {
		p.Printf("  Fix: %s\n", f)
	}
	p.Printf("\n")
}
