package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Template describes a certificate to generate, in the terms of
// New-ExchangeCertificate.
type Template struct {
	// Subject is a Windows-form DN such as "CN=SERVER1" or
	// "CN=mail.contoso.com, O=Contoso, C=US" (most specific first). Empty
	// means "CN=" + the first SAN.
	Subject string
	// SANs are DNS names, IP addresses or e-mail addresses. Generate does not
	// add the CN on its own, so tests can make CN-only certificates.
	SANs []string
	// NotBefore defaults to now (to the second); NotAfter to NotBefore plus
	// five years, as New-ExchangeCertificate does.
	NotBefore, NotAfter time.Time
	// KeyType is "rsa2048" (default), "rsa1024" (weak, for tests), "rsa3072",
	// "rsa4096", "ecdsa-p256", "ecdsa-p384" or "ed25519".
	KeyType string
	// IsCA makes a certificate authority (basic constraints CA, key usage
	// certificate and CRL signing, no extended key usage unless asked for).
	IsCA bool
	// Issuer signs the certificate; nil = self-signed. It must have a key.
	Issuer *Certificate
	// ClientAuth and ServerAuth are the extended key usages; both are set
	// when neither is (except for a CA, which then gets none).
	ClientAuth, ServerAuth bool
	// NoExtKeyUsage leaves the extended key usage extension out entirely.
	NoExtKeyUsage bool
	// SerialBytes is an optional fixed serial number, big-endian magnitude.
	// DER adds a leading 00 when the first byte is ≥ 0x80, as Windows shows.
	SerialBytes []byte
	// SignatureAlgorithm overrides the default (SHA-256 based); tests use
	// x509.SHA1WithRSA to make weak signatures.
	SignatureAlgorithm x509.SignatureAlgorithm
}

// Generate creates a certificate and its private key. Without an issuer it
// is self-signed like New-ExchangeCertificate's default (RSA 2048, SHA-256,
// five years, server and client authentication). The chain of an issued
// certificate is the leaf followed by the issuer's chain minus its
// self-signed root, which is what a server sends.
func Generate(t Template) (*Certificate, error) {
	subject := t.Subject
	if strings.TrimSpace(subject) == "" {
		if len(t.SANs) == 0 {
			return nil, errors.New("generate certificate: give a subject or at least one SAN")
		}
		subject = "CN=" + t.SANs[0]
	}
	dn, err := ParseDN(subject)
	if err != nil {
		return nil, fmt.Errorf("generate certificate: subject: %w", err)
	}
	rawSubject, err := EncodeDN(dn)
	if err != nil {
		return nil, fmt.Errorf("generate certificate: subject %q: %w", subject, err)
	}
	key, err := generateKey(t.KeyType)
	if err != nil {
		return nil, fmt.Errorf("generate certificate: %w", err)
	}
	serial, err := serialNumber(t.SerialBytes)
	if err != nil {
		return nil, fmt.Errorf("generate certificate: %w", err)
	}

	notBefore := t.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now().Truncate(time.Second)
	}
	notAfter := t.NotAfter
	if notAfter.IsZero() {
		notAfter = notBefore.AddDate(5, 0, 0)
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("generate certificate: NotAfter %s is not after NotBefore %s", notAfter, notBefore)
	}

	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            rawSubject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  t.IsCA,
		SignatureAlgorithm:    t.SignatureAlgorithm,
	}
	if cn := firstValue(dn, "CN"); cn != "" {
		tmpl.Subject.CommonName = cn
	}
	for _, san := range t.SANs {
		switch {
		case net.ParseIP(san) != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(san))
		case strings.Contains(san, "@"):
			tmpl.EmailAddresses = append(tmpl.EmailAddresses, san)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, san)
		}
	}
	if t.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if _, ok := key.(*rsa.PrivateKey); ok {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
	}
	if !t.NoExtKeyUsage {
		server, client := t.ServerAuth, t.ClientAuth
		if !server && !client && !t.IsCA {
			server, client = true, true
		}
		if server {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		}
		if client {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		}
	}

	parent, signer := tmpl, key.(crypto.Signer)
	if t.Issuer != nil {
		if t.Issuer.Leaf == nil {
			return nil, errors.New("generate certificate: issuer has no certificate")
		}
		s, ok := t.Issuer.PrivateKey.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("generate certificate: issuer %s has no private key to sign with", t.Issuer.Subject)
		}
		parent, signer = t.Issuer.Leaf, s
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.(crypto.Signer).Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("generate certificate %s: %w", subject, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("generate certificate %s: parse result: %w", subject, err)
	}
	chain := []*x509.Certificate{leaf}
	if t.Issuer != nil {
		for _, raw := range t.Issuer.Chain {
			c, err := x509.ParseCertificate(raw)
			if err != nil {
				return nil, fmt.Errorf("generate certificate %s: issuer chain: %w", subject, err)
			}
			if !isSelfSigned(c) {
				chain = append(chain, c)
			}
		}
	}
	return New(chain, key, "")
}

