package tlscheck

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// DANE reasons, named after the TLS-RPT result types (RFC 8460 §4.3) that
// Exchange Online also uses in its 4.7.32x statuses.
const (
	TLSAInvalid             Reason = "tlsa-invalid"
	DANECertificateExpired  Reason = "certificate-expired"
	CertificateHostMismatch Reason = "certificate-host-mismatch"
)

// The statuses Exchange Online records for DANE failures.
const (
	StatusStartTLSNotSupported = "450 4.7.321 starttls-not-supported: Destination mail server must support TLS to receive mail."
	StatusDANEExpired          = "450 4.7.322 certificate-expired: Destination mail server's certificate is expired."
	StatusTLSAInvalid          = "450 4.7.323 tlsa-invalid: The domain failed DANE validation."
	StatusDNSSECInvalid        = "450 4.7.324 dnssec-invalid: Destination domain returned invalid DNSSEC records."
	StatusDANEHostMismatch     = "450 4.7.325 certificate-host-mismatch: Remote certificate MUST have a common name or subject alternative name matching the hostname (DANE)."
)

// TLSA is one TLSA record's data (RFC 6698 §2.1).
type TLSA struct {
	Usage        uint8  `json:"usage"`
	Selector     uint8  `json:"selector"`
	MatchingType uint8  `json:"matching_type"`
	Data         []byte `json:"-"`
}

// String is the record's presentation form: "3 1 1 8cb0…".
func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, hex.EncodeToString(t.Data))
}

