package tlscheck

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// Reason says why a peer failed; the names are Exchange's where Exchange has
// one.
type Reason string

// The reasons. InvalidUsage and InvalidChain are mailflow's own, for chains
// that fail for reasons Exchange folds into other messages.
const (
	ReasonOK               Reason = ""
	SubjectMismatch        Reason = "SubjectMismatch"
	CertificateExpired     Reason = "CertificateExpired"
	CertificateNotYetValid Reason = "CertificateNotYetValid"
	UntrustedRoot          Reason = "UntrustedRoot"
	IncompleteChain        Reason = "IncompleteChain"
	WeakKey                Reason = "WeakKey"
	WeakSignature          Reason = "WeakSignature"
	NoCertificate          Reason = "NoCertificate"
	InvalidUsage           Reason = "InvalidUsage" // EKU excludes the requested usage
	InvalidChain           Reason = "InvalidChain" // e.g. an issuer that is not a CA
)

// MinRSABits is the smallest RSA key accepted at CertificateValidation.
const MinRSABits = 2048

// Policy is what the verifying side demands.
type Policy struct {
	Level Level
	// ExpectedName is a host name or "*.domain" (TlsDomain). Empty with
	// DomainValidation is a caller bug and fails as SubjectMismatch.
	ExpectedName string
	// Roots are the trusted roots; nil = the system roots.
	Roots *x509.CertPool
	// Now is the time of the check; zero = time.Now().
	Now time.Time
	// Usage is ExtKeyUsageServerAuth for senders and the probe,
	// ExtKeyUsageClientAuth for mutual TLS on receive. The zero value
	// (ExtKeyUsageAny) checks nothing. A leaf without any EKU passes.
	Usage x509.ExtKeyUsage
	// DANE, when set, replaces the level's judgement: the peer must
	// satisfy the authenticated TLSA records (RFC 7672 §3).
	DANE *DANEPolicy
}

// Result is the verdict of Verify.
type Result struct {
	OK               bool         `json:"ok"`
	Level            Level        `json:"level"`
	Reason           Reason       `json:"reason,omitempty"`
	Expected         string       `json:"expected,omitempty"`
	PresentedSubject string       `json:"presented_subject,omitempty"` // Windows form
	SANs             []string     `json:"sans,omitempty"`
	Thumbprint       string       `json:"thumbprint,omitempty"`
	Detail           string       `json:"detail,omitempty"` // a sentence for people, with the fix
	Chain            []certs.Info `json:"chain,omitempty"`  // as presented, leaf first
	// DANE is the TLSA judgement when the policy had one.
	DANE *DANEResult `json:"dane,omitempty"`
}

// Status is the SMTP status a validating sender reports: "" when OK,
// otherwise "450 4.7.320 Certificate validation failed".
func (r Result) Status() string {
	if r.OK {
		return ""
	}
	if r.DANE != nil {
		switch r.Reason {
		case DANECertificateExpired, CertificateExpired, CertificateNotYetValid:
			return StatusDANEExpired
		case CertificateHostMismatch:
			return StatusDANEHostMismatch
		}
		return StatusTLSAInvalid
	}
	return "450 4.7.320 Certificate validation failed"
}

// Message is the Exchange-style reason text, e.g. "SubjectMismatch Expected
// Subject: mail.contoso.com. Presented Subject: CN=SERVER1. Thumbprint:
// 4C0F…"; "" when OK.
func (r Result) Message() string {
	if r.OK {
		return ""
	}
	if r.Reason == NoCertificate {
		return string(NoCertificate) + " The remote host presented no certificate."
	}
	if r.DANE != nil {
		return r.Detail
	}
	msg := string(r.Reason)
	if r.Expected != "" {
		msg += " Expected Subject: " + r.Expected + "."
	}
	return msg + " Presented Subject: " + r.PresentedSubject + ". Thumbprint: " + r.Thumbprint
}

