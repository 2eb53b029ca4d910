package diag

import (
	"fmt"
	"io"
	"strings"
)

// WriteText renders the validation for people, the result first.
func (v *ConnectorValidation) WriteText(w io.Writer) error {
	p := &probeWriter{w: w}
	mark, word := probeMarkOK, "PASS"
	switch v.Result {
	case ProbeFail:
		mark, word = probeMarkBad, "FAIL"
	case ProbeError:
		mark, word = probeMarkBad, "COULD NOT TEST"
	}
	p.f("%s %s  %s connector %q\n", mark, word, v.Kind, v.Connector)
	switch {
	case v.Send != nil:
		v.Send.writeText(p)
	case v.Receive != nil:
		v.Receive.writeText(p)
	}
	if p.err != nil {
		return fmt.Errorf("write connector validation: %w", p.err)
	}
	return nil
}

func (s *SendValidation) writeText(p *probeWriter) {
	hosts := strings.Join(s.SmartHosts, ", ")
	if hosts == "" {
		hosts = "MX of " + probeOr(s.Domain, "the recipient domain")
	}
	p.f("\nConnector\n")
	p.f("  Smart hosts  %s\n", hosts)
	p.f("  TLS          %s%s, RequireTLS %t\n", s.Policy, probeExpectingName(s.Expect), s.RequireTLS)
	p.f("  FQDN (EHLO)  %s\n", s.FQDN)
	if s.SourceIP != "" {
		p.f("  Source IP    %s\n", s.SourceIP)
	}
	if s.ClientCertificate != nil {
		p.f("  Client certificate  %s (thumbprint %s, %s)\n", s.ClientCertificate.Subject, s.ClientCertificate.Thumbprint, daysLeftText(*s.ClientCertificate))
	} else if s.ClientCertificateNote != "" {
		p.f("  Client certificate  none: %s\n", s.ClientCertificateNote)
	}
	for i, r := range s.Hosts {
		p.f("\n%s\nHost %d of %d\n", strings.Repeat("─", 72), i+1, len(s.Hosts))
		r.writeText(p)
	}
	if t := s.Test; t != nil {
		p.f("\n%s\nTest message %s → %s\n", strings.Repeat("─", 72), t.From, t.To)
		mark := probeMarkBad
		if t.Outcome == "Delivered" {
			mark = probeMarkOK
		}
		p.f("  %s %s: %s\n", mark, t.Outcome, t.Status)
		switch {
		case t.RemoteHost != "" && t.RemoteIP != "" && t.RemoteIP != t.RemoteHost:
			p.f("  Via %s (%s)\n", t.RemoteHost, t.RemoteIP)
		case t.RemoteHost != "":
			p.f("  Via %s\n", t.RemoteHost)
		}
		if t.Detail != "" {
			p.f("  The sender records: %s\n", t.Detail)
		}
	}
}

func (r *ReceiveValidation) writeText(p *probeWriter) {
	p.f("\nConnector %s\n", r.ID)
	p.f("  Bindings          %s\n", strings.Join(r.Bindings, ", "))
	p.f("  RemoteIPRanges    %s\n", strings.Join(r.RemoteIPRanges, ", "))
	p.f("  FQDN              %s\n", r.FQDN)
	p.f("  RequireTLS %t, domain security %t\n", r.RequireTLS, r.DomainSecure)
	if r.OffersSTARTTLS {
		p.f("  %s STARTTLS offered\n", probeMarkOK)
	} else {
		p.f("  %s STARTTLS not offered\n", probeMarkBad)
	}

	p.f("\nCertificate selection\n")
	switch {
	case r.Pinned:
		p.f("  Pinned by tls_certificate_name %s\n", r.Sought)
	case r.Sought != "":
		p.f("  Chosen by the name %s (no tls_certificate_name)\n", r.Sought)
	default:
		p.f("  None: Tls is not in auth_mechanism\n")
	}
	if r.Certificate != nil {
		writeCertificateText(p, "    ", *r.Certificate)
	} else if r.Sought != "" {
		p.f("  %s No certificate found\n", probeMarkBad)
	}
	if r.SelectionWarning != "" {
		p.f("  %s %s\n", probeMarkWarn, r.SelectionWarning)
	}
	if len(r.Candidates) > 1 {
		p.f("  Eligible, in selection order:\n")
		for _, c := range r.Candidates {
			p.f("    %s (thumbprint %s, %s)\n", c.Subject, c.Thumbprint, daysLeftText(c))
		}
	}
	what := "Presented to"
	if r.Certificate == nil {
		what = "Senders (no STARTTLS)"
	}
	p.f("  %s  %s", what, strings.Join(r.RemoteIPRanges, ", "))
	if len(r.Elsewhere) > 0 {
		var ex []string
		for _, e := range r.Elsewhere {
			where := ""
			if e.Local != "" {
				where = " on " + e.Local
			}
			ex = append(ex, fmt.Sprintf("%s%s → %q", e.Range, where, e.Connector))
		}
		p.f(", except %s", strings.Join(ex, "; "))
	}
	p.f("\n")

	p.f("\nVerdict (%s)\n", probeLevelExpecting(r.Policy, r.Expect))
	mark := probeMarkOK
	if r.Verdict.Result != ProbePass {
		mark = probeMarkBad
	}
	p.f("  %s %s\n", mark, r.Verdict.Summary)
	if r.Verdict.Status != "" {
		p.f("  A validating sender records: %s [Message=%s]\n", r.Verdict.Status, r.Verdict.Message)
	}
	if len(r.Findings) > 0 {
		p.f("\nFindings\n")
		for _, f := range r.Findings {
			m := probeMarkInfo
			if f.Severity == "warning" {
				m = probeMarkWarn
			}
			p.f("  %s %s\n", m, f.Text)
		}
	}
	if r.Fix != nil {
		(&ProbeReport{Fix: r.Fix}).writeFix(p)
	}
	p.f("\nCheck it live: %s\n", r.ProbeCommand)
}

func probeExpectingName(expect string) string {
	if expect == "" {
		return ""
	}
	return " expecting " + expect
}
