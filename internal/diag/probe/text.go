package probe

import (
	"fmt"
	"io"
	"strings"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Marks of the text reports (shared with connector validation).
const (
	MarkOK   = "✓"
	MarkBad  = "✗"
	MarkWarn = "!"
	MarkInfo = "-"
)

// TextWriter collects the first write error so the rendering code stays
// linear. Connector validation renders its reports with it too, so a probe
// inside a validation reads the same as on its own.
type TextWriter struct {
	w   io.Writer
	err error
}

// NewTextWriter writes to w.
func NewTextWriter(w io.Writer) *TextWriter { return &TextWriter{w: w} }

// Err is the first write error, if any.
func (p *TextWriter) Err() error { return p.err }

// Printf writes unless an earlier write failed.
func (p *TextWriter) Printf(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

// WriteText renders the report for people: the verdict first, then the
// connection, the TLS session, each certificate, the findings and the fix.
func (r *Report) WriteText(w io.Writer) error {
	pw := &TextWriter{w: w}
	r.Render(pw)
	if pw.err != nil {
		return fmt.Errorf("write probe report: %w", pw.err)
	}
	return nil
}

// Render writes the report's text form to p (WriteText without the error).
func (r *Report) Render(p *TextWriter) {
	r.writeVerdictLine(p)
	p.Printf("\n")
	p.Printf("Probe     %s\n", probeEndpoint(r))
	if r.Source != "" {
		p.Printf("From      %s\n", r.Source)
	}
	p.Printf("Policy    %s\n", PolicyText(r.Policy, r.Expect))
	p.Printf("Time      %s\n", r.Time.UTC().Format("2006-01-02 15:04:05Z"))
	if len(r.Addresses) > 1 {
		p.Printf("Addresses %s\n", strings.Join(r.Addresses, ", "))
	}
	r.writeDNS(p)

	if r.Stage >= send.StageGreeting {
		p.Printf("\nConnection\n")
		p.Printf("  Banner      %s\n", probeOrDash(r.Banner))
		p.Printf("  EHLO        %s\n", r.EHLO)
		if len(r.Extensions) > 0 {
			p.Printf("  Extensions  %s\n", strings.Join(r.Extensions, ", "))
		}
		if r.Banner != "" && len(r.Extensions) > 0 || r.StartTLSOffered {
			if r.StartTLSOffered {
				p.Printf("  %s STARTTLS offered\n", MarkOK)
			} else {
				p.Printf("  %s STARTTLS not offered\n", MarkBad)
			}
		}
	}

	if t := r.TLS; t != nil {
		p.Printf("\nTLS\n")
		switch {
		case t.Version == "":
			p.Printf("  %s Handshake did not complete\n", MarkBad)
		case t.Legacy:
			p.Printf("  %s Protocol  %s (older than TLS 1.2)\n", MarkWarn, t.Version)
		default:
			p.Printf("  %s Protocol  %s\n", MarkOK, t.Version)
		}
		if t.CipherSuite != "" {
			p.Printf("  Cipher      %s\n", t.CipherSuite)
		}
		p.Printf("  SNI         %s\n", probeOrDash(t.SNI))
		switch {
		case t.ClientCertificateRequested && t.ClientCertificate != nil:
			p.Printf("  Client certificate requested; presented %s (thumbprint %s)\n", t.ClientCertificate.Subject, t.ClientCertificate.Thumbprint)
		case t.ClientCertificateRequested:
			p.Printf("  Client certificate requested; none presented\n")
		default:
			p.Printf("  Client certificate not requested\n")
		}
		if len(t.ExtensionsAfterTLS) > 0 {
			p.Printf("  Extensions under TLS  %s\n", strings.Join(t.ExtensionsAfterTLS, ", "))
		}
		if len(t.Chain) > 0 {
			p.Printf("\nCertificates presented (leaf first)\n")
			for i, c := range t.Chain {
				WriteCertificate(p, fmt.Sprintf("  #%d ", i+1), c)
			}
		}
	}

	p.Printf("\nVerdict (%s)\n", PolicyText(r.Policy, r.Expect))
	mark := MarkOK
	if r.Verdict.Result != Pass {
		mark = MarkBad
	}
	p.Printf("  %s %s\n", mark, r.Verdict.Summary)
	if r.Verdict.Detail != "" {
		p.Printf("  The sender records: %s\n", r.Verdict.Detail)
	}

	if len(r.Findings) > 0 {
		p.Printf("\nFindings\n")
		for _, f := range r.Findings {
			m := MarkInfo
			if f.Severity == "warning" {
				m = MarkWarn
			}
			p.Printf("  %s %s\n", m, f.Text)
		}
	}

	if r.Fix != nil {
		r.Fix.Render(p)
	}
}

// Render writes the fix: numbered steps, commands under their step,
// then the candidates judged.
func (f *Fix) Render(p *TextWriter) {
	p.Printf("\nFix\n")
	n := 0
	for _, s := range f.Steps {
		// Command lines belong to the step before them.
		if strings.HasPrefix(s, "Exchange: ") || strings.HasPrefix(s, "mailflow: ") {
			p.Printf("       %s\n", s)
			continue
		}
		n++
		p.Printf("  %2d. %s\n", n, s)
	}
	if len(f.Candidates) > 0 {
		p.Printf("\nCandidates (best first)\n")
		for _, c := range f.Candidates {
			m := MarkBad
			if c.Accepted {
				m = MarkOK
			}
			p.Printf("  %s %s  (thumbprint %s)\n", m, c.Certificate.Subject, c.Certificate.Thumbprint)
			p.Printf("      %s\n", c.Note)
		}
	}
}

// writeVerdictLine is the first line: the result and the status.
func (r *Report) writeVerdictLine(p *TextWriter) {
	v := r.Verdict
	switch v.Result {
	case Pass:
		p.Printf("%s PASS  %s accepted by a sender with %s\n", MarkOK, probeEndpoint(r), PolicyText(r.Policy, r.Expect))
	case Fail:
		p.Printf("%s FAIL  %s\n", MarkBad, v.Status)
		if v.Message != "" {
			p.Printf("        [Message=%s]\n", v.Message)
		}
	default:
		p.Printf("%s COULD NOT TEST  %s\n", MarkBad, probeOr(v.Status, v.Summary))
		if v.Message != "" {
			p.Printf("        [Message=%s]\n", v.Message)
		}
	}
}

// WriteCertificate renders one certificate, Get-ExchangeCertificate
// style.
func WriteCertificate(p *TextWriter, lead string, c certs.Info) {
	pad := strings.Repeat(" ", len([]rune(lead)))
	p.Printf("%s%s\n", lead, c.Subject)
	issuer := c.Issuer
	if c.SelfSigned {
		issuer += " (self-signed)"
	}
	p.Printf("%sIssuer      %s\n", pad, issuer)
	p.Printf("%sThumbprint  %s\n", pad, c.Thumbprint)
	p.Printf("%sSerial      %s\n", pad, c.Serial)
	p.Printf("%sSANs        %s\n", pad, probeOrDash(strings.Join(c.SANs, "; ")))
	p.Printf("%sValid       %s → %s UTC (%s)\n", pad, c.NotBefore.UTC().Format("2006-01-02 15:04"), c.NotAfter.UTC().Format("2006-01-02 15:04"), DaysLeft(c))
	p.Printf("%sKey         %s, %s\n", pad, c.KeyAlgorithm, c.SignatureAlgorithm)
	p.Printf("%sName        %s\n", pad, c.Name)
}

// DaysLeft is "N days left", "expired N days ago" or "not yet valid".
func DaysLeft(c certs.Info) string {
	switch c.Status {
	case certs.StatusExpired:
		return fmt.Sprintf("expired %d days ago", -c.DaysLeft)
	case certs.StatusNotYetValid:
		return "not yet valid"
	}
	return fmt.Sprintf("%d days left", c.DaysLeft)
}

func probeOrDash(s string) string { return probeOr(s, "-") }

// PolicyText is "DomainValidation, expecting NAME" for headings.
func PolicyText(level tlscheck.Level, expect string) string {
	if level == tlscheck.DomainValidation && expect != "" {
		return level.String() + ", expecting " + expect
	}
	return level.String()
}