// MarshalText writes the presentation form.
func (t TLSA) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Usable reports whether an SMTP client can use the record (RFC 7672
// §3.1.3): usage DANE-TA(2) or DANE-EE(3), selector 0 or 1, matching type
// 0, 1 or 2 with data of the right length. PKIX-TA(0)/PKIX-EE(1) and
// unknown parameters are unusable, not errors.
func (t TLSA) Usable() bool {
	if t.Usage != 2 && t.Usage != 3 || t.Selector > 1 {
		return false
	}
	switch t.MatchingType {
	case 0:
		return len(t.Data) > 0
	case 1:
		return len(t.Data) == sha256.Size
	case 2:
		return len(t.Data) == sha512.Size
	}
	return false
}

// Matches reports whether c is what the record names (selector and
// matching type applied; usage not considered).
func (t TLSA) Matches(c *x509.Certificate) bool {
	if c == nil {
		return false
	}
	d, ok := Association(c, t.Selector, t.MatchingType)
	return ok && bytes.Equal(d, t.Data)
}

// Association computes a certificate's association data for a selector
// and matching type; false for values RFC 6698 does not define.
func Association(c *x509.Certificate, selector, matchingType uint8) ([]byte, bool) {
	var in []byte
	switch selector {
	case 0:
		in = c.Raw
	case 1:
		in = c.RawSubjectPublicKeyInfo
	default:
		return nil, false
	}
	switch matchingType {
	case 0:
		return in, true
	case 1:
		s := sha256.Sum256(in)
		return s[:], true
	case 2:
		s := sha512.Sum512(in)
		return s[:], true
	}
	return nil, false
}

// RecordFor is the TLSA record of usage/selector/matching type for c.
func RecordFor(c *x509.Certificate, usage, selector, matchingType uint8) (TLSA, error) {
	d, ok := Association(c, selector, matchingType)
	if !ok {
		return TLSA{}, fmt.Errorf("selector %d / matching type %d are not defined (selector 0 or 1, matching type 0, 1 or 2)", selector, matchingType)
	}
	return TLSA{Usage: usage, Selector: selector, MatchingType: matchingType, Data: d}, nil
}

// DANEPolicy is an authenticated TLSA RRset the peer must satisfy.
type DANEPolicy struct {
	// Owner is the TLSA owner name, "_25._tcp.mx.example.com.", for
	// messages.
	Owner   string
	Records []TLSA
	// Names are the reference identifiers a DANE-TA(2) match also needs
	// in the certificate (RFC 7672 §3.2.2): the TLSA base domain (the MX
	// host or smart host) and, for MX hosts, the next-hop domain.
	Names []string
}

// DANEResult says how the peer fared against the TLSA records.
type DANEResult struct {
	Owner string `json:"owner"`
	// Records are every record seen, usable or not.
	Records []TLSA `json:"records"`
	// Usable counts the records an SMTP client can use.
	Usable int `json:"usable"`
	// Matched is the record the peer satisfied, nil when none.
	Matched *TLSA `json:"matched,omitempty"`
	// Unauthenticated: no record was usable, so TLS is required but the
	// certificate is not checked (RFC 7672 §2.2).
	Unauthenticated bool `json:"unauthenticated,omitempty"`
	// Presented is the 3 1 1 record of the presented leaf, the record to
	// publish when the publisher meant this certificate.
	Presented string `json:"presented,omitempty"`
}

// verifyDANE judges the peer against the records (RFC 7672 §3, RFC 7671):
// a DANE-EE(3) match of the leaf passes with no name or date check; a
// DANE-TA(2) match of a presented issuer passes when the chain from the
// leaf to it verifies at now and the leaf holds one of the names.
func verifyDANE(r Result, peer []*x509.Certificate, d *DANEPolicy, now time.Time) Result {
	dr := &DANEResult{Owner: d.Owner, Records: d.Records}
	r.DANE = dr
	leaf := peer[0]
	if rec, err := RecordFor(leaf, 3, 1, 1); err == nil {
		dr.Presented = rec.String()
	}
	var usable []TLSA
	for _, t := range d.Records {
		if t.Usable() {
			usable = append(usable, t)
		}
	}
	dr.Usable = len(usable)
	if len(usable) == 0 {
		dr.Unauthenticated = true
		r.OK = true
		r.Detail = fmt.Sprintf("none of the %d TLSA records at %s is usable for SMTP (usages 2 and 3 only, known selectors and matching types): TLS is required, the certificate is not authenticated", len(d.Records), d.Owner)
		return r
	}
	// The digests of each certificate are computed once per
	// selector/matching type, whatever the number of records.
	type dkey struct {
		i    int
		s, m uint8
	}
	cache := map[dkey][]byte{}
	match := func(i int, t TLSA) bool {
		k := dkey{i, t.Selector, t.MatchingType}
		v, ok := cache[k]
		if !ok {
			v, _ = Association(peer[i], t.Selector, t.MatchingType)
			cache[k] = v
		}
		return bytes.Equal(v, t.Data)
	}
	for _, t := range usable {
		if t.Usage == 3 && match(0, t) {
			rec := t
			dr.Matched = &rec
			r.OK = true
			return r
		}
	}
	var taFailure *Result
	for _, t := range usable {
		if t.Usage != 2 {
			continue
		}
		for i := 1; i < len(peer); i++ {
			if peer[i] == nil || !match(i, t) {
				continue
			}
			res := checkTA(r, peer, i, d, now)
			if res.OK {
				rec := t
				res.DANE.Matched = &rec
				return res
			}
			if taFailure == nil {
				taFailure = &res
			}
		}
	}
	if taFailure != nil {
		return *taFailure
	}
	return fail(r, TLSAInvalid, fmt.Sprintf(
		"the certificate (subject %s) matches none of the %d usable TLSA records at %s (%s); its key's record is %s %s — publish that record (keep the old one until senders' caches expire) or present the certificate the records name",
		r.PresentedSubject, len(usable), d.Owner, summarize(usable), d.Owner, dr.Presented))
}

// checkTA verifies the chain from the leaf to the trust anchor peer[ta]
// and the leaf's name.
func checkTA(r Result, peer []*x509.Certificate, ta int, d *DANEPolicy, now time.Time) Result {
	roots := x509.NewCertPool()
	roots.AddCert(peer[ta])
	inter := x509.NewCertPool()
	for _, c := range peer[1:ta] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	_, err := peer[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		if res, bad := checkDates(r, peer[:ta+1], now); bad {
			res.Reason = DANECertificateExpired
			return res
		}
		return fail(r, TLSAInvalid, fmt.Sprintf("the presented certificate %s matches a DANE-TA record at %s but the chain from the leaf to it does not verify: %v", certs.FromX509(peer[ta]).Subject, d.Owner, err))
	}
	for _, n := range d.Names {
		if n != "" && certs.MatchesName(peer[0], strings.TrimSuffix(n, ".")) {
			r.OK = true
			return r
		}
	}
	return fail(r, CertificateHostMismatch, fmt.Sprintf("the certificate chains to the DANE-TA record at %s but holds none of the names %s (subject %s, names %v) — a DANE-TA(2) record also needs the host name in the certificate; add it, or publish a DANE-EE(3 1 1) record instead",
		d.Owner, strings.Join(d.Names, ", "), r.PresentedSubject, r.SANs))
}

func summarize(ts []TLSA) string {
	const show = 4
	var parts []string
	for i, t := range ts {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(ts)-show))
			break
		}
		s := t.String()
		if len(s) > 80 {
			s = s[:80] + "…"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
