package probe

import (
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// CertificateCandidate is one certificate judged as a receive connector's
// certificate for a sender with a given policy.
type CertificateCandidate struct {
	Cert        *certs.Certificate `json:"-"`
	Certificate certs.Info         `json:"certificate"`
	// Accepted: a sender with the policy accepts this certificate.
	Accepted bool            `json:"accepted"`
	Reason   tlscheck.Reason `json:"reason,omitempty"` // why not, when not accepted
	// Note is one sentence: why it was accepted or refused, and anything
	// that stands in the way of pinning it.
	Note string `json:"note"`
	// Eligible: it can be a connector certificate (has its private key here
	// and is not a CA certificate). Keyless certificates are still judged:
	// the server that holds the key may present them.
	Eligible bool `json:"eligible"`
}

// EvaluateCertificates judges every certificate of store as the certificate
// a receive connector would present to a sender with level expecting expect
// (tlscheck.Verify with the certificate's own chain against roots at now),
// and returns them best first: accepted ones, then refused ones, each group
// ranked by RecommendCertificate's preferences. CA certificates are listed
// last and never accepted.
func EvaluateCertificates(store *certs.Store, expect string, level tlscheck.Level, roots *x509.CertPool, now time.Time) []CertificateCandidate {
	if store == nil {
		return nil
	}
	var out []CertificateCandidate
	for _, c := range store.All() {
		if c == nil || c.Leaf == nil {
			continue
		}
		cand := CertificateCandidate{Cert: c, Certificate: c.Describe(now)}
		isCA := c.Leaf.BasicConstraintsValid && c.Leaf.IsCA
		switch {
		case isCA:
			cand.Reason = tlscheck.InvalidUsage
			cand.Note = "a CA certificate, not a server certificate"
		default:
			cand.Eligible = c.HasPrivateKey()
			res := tlscheck.Verify(Chain(c), tlscheck.Policy{
				Level: level, ExpectedName: expect, Roots: roots, Now: now, Usage: x509.ExtKeyUsageServerAuth,
			})
			cand.Accepted, cand.Reason = res.OK, res.Reason
			if res.OK {
				cand.Note = probeAcceptedNote(c, expect, level, now)
			} else {
				cand.Note = string(res.Reason) + ": " + strings.TrimSuffix(res.Detail, ".")
			}
			if !cand.Eligible {
				cand.Note += fmt.Sprintf("; its private key is not in %s — the server that presents it must hold the key", probeSourceOf(c))
			}
		}
		out = append(out, cand)
	}
	sort.SliceStable(out, func(i, j int) bool { return probeCandidateBefore(out[i], out[j], expect) })
	return out
}

// RecommendCertificate names the certificate of store a receive connector
// should present so that a sender with level expecting expect accepts it,
// judged against roots at now, and the reasons (one line per certificate,
// best first). nil when none qualifies.
//
// Preferences, in order: accepted; with its private key; CA-issued over
// self-signed; holding expect itself rather than through a wildcard; the
// latest NotAfter; the newest NotBefore. Because a connector pins a
// certificate by issuer and subject (<I>…<S>…), not by thumbprint, the
// recommendation is the certificate that pin actually selects: a newer
// certificate with the same issuer and subject wins (a renewal), and a
// pin that would select a refused certificate is passed over.
func RecommendCertificate(store *certs.Store, expect string, level tlscheck.Level, roots *x509.CertPool, now time.Time) (*certs.Certificate, []string) {
	cands := EvaluateCertificates(store, expect, level, roots, now)
	best, notes := probePickRecommended(store, cands, now)
	reasons := make([]string, 0, len(cands)+len(notes))
	reasons = append(reasons, notes...)
	for _, c := range cands {
		verdict := "refused"
		if c.Accepted {
			verdict = "accepted"
		}
		reasons = append(reasons, fmt.Sprintf("%s (thumbprint %s): %s — %s", c.Certificate.Subject, c.Certificate.Thumbprint, verdict, c.Note))
	}
	return best, reasons
}

// probePickRecommended applies the pin rule to the ranked candidates. notes
// explain a candidate passed over or replaced.
func probePickRecommended(store *certs.Store, cands []CertificateCandidate, now time.Time) (*certs.Certificate, []string) {
	accepted := map[string]bool{}
	for _, c := range cands {
		if c.Accepted {
			accepted[c.Cert.Thumbprint] = true
		}
	}
	var notes []string
	for _, c := range cands {
		if !c.Accepted {
			break // ranked: no accepted certificate follows
		}
		if !c.Eligible {
			return c.Cert, notes
		}
		sel := store.Select(certs.Request{CertificateName: c.Cert.Name(), Now: now})
		switch {
		case sel.Cert == nil || sel.Cert.Thumbprint == c.Cert.Thumbprint:
			return c.Cert, notes
		case accepted[sel.Cert.Thumbprint]:
			notes = append(notes, fmt.Sprintf("pinning %s selects %s (thumbprint %s, the newest with that issuer and subject), which is accepted too",
				c.Cert.Name(), sel.Cert.Subject, sel.Cert.Thumbprint))
			return sel.Cert, notes
		default:
			notes = append(notes, fmt.Sprintf("%s (thumbprint %s) is accepted but cannot be pinned alone: %s also selects %s (thumbprint %s), which is refused — remove that certificate or reissue one of them",
				c.Cert.Subject, c.Cert.Thumbprint, c.Cert.Name(), sel.Cert.Subject, sel.Cert.Thumbprint))
		}
	}
	return nil, notes
}

// probeCandidateBefore ranks candidates (see RecommendCertificate).
func probeCandidateBefore(a, b CertificateCandidate, expect string) bool {
	if a.Accepted != b.Accepted {
		return a.Accepted
	}
	aCA, bCA := probeIsCA(a.Cert), probeIsCA(b.Cert)
	if aCA != bCA {
		return bCA
	}
	if a.Eligible != b.Eligible {
		return a.Eligible
	}
	if a.Cert.SelfSigned != b.Cert.SelfSigned {
		return b.Cert.SelfSigned
	}
	ae, be := probeHoldsExactly(a.Cert, expect), probeHoldsExactly(b.Cert, expect)
	if ae != be {
		return ae
	}
	al, bl := a.Cert.Leaf, b.Cert.Leaf
	if !al.NotAfter.Equal(bl.NotAfter) {
		return al.NotAfter.After(bl.NotAfter)
	}
	if !al.NotBefore.Equal(bl.NotBefore) {
		return al.NotBefore.After(bl.NotBefore)
	}
	return false
}

func probeIsCA(c *certs.Certificate) bool { return c.Leaf.BasicConstraintsValid && c.Leaf.IsCA }

// probeHoldsExactly: expect is the CN or a SAN as written, not matched through a
// wildcard.
func probeHoldsExactly(c *certs.Certificate, expect string) bool {
	want := strings.TrimSuffix(strings.ToLower(expect), ".")
	if want == "" {
		return false
	}
	if strings.EqualFold(c.Leaf.Subject.CommonName, want) {
		return true
	}
	for _, n := range c.Leaf.DNSNames {
		if strings.EqualFold(strings.TrimSuffix(n, "."), want) {
			return true
		}
	}
	return false
}

func probeAcceptedNote(c *certs.Certificate, expect string, level tlscheck.Level, now time.Time) string {
	days := c.Describe(now).DaysLeft
	issued := "issued by " + c.Issuer
	if c.SelfSigned {
		issued = "self-signed (trusted here)"
	}
	switch level {
	case tlscheck.DomainValidation:
		how := "holds " + expect
		if !probeHoldsExactly(c, expect) {
			how = "covers " + expect + " through a wildcard"
		}
		return fmt.Sprintf("%s, %s, %d days left", how, issued, days)
	case tlscheck.CertificateValidation:
		return fmt.Sprintf("chains to a trusted root, %s, %d days left", issued, days)
	}
	return fmt.Sprintf("any certificate is accepted at EncryptionOnly; %s, %d days left", issued, days)
}

// Chain parses the certificate's chain as a server would send it.
func Chain(c *certs.Certificate) []*x509.Certificate {
	out := []*x509.Certificate{c.Leaf}
	for _, der := range c.Chain[min(1, len(c.Chain)):] {
		if x, err := x509.ParseCertificate(der); err == nil {
			out = append(out, x)
		}
	}
	return out
}

func probeSourceOf(c *certs.Certificate) string {
	if c.Source != "" {
		return c.Source
	}
	return "the store"
}
