package diag

import (
	"fmt"
	"io"
	"strings"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Marks of the text reports.
const (
	probeMarkOK   = "✓"
	probeMarkBad  = "✗"
	probeMarkWarn = "!"
	probeMarkInfo = "-"
)

// probeWriter collects the first write error so the rendering code stays
// linear.
type probeWriter struct {
	w   io.Writer
	err error
}

func (p *probeWriter) f(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

// WriteText renders the report for people: the verdict first, then the
// connection, the TLS session, each certificate, the findings and the fix.
func (r *ProbeReport) WriteText(w io.Writer) error {
	pw := &probeWriter{w: w}
	r.writeText(pw)
	if pw.err != nil {
		return fmt.Errorf("write probe report: %w", pw.err)
	}
	return nil
}

func (r *ProbeReport) writeText(p *probeWriter) {
	r.writeVerdictLine(p)
	p.f("\n")
	p.f("Probe     %s\n", probeEndpoint(r))
	if r.Source != "" {
		p.f("From      %s\n", r.Source)
	}
	p.f("Policy    %s\n", probeLevelExpecting(r.Policy, r.Expect))
	p.f("Time      %s\n", r.Time.UTC().Format("2006-01-02 15:04:05Z"))
	if len(r.Addresses) > 1 {
		p.f("Addresses %s\n", strings.Join(r.Addresses, ", "))
	}

	if r.Stage >= send.StageGreeting {
		p.f("\nConnection\n")
		p.f("  Banner      %s\n", probeOrDash(r.Banner))
		p.f("  EHLO        %s\n", r.EHLO)
		if len(r.Extensions) > 0 {
			p.f("  Extensions  %s\n", strings.Join(r.Extensions, ", "))
		}
		if r.Banner != "" && len(r.Extensions) > 0 || r.StartTLSOffered {
			if r.StartTLSOffered {
				p.f("  %s STARTTLS offered\n", probeMarkOK)
			} else {
				p.f("  %s STARTTLS not offered\n", probeMarkBad)
			}
		}
	}

	if t := r.TLS; t != nil {
		p.f("\nTLS\n")
		switch {
		case t.Version == "":
			p.f("  %s Handshake did not complete\n", probeMarkBad)
		case t.Legacy:
			p.f("  %s Protocol  %s (older than TLS 1.2)\n", probeMarkWarn, t.Version)
		default:
			p.f("  %s Protocol  %s\n", probeMarkOK, t.Version)
		}
		if t.CipherSuite != "" {
			p.f("  Cipher      %s\n", t.CipherSuite)
		}
		p.f("  SNI         %s\n", probeOrDash(t.SNI))
		switch {
		case t.ClientCertificateRequested && t.ClientCertificate != nil:
			p.f("  Client certificate requested; presented %s (thumbprint %s)\n", t.ClientCertificate.Subject, t.ClientCertificate.Thumbprint)
		case t.ClientCertificateRequested:
			p.f("  Client certificate requested; none presented\n")
		default:
			p.f("  Client certificate not requested\n")
		}
		if len(t.ExtensionsAfterTLS) > 0 {
			p.f("  Extensions under TLS  %s\n", strings.Join(t.ExtensionsAfterTLS, ", "))
		}
		if len(t.Chain) > 0 {
			p.f("\nCertificates presented (leaf first)\n")
			for i, c := range t.Chain {
				writeCertificateText(p, fmt.Sprintf("  #%d ", i+1), c)
			}
		}
	}

	p.f("\nVerdict (%s)\n", probeLevelExpecting(r.Policy, r.Expect))
	mark := probeMarkOK
	if r.Verdict.Result != ProbePass {
		mark = probeMarkBad
	}
	p.f("  %s %s\n", mark, r.Verdict.Summary)
	if r.Verdict.Detail != "" {
		p.f("  The sender records: %s\n", r.Verdict.Detail)
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
		r.writeFix(p)
	}
}

// writeFix renders the fix: numbered steps, commands under their step,
// then the candidates judged.
func (r *ProbeReport) writeFix(p *probeWriter) {
	p.f("\nFix\n")
	n := 0
	for _, s := range r.Fix.Steps {
		// Command lines belong to the step before them.
		if strings.HasPrefix(s, "Exchange: ") || strings.HasPrefix(s, "mailflow: ") {
			p.f("       %s\n", s)
			continue
		}
		n++
		p.f("  %2d. %s\n", n, s)
	}
	if len(r.Fix.Candidates) > 0 {
		p.f("\nCandidates (best first)\n")
		for _, c := range r.Fix.Candidates {
			m := probeMarkBad
			if c.Accepted {
				m = probeMarkOK
			}
			p.f("  %s %s  (thumbprint %s)\n", m, c.Certificate.Subject, c.Certificate.Thumbprint)
			p.f("      %s\n", c.Note)
		}
	}
}

// writeVerdictLine is the first line: the result and the status.
func (r *ProbeReport) writeVerdictLine(p *probeWriter) {
	v := r.Verdict
	switch v.Result {
	case ProbePass:
		p.f("%s PASS  %s accepted by a sender with %s\n", probeMarkOK, probeEndpoint(r), probeLevelExpecting(r.Policy, r.Expect))
	case ProbeFail:
		p.f("%s FAIL  %s\n", probeMarkBad, v.Status)
		if v.Message != "" {
			p.f("        [Message=%s]\n", v.Message)
		}
	default:
		p.f("%s COULD NOT TEST  %s\n", probeMarkBad, probeOr(v.Status, v.Summary))
		if v.Message != "" {
			p.f("        [Message=%s]\n", v.Message)
		}
	}
}

// writeCertificateText renders one certificate, Get-ExchangeCertificate
// style.
func writeCertificateText(p *probeWriter, lead string, c certs.Info) {
	pad := strings.Repeat(" ", len([]rune(lead)))
	p.f("%s%s\n", lead, c.Subject)
	issuer := c.Issuer
	if c.SelfSigned {
		issuer += " (self-signed)"
	}
	p.f("%sIssuer      %s\n", pad, issuer)
	p.f("%sThumbprint  %s\n", pad, c.Thumbprint)
	p.f("%sSerial      %s\n", pad, c.Serial)
	p.f("%sSANs        %s\n", pad, probeOrDash(strings.Join(c.SANs, "; ")))
	p.f("%sValid       %s → %s UTC (%s)\n", pad, c.NotBefore.UTC().Format("2006-01-02 15:04"), c.NotAfter.UTC().Format("2006-01-02 15:04"), daysLeftText(c))
	p.f("%sKey         %s, %s\n", pad, c.KeyAlgorithm, c.SignatureAlgorithm)
	p.f("%sName        %s\n", pad, c.Name)
}

func daysLeftText(c certs.Info) string {
	switch c.Status {
	case certs.StatusExpired:
		return fmt.Sprintf("expired %d days ago", -c.DaysLeft)
	case certs.StatusNotYetValid:
		return "not yet valid"
	}
	return fmt.Sprintf("%d days left", c.DaysLeft)
}

func probeOrDash(s string) string { return probeOr(s, "-") }

// probeLevelExpecting is "DomainValidation, expecting NAME" for headings.
func probeLevelExpecting(level tlscheck.Level, expect string) string {
	if level == tlscheck.DomainValidation && expect != "" {
		return level.String() + ", expecting " + expect
	}
	return level.String()
}
