package certs

import (
	"testing"
	"time"
)

// now is the fixed clock of the tests.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// mustGenerate generates a certificate; ECDSA unless the template says
// otherwise, because RSA key generation is slow.
func mustGenerate(t testing.TB, tmpl Template) *Certificate {
	t.Helper()
	if tmpl.KeyType == "" {
		tmpl.KeyType = "ecdsa-p256"
	}
	c, err := Generate(tmpl)
	if err != nil {
		t.Fatalf("Generate(%q): %v", tmpl.Subject, err)
	}
	return c
}

// withoutKey returns a copy of c with no private key.
func withoutKey(c *Certificate) *Certificate {
	cp := *c
	cp.PrivateKey = nil
	return &cp
}
