// Package certs owns mailflow's certificate store: loading PEM and PFX files,
// generating Exchange-style self-signed and CA-issued certificates, presenting
// them the way Windows does (subject and issuer strings, SHA-1 thumbprints,
// raw serials, <I>issuer<S>subject names), matching names (CN, SAN, left-most
// wildcard) and choosing the certificate a connector presents (Select,
// SelectClient) — by mailflow's own rules, which are Exchange 2013's, or by
// those of another Exchange release for predictions (Version; the sources
// are in its doc).
package certs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"time"
)

// Certificate is one certificate of the store with its chain and key.
type Certificate struct {
	Leaf       *x509.Certificate
	Chain      [][]byte          // DER, leaf first, then intermediates
	PrivateKey crypto.PrivateKey // nil when the file had no key
	Source     string            // file it was loaded from

	Thumbprint string   // SHA-1 of the DER leaf, 40 upper-case hex
	Subject    string   // Windows form, e.g. "CN=mail.contoso.com, O=Contoso, C=US"
	Issuer     string   // Windows form
	Serial     string   // raw DER INTEGER bytes, upper-case hex, leading 00 kept
	SANs       []string // DNS names (and IP addresses as text)
	SelfSigned bool
}

// HasPrivateKey reports whether the certificate can be presented.
func (c *Certificate) HasPrivateKey() bool { return c.PrivateKey != nil }

// Name is the Exchange TlsCertificateName value "<I>issuer<S>subject".
func (c *Certificate) Name() string { return FormatName(c.Issuer, c.Subject) }

// TLS returns the certificate as crypto/tls presents it.
func (c *Certificate) TLS() *tls.Certificate {
	return &tls.Certificate{Certificate: c.Chain, PrivateKey: c.PrivateKey, Leaf: c.Leaf}
}

// Expired reports whether now is after NotAfter.
func (c *Certificate) Expired(now time.Time) bool { return now.After(c.Leaf.NotAfter) }