func firstValue(dn DN, typ string) string {
	for _, rdn := range dn {
		for _, a := range rdn {
			if a.Type == typ && !a.Hex {
				return a.Value
			}
		}
	}
	return ""
}

// KeyTypes lists the key types Generate accepts.
var KeyTypes = []string{"rsa2048", "rsa1024", "rsa3072", "rsa4096", "ecdsa-p256", "ecdsa-p384", "ed25519"}

func generateKey(kind string) (any, error) {
	switch strings.ToLower(kind) {
	case "", "rsa2048", "rsa-2048", "rsa":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "rsa1024":
		return rsa.GenerateKey(rand.Reader, 1024)
	case "rsa3072", "rsa-3072":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "rsa4096", "rsa-4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	case "ecdsa-p256", "ecdsa", "p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384", "p384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q (use one of %s)", kind, strings.Join(KeyTypes, ", "))
}

func serialNumber(fixed []byte) (*big.Int, error) {
	if len(fixed) > 0 {
		if len(fixed) > 20 {
			return nil, fmt.Errorf("serial number of %d bytes is longer than the 20 RFC 5280 allows", len(fixed))
		}
		n := new(big.Int).SetBytes(fixed)
		if n.Sign() == 0 {
			return nil, errors.New("serial number must not be zero")
		}
		return n, nil
	}
	// 16 random bytes like Windows; about half of them start with a byte
	// ≥ 0x80 and so get the leading 00 that only a raw reading shows.
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	b[len(b)-1] |= 1 // never zero
	return new(big.Int).SetBytes(b), nil
}

// EncodeDN encodes a DN (Windows order, most specific first) as a DER Name,
// reversing it to DER order. Country and serial-number values are
// PrintableString, e-mail and DC values IA5String, others PrintableString
// when they fit and UTF8String otherwise; hex values are written as given.
func EncodeDN(dn DN) ([]byte, error) {
	var b cryptobyte.Builder
	var firstErr error
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for i := len(dn) - 1; i >= 0; i-- {
			rdn := dn[i]
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				for _, a := range rdn {
					oid, err := parseOID(oidForType(a.Type))
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("attribute %s: %w", a.Type, err)
						return
					}
					var raw []byte
					if a.Hex {
						raw, err = hex.DecodeString(a.Value)
						if err == nil {
							var s cryptobyte.String = raw
							var elem cryptobyte.String
							var tag cbasn1.Tag
							if !s.ReadAnyASN1Element(&elem, &tag) || !s.Empty() {
								err = errors.New("not one DER element")
							}
						}
						if err != nil && firstErr == nil {
							firstErr = fmt.Errorf("attribute %s: hex value #%s: %w", a.Type, a.Value, err)
							return
						}
					}
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oid)
						if raw != nil {
							b.AddBytes(raw)
							return
						}
						b.AddASN1(stringTag(a.Type, a.Value), func(b *cryptobyte.Builder) {
							b.AddBytes([]byte(a.Value))
						})
					})
				}
			})
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return b.Bytes()
}

func stringTag(typ, v string) cbasn1.Tag {
	ascii := true
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			ascii = false
		}
	}
	switch {
	case (typ == "E" || typ == "DC") && ascii:
		return cbasn1.IA5String
	case isPrintable(v):
		return cbasn1.PrintableString
	case utf8.ValidString(v):
		return cbasn1.UTF8String
	}
	return cbasn1.UTF8String
}

// isPrintable reports whether v fits ASN.1 PrintableString.
func isPrintable(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(" '()+,-./:=?", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("OID %s is not valid", s)
		}
		oid[i] = n
	}
	if len(oid) < 2 || oid[0] > 2 || (oid[0] < 2 && oid[1] >= 40) {
		return nil, fmt.Errorf("OID %s is not valid", s)
	}
	return oid, nil
}

// GenerateKey creates a private key of one of KeyTypes (also "rsa-2048",
// "rsa-3072" spellings).
func GenerateKey(kind string) (crypto.Signer, error) {
	k, err := generateKey(kind)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %s cannot sign", kind)
	}
	return s, nil
}