// Verify judges the certificates a peer presented (leaf first, as
// tls.ConnectionState.PeerCertificates) against the policy.
//
// Checks run in this order and the first failure is the reason:
//
//  1. no certificate → NoCertificate (at every level);
//     with Policy.DANE the TLSA records decide instead of the level (see
//     verifyDANE: DANE-EE ignores names and dates, DANE-TA does not);
//  2. EncryptionOnly → OK;
//  3. DomainValidation: the expected name in the CN or a SAN, else
//     SubjectMismatch. It comes before the chain because Exchange Online
//     reports SubjectMismatch for an on-premises connector's self-signed
//     CN=SERVER1 certificate, not an untrusted root;
//  4. the leaf's dates at Policy.Now → CertificateNotYetValid /
//     CertificateExpired, then those of the presented intermediates;
//  5. an RSA key under 2048 bits anywhere in the presented chain → WeakKey;
//  6. a SHA-1 or MD5 signature on a presented certificate that is not a
//     self-signed root → WeakSignature (crypto/x509 would otherwise call it
//     an unknown authority);
//  7. a chain to Policy.Roots through the presented intermediates:
//     unknown authority → UntrustedRoot when the presented chain ends in a
//     self-signed certificate or in one whose issuer is a trusted root (so
//     something else is wrong), IncompleteChain when its issuer is nowhere to
//     be found (a missing intermediate, or a private CA not in trust);
//     the requested usage excluded → InvalidUsage; anything else
//     → InvalidChain. Weak keys and signatures in the verified chain (roots
//     excepted) are checked again.
func Verify(peer []*x509.Certificate, p Policy) Result {
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	r := Result{Level: p.Level}
	if p.Level == DomainValidation {
		r.Expected = p.ExpectedName
	}
	if p.DANE != nil {
		r.DANE = &DANEResult{Owner: p.DANE.Owner, Records: p.DANE.Records}
	}
	if len(peer) == 0 || peer[0] == nil {
		return fail(r, NoCertificate, "the remote host presented no certificate")
	}
	leaf := peer[0]
	lc := certs.FromX509(leaf)
	r.PresentedSubject, r.SANs, r.Thumbprint = lc.Subject, lc.SANs, lc.Thumbprint
	for _, c := range peer {
		if c != nil {
			r.Chain = append(r.Chain, certs.FromX509(c).Describe(now))
		}
	}

	if p.DANE != nil {
		return verifyDANE(r, peer, p.DANE, now)
	}
	if p.Level == EncryptionOnly {
		r.OK = true
		return r
	}

	if p.Level == DomainValidation {
		if p.ExpectedName == "" {
			return fail(r, SubjectMismatch, "DomainValidation needs an expected name (tls_domain or the recipient domain) but none was given — this is a configuration or program error")
		}
		if !certs.MatchesName(leaf, p.ExpectedName) {
			return fail(r, SubjectMismatch, fmt.Sprintf(
				"the certificate (subject %s, names %v) does not hold %s — present a certificate with %s in its subject or SANs (set tls_certificate_name on the receive connector), or change tls_domain",
				r.PresentedSubject, r.SANs, p.ExpectedName, p.ExpectedName))
		}
	}

	if res, bad := checkDates(r, peer, now); bad {
		return res
	}
	for _, c := range peer {
		if c == nil {
			continue
		}
		if bits := rsaBits(c); bits > 0 && bits < MinRSABits {
			return fail(r, WeakKey, fmt.Sprintf("certificate %s has a %d-bit RSA key; at least %d bits are required — reissue it with a stronger key",
				certs.FromX509(c).Subject, bits, MinRSABits))
		}
		if weakSignature(c) && !isSelfSigned(c) {
			return fail(r, WeakSignature, fmt.Sprintf("certificate %s is signed with %s, which is no longer accepted — reissue it with SHA-256",
				certs.FromX509(c).Subject, c.SignatureAlgorithm))
		}
	}
	return checkChain(r, peer, p, now)
}

func fail(r Result, reason Reason, detail string) Result {
	r.OK, r.Reason, r.Detail = false, reason, detail
	return r
}

func checkDates(r Result, peer []*x509.Certificate, now time.Time) (Result, bool) {
	for i, c := range peer {
		if c == nil {
			continue
		}
		what := "the certificate"
		if i > 0 {
			what = "the intermediate " + certs.FromX509(c).Subject
		}
		switch {
		case now.Before(c.NotBefore):
			return fail(r, CertificateNotYetValid, fmt.Sprintf("%s is not valid before %s — check the clocks or wait for it", what, c.NotBefore.UTC().Format(time.RFC3339))), true
		case now.After(c.NotAfter):
			return fail(r, CertificateExpired, fmt.Sprintf("%s expired on %s — renew it", what, c.NotAfter.UTC().Format(time.RFC3339))), true
		}
	}
	return r, false
}

