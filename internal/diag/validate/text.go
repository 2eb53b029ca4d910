package validate

import (
	"fmt"
	"io"
	"strings"

	"github.com/mailflowhq/mailflow/internal/diag/probe"
)

// WriteText renders the validation for people, the result first.
func (v *Report) WriteText(w io.Writer) error {
	p := probe.NewTextWriter(w)
	mark, word := probe.MarkOK, "PASS"
	switch v.Result {
	case probe.Fail:
		mark, word = probe.MarkBad, "FAIL"
	case probe.Error:
		mark, word = probe.MarkBad, "COULD NOT TEST"
	}
	p.Printf("%s %s  %s connector %q\n", mark, word, v.Kind, v.Connector)
	switch {
	case v.Send != nil:
		v.Send.writeText(p)
	case v.Receive != nil:
		v.Receive.writeText(p)
	}
	if p.Err() != nil {
		return fmt.Errorf("write connector validation: %w", p.Err())
	}
	return nil
}

func (s *SendReport) writeText(p *probe.TextWriter) {
	hosts := strings.Join(s.SmartHosts, ", ")
	if hosts == "" {
		hosts = "MX of " + or(s.Domain, "the recipient domain")
	}
	p.Printf("\nConnector\n")
	p.Printf("  Smart hosts  %s\n", hosts)
	p.Printf("  TLS          %s%s, RequireTLS %t\n", s.Policy, probeExpectingName(s.Expect), s.RequireTLS)
	p.Printf("  FQDN (EHLO)  %s\n", s.FQDN)
	if s.SourceIP != "" {
		p.Printf("  Source IP    %s\n", s.SourceIP)
	}
	if s.ClientCertificate != nil {
		p.Printf("  Client certificate  %s (thumbprint %s, %s)\n", s.ClientCertificate.Subject, s.ClientCertificate.Thumbprint, probe.DaysLeft(*s.ClientCertificate))
	} else if s.ClientCertificateNote != "" {
		p.Printf("  Client certificate  none: %s\n", s.ClientCertificateNote)
	}
	for i, r := range s.Hosts {
		p.Printf("\n%s\nHost %d of %d\n", strings.Repeat("─", 72), i+1, len(s.Hosts))
		r.Render(p)
	}
	if t := s.Test; t != nil {
		p.Printf("\n%s\nTest message %s → %s\n", strings.Repeat("─", 72), t.From, t.To)
		mark := probe.MarkBad
		if t.Outcome == "Delivered" {
			mark = probe.MarkOK
		}
		p.Printf("  %s %s: %s\n", mark, t.Outcome, t.Status)
		switch {
		case t.RemoteHost != "" && t.RemoteIP != "" && t.RemoteIP != t.RemoteHost:
			p.Printf("  Via %s (%s)\n", t.RemoteHost, t.RemoteIP)
		case t.RemoteHost != "":
			p.Printf("  Via %s\n", t.RemoteHost)
		}
		if t.Detail != "" {
			p.Printf("  The sender records: %s\n", t.Detail)
		}
	}
}

func (r *ReceiveReport) writeText(p *probe.TextWriter) {
	p.Printf("\nConnector %s\n", r.ID)
	p.Printf("  Bindings          %s\n", strings.Join(r.Bindings, ", "))
	p.Printf("  RemoteIPRanges    %s\n", strings.Join(r.RemoteIPRanges, ", "))
	p.Printf("  FQDN              %s\n", r.FQDN)
	p.Printf("  RequireTLS %t, domain security %t\n", r.RequireTLS, r.DomainSecure)
	if r.OffersSTARTTLS {
		p.Printf("  %s STARTTLS offered\n", probe.MarkOK)
	} else {
		p.Printf("  %s STARTTLS not offered\n", probe.MarkBad)
	}

	p.Printf("\nCertificate selection\n")
	switch {
	case r.Pinned:
		p.Printf("  Pinned by tls_certificate_name %s\n", r.Sought)
	case r.Sought != "":
		p.Printf("  Chosen by the name %s (no tls_certificate_name)\n", r.Sought)
	default:
		p.Printf("  None: Tls is not in auth_mechanism\n")
	}
	if r.Certificate != nil {
		probe.WriteCertificate(p, "    ", *r.Certificate)
	} else if r.Sought != "" {
		p.Printf("  %s No certificate found\n", probe.MarkBad)
	}
	if r.SelectionWarning != "" {
		p.Printf("  %s %s\n", probe.MarkWarn, r.SelectionWarning)
	}
	if len(r.Candidates) > 1 {
		p.Printf("  Eligible, in selection order:\n")
		for _, c := range r.Candidates {
			p.Printf("    %s (thumbprint %s, %s)\n", c.Subject, c.Thumbprint, probe.DaysLeft(c))
		}
	}
	what := "Presented to"
	if r.Certificate == nil {
		what = "Senders (no STARTTLS)"
	}
	p.Printf("  %s  %s", what, strings.Join(r.RemoteIPRanges, ", "))
	if len(r.Elsewhere) > 0 {
		var ex []string
		for _, e := range r.Elsewhere {
			where := ""
			if e.Local != "" {
				where = " on " + e.Local
			}
			ex = append(ex, fmt.Sprintf("%s%s → %q", e.Range, where, e.Connector))
		}
		p.Printf(", except %s", strings.Join(ex, "; "))
	}
	p.Printf("\n")

	p.Printf("\nVerdict (%s)\n", probe.PolicyText(r.Policy, r.Expect))
	mark := probe.MarkOK
	if r.Verdict.Result != probe.Pass {
		mark = probe.MarkBad
	}
	p.Printf("  %s %s\n", mark, r.Verdict.Summary)
	if r.Verdict.Status != "" {
		p.Printf("  A validating sender records: %s [Message=%s]\n", r.Verdict.Status, r.Verdict.Message)
	}
	if len(r.Findings) > 0 {
		p.Printf("\nFindings\n")
		for _, f := range r.Findings {
			m := probe.MarkInfo
			if f.Severity == "warning" {
				m = probe.MarkWarn
			}
			p.Printf("  %s %s\n", m, f.Text)
		}
	}
	if r.Fix != nil {
		r.Fix.Render(p)
	}
	p.Printf("\nCheck it live: %s\n", r.ProbeCommand)
}

func probeExpectingName(expect string) string {
	if expect == "" {
		return ""
	}
	return " expecting " + expect
}
