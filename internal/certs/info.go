package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"math"
	"time"
)

// Info is a JSON-friendly summary of a certificate, the fields of
// Get-ExchangeCertificate | Format-List that matter for TLS mail flow.
type Info struct {
	Thumbprint         string    `json:"thumbprint"`
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	Serial             string    `json:"serial"`
	SANs               []string  `json:"sans"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	DaysLeft           int       `json:"days_left"` // negative once expired
	Status             string    `json:"status"`    // valid, expired, not_yet_valid
	SelfSigned         bool      `json:"self_signed"`
	IsCA               bool      `json:"is_ca"`
	HasPrivateKey      bool      `json:"has_private_key"`
	KeyAlgorithm       string    `json:"key_algorithm"` // "RSA 2048", "ECDSA P-256", "Ed25519"
	SignatureAlgorithm string    `json:"signature_algorithm"`
	Name               string    `json:"name"` // "<I>issuer<S>subject"
	Source             string    `json:"source,omitempty"`
}

// Status values of Info.
const (
	StatusValid       = "valid"
	StatusExpired     = "expired"
	StatusNotYetValid = "not_yet_valid"
)

// Describe summarises the certificate as seen at now.
func (c *Certificate) Describe(now time.Time) Info {
	l := c.Leaf
	status := StatusValid
	switch {
	case now.After(l.NotAfter):
		status = StatusExpired
	case now.Before(l.NotBefore):
		status = StatusNotYetValid
	}
	sans := c.SANs
	if sans == nil {
		sans = []string{}
	}
	return Info{
		Thumbprint:         c.Thumbprint,
		Subject:            c.Subject,
		Issuer:             c.Issuer,
		Serial:             c.Serial,
		SANs:               sans,
		NotBefore:          l.NotBefore.UTC(),
		NotAfter:           l.NotAfter.UTC(),
		DaysLeft:           int(math.Floor(l.NotAfter.Sub(now).Hours() / 24)),
		Status:             status,
		SelfSigned:         c.SelfSigned,
		IsCA:               l.BasicConstraintsValid && l.IsCA,
		HasPrivateKey:      c.HasPrivateKey(),
		KeyAlgorithm:       KeyDescription(l.PublicKey),
		SignatureAlgorithm: l.SignatureAlgorithm.String(),
		Name:               c.Name(),
		Source:             c.Source,
	}
}

// KeyDescription names a public key's algorithm and size ("RSA 2048").
func KeyDescription(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}