func checkChain(r Result, peer []*x509.Certificate, p Policy, now time.Time) Result {
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	usage := p.Usage
	chains, err := peer[0].Verify(x509.VerifyOptions{
		Roots:         p.Roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return chainFailure(r, peer, p, now, err)
	}
	// Weak keys or signatures may hide in intermediates the peer did not
	// send but that the pool supplied.
	for _, chain := range chains[:1] {
		for i, c := range chain {
			root := i == len(chain)-1
			if bits := rsaBits(c); bits > 0 && bits < MinRSABits && !root {
				return fail(r, WeakKey, fmt.Sprintf("chain certificate %s has a %d-bit RSA key", certs.FromX509(c).Subject, bits))
			}
			if !root && weakSignature(c) {
				return fail(r, WeakSignature, fmt.Sprintf("chain certificate %s is signed with %s", certs.FromX509(c).Subject, c.SignatureAlgorithm))
			}
		}
	}
	r.OK = true
	return r
}

func chainFailure(r Result, peer []*x509.Certificate, p Policy, now time.Time, err error) Result {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		last := presentedEnd(peer)
		lastName := certs.FromX509(last).Subject
		if isSelfSigned(last) {
			return fail(r, UntrustedRoot, fmt.Sprintf("the chain ends in the self-signed certificate %s, which is not a trusted root — add it (or its CA) under trust.ca_files, or present a certificate from a public CA", lastName))
		}
		if issuerTrusted(last, p, now) {
			return fail(r, UntrustedRoot, fmt.Sprintf("the chain to a trusted root does not verify: %v", err))
		}
		return fail(r, IncompleteChain, fmt.Sprintf("the issuer of %s (%s) was neither sent by the remote host nor found among the trusted roots — the server must send its intermediate certificates, or the issuing CA must be added under trust.ca_files",
			lastName, certs.FromX509(last).Issuer))
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			return fail(r, CertificateExpired, fmt.Sprintf("a certificate of the chain is outside its validity period: %v", err))
		case x509.IncompatibleUsage:
			return fail(r, InvalidUsage, fmt.Sprintf("the certificate is not valid for %s — reissue it with that extended key usage", usageName(p.Usage)))
		}
		return fail(r, InvalidChain, fmt.Sprintf("the chain does not verify: %v", err))
	}
	return fail(r, InvalidChain, fmt.Sprintf("the chain does not verify: %v", err))
}

// presentedEnd follows issuer links from the leaf through the presented
// certificates and returns the last one reached.
func presentedEnd(peer []*x509.Certificate) *x509.Certificate {
	cur := peer[0]
	used := map[*x509.Certificate]bool{cur: true}
	for steps := 0; steps < len(peer) && !isSelfSigned(cur); steps++ {
		var next *x509.Certificate
		for _, c := range peer[1:] {
			if c != nil && !used[c] && bytes.Equal(cur.RawIssuer, c.RawSubject) &&
				c.CheckSignature(cur.SignatureAlgorithm, cur.RawTBSCertificate, cur.Signature) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		used[next] = true
		cur = next
	}
	return cur
}

// issuerTrusted reports whether c's issuer is in the root pool: c alone
// verifies against the roots (any usage, at now).
func issuerTrusted(c *x509.Certificate, p Policy, now time.Time) bool {
	_, err := c.Verify(x509.VerifyOptions{Roots: p.Roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	var unknown x509.UnknownAuthorityError
	return !errors.As(err, &unknown)
}

func rsaBits(c *x509.Certificate) int {
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok {
		return k.N.BitLen()
	}
	return 0
}

func weakSignature(c *x509.Certificate) bool {
	switch c.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		return true
	}
	return false
}

func isSelfSigned(c *x509.Certificate) bool { return certs.FromX509(c).SelfSigned }

func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "server authentication"
	case x509.ExtKeyUsageClientAuth:
		return "client authentication"
	}
	return fmt.Sprintf("extended key usage %d", u)
}
