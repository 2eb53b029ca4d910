package certs

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Errors callers can test with errors.Is; the wrapping error names the file
// and the fix.
var (
	ErrNoCertificate = errors.New("no certificate found")
	ErrNoPrivateKey  = errors.New("no private key")
	ErrKeyMismatch   = errors.New("key does not match certificate")
	ErrWrongPassword = errors.New("wrong PFX password")
)

// New wraps a parsed chain (leaf first) and its private key (nil when there
// is none), computing Thumbprint, Subject, Issuer, Serial, SANs and
// SelfSigned. It fails when the chain is empty or the key does not belong to
// the leaf.
func New(chain []*x509.Certificate, key any, source string) (*Certificate, error) {
	if len(chain) == 0 || chain[0] == nil {
		return nil, ErrNoCertificate
	}
	leaf := chain[0]
	if key != nil && !keyMatches(leaf, key) {
		return nil, ErrKeyMismatch
	}
	serial, err := SerialFromTBS(leaf.RawTBSCertificate)
	if err != nil {
		return nil, err
	}
	c := &Certificate{
		Leaf:       leaf,
		Source:     source,
		Thumbprint: Thumbprint(leaf.Raw),
		Subject:    WindowsName(leaf.RawSubject),
		Issuer:     WindowsName(leaf.RawIssuer),
		Serial:     serial,
		SANs:       sans(leaf),
		SelfSigned: isSelfSigned(leaf),
	}
	if key != nil {
		c.PrivateKey = key
	}
	for _, x := range chain {
		if x == nil {
			return nil, errors.New("chain holds a nil certificate")
		}
		c.Chain = append(c.Chain, x.Raw)
	}
	return c, nil
}

// FromX509 wraps a certificate without its key, such as one a peer
// presented. It returns nil for nil.
func FromX509(x *x509.Certificate) *Certificate {
	if x == nil {
		return nil
	}
	c, err := New([]*x509.Certificate{x}, nil, "")
	if err != nil {
		// Only a TBS whose serial cannot be read gets here; a certificate
		// parsed by crypto/x509 always has one. Keep what is known.
		return &Certificate{
			Leaf: x, Chain: [][]byte{x.Raw}, Thumbprint: Thumbprint(x.Raw),
			Subject: WindowsName(x.RawSubject), Issuer: WindowsName(x.RawIssuer),
			SANs: sans(x), SelfSigned: isSelfSigned(x),
		}
	}
	return c
}

// Thumbprint is the SHA-1 of der as 40 upper-case hex characters, the form
// Get-ExchangeCertificate shows.
func Thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// SerialFromTBS returns the serial number of a certificate from its raw
// TBSCertificate: the DER INTEGER content bytes in upper-case hex, as Windows
// shows it. A leading 00 (added by DER when the first byte is ≥ 0x80) is
// kept; math/big would drop it.
func SerialFromTBS(rawTBS []byte) (string, error) {
	in := cryptobyte.String(rawTBS)
	var tbs, serial cryptobyte.String
	if !in.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!tbs.ReadASN1(&serial, cbasn1.INTEGER) || len(serial) == 0 {
		return "", errors.New("certificate serial number is not readable")
	}
	return strings.ToUpper(hex.EncodeToString(serial)), nil
}

func sans(x *x509.Certificate) []string {
	out := make([]string, 0, len(x.DNSNames)+len(x.IPAddresses))
	out = append(out, x.DNSNames...)
	for _, ip := range x.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// isSelfSigned reports whether the certificate names itself as issuer and its
// own key verifies its signature. Exchange's "self-signed" certificates are
// not CAs, so CheckSignatureFrom (which insists on a CA parent) cannot be used.
func isSelfSigned(x *x509.Certificate) bool {
	if !bytes.Equal(x.RawSubject, x.RawIssuer) {
		return false
	}
	err := x.CheckSignature(x.SignatureAlgorithm, x.RawTBSCertificate, x.Signature)
	if err == nil {
		return true
	}
	// An algorithm crypto/x509 refuses (MD5) cannot be checked; the names
	// then decide, unless the key identifiers say another key signed it.
	var insecure x509.InsecureAlgorithmError
	if errors.As(err, &insecure) || errors.Is(err, x509.ErrUnsupportedAlgorithm) {
		return len(x.AuthorityKeyId) == 0 || bytes.Equal(x.AuthorityKeyId, x.SubjectKeyId)
	}
	return false
}

// keyMatches reports whether key is the private key of the leaf's public key.
func keyMatches(leaf *x509.Certificate, key any) bool {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return false
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(leaf.PublicKey)
}

// RequireKey returns an error naming the source file and the fix when the
// certificate has no private key and so cannot be presented.
func (c *Certificate) RequireKey() error {
	if c.HasPrivateKey() {
		return nil
	}
	src := c.Source
	if src == "" {
		src = "the certificate " + c.Thumbprint
	}
	return fmt.Errorf("certificate %s: %w in %s — add key_file or a PEM with the key", c.Thumbprint, ErrNoPrivateKey, src)
}
