package testkit

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// Cert generates a certificate for a test, ECDSA P-256 and valid from an
// hour before now for a year unless tmpl says otherwise, or fails the test.
func Cert(t testing.TB, tmpl certs.Template, now time.Time) *certs.Certificate {
	t.Helper()
	if tmpl.KeyType == "" {
		tmpl.KeyType = "ecdsa-p256"
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.AddDate(1, 0, 0)
	}
	c, err := certs.Generate(tmpl)
	if err != nil {
		t.Fatalf("generate %s: %v", tmpl.Subject, err)
	}
	return c
}

// ServerTLS is a TLS server configuration presenting c.
func ServerTLS(c *certs.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{*c.TLS()}, SessionTicketsDisabled: true}
}

// NewIssuerRenewal writes to path (certificate, chain and key) a renewal
// of CN=mail.contoso.com issued by a new intermediate CA, itself issued by
// ca: the chain is complete, but a pin naming the old issuer no longer
// selects it.
func NewIssuerRenewal(t testing.TB, ca *certs.Certificate, path string) *certs.Certificate {
	t.Helper()
	now := time.Now()
	inter := Cert(t, certs.Template{Subject: "CN=Contoso Lab Issuing CA 2", IsCA: true, Issuer: ca}, now)
	leaf := Cert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"}, Issuer: inter}, now)
	leaf.Source = path
	if err := certs.WritePEM(path, leaf); err != nil {
		t.Fatal(err)
	}
	return leaf
}
