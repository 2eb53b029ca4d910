package certs

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// ReadCAFile reads PEM (several certificates) and DER alike, and refuses
// what holds no certificate with ErrNoCertificate.
func TestReadCAFile(t *testing.T) {
	dir := t.TempDir()
	root := mustGenerate(t, Template{Subject: "CN=Trust Root", IsCA: true})
	inter := mustGenerate(t, Template{Subject: "CN=Trust Issuing", IsCA: true, Issuer: root})
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pemFile := filepath.Join(dir, "chain.pem")
	if err := WriteCertPEM(pemFile, inter); err != nil { // inter and its issuer
		t.Fatal(err)
	}
	derFile := write("root.cer", root.Leaf.Raw)
	for file, want := range map[string]int{pemFile: len(inter.Chain), derFile: 1} {
		got, err := ReadCAFile(file)
		if err != nil || len(got) != want {
			t.Errorf("ReadCAFile(%s) = %d certificates, %v; want %d", filepath.Base(file), len(got), err, want)
		}
	}
	for _, bad := range []string{
		write("empty.pem", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")),
		write("junk.cer", []byte("not a certificate")),
	} {
		if _, err := ReadCAFile(bad); !errors.Is(err, ErrNoCertificate) {
			t.Errorf("ReadCAFile(%s) = %v, want ErrNoCertificate", filepath.Base(bad), err)
		}
	}
	if _, err := ReadCAFile(filepath.Join(dir, "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	pool, err := TrustPool([]string{derFile}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inter.Leaf.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("the DER root does not verify its intermediate: %v", err)
	}
}
