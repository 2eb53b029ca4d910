package certs

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

// chainFixture is root → intermediate → leaf.
func chainFixture(t *testing.T) (root, inter, leaf *Certificate) {
	t.Helper()
	root = mustGenerate(t, Template{Subject: "CN=Root CA, O=Contoso", IsCA: true})
	inter = mustGenerate(t, Template{Subject: "CN=Issuing CA, O=Contoso", IsCA: true, Issuer: root})
	leaf = mustGenerate(t, Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: inter})
	return root, inter, leaf
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeFile(t *testing.T, dir, name string, parts ...[]byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var b []byte
	for _, part := range parts {
		b = append(b, part...)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPEM(t *testing.T) {
	_, inter, leaf := chainFixture(t)
	other := mustGenerate(t, Template{Subject: "CN=other"})
	dir := t.TempDir()
	interDER := inter.Chain[0]
	leafDER := leaf.Chain[0]

	tests := []struct {
		name          string
		file          string
		keyFile       string
		wantKey       bool
		wantErr       error
		wantErrText   []string
		wantChainLen  int
		wantLeafThumb string
	}{
		{name: "chain and key in one file, shuffled",
			file:    writeFile(t, dir, "shuffled.pem", pemCert(interDER), pemKey(t, leaf.PrivateKey), pemCert(leafDER)),
			wantKey: true, wantChainLen: 2, wantLeafThumb: leaf.Thumbprint},
		{name: "separate key file",
			file:    writeFile(t, dir, "chain.crt", pemCert(leafDER), pemCert(interDER)),
			keyFile: writeFile(t, dir, "key.pem", pemKey(t, leaf.PrivateKey)),
			wantKey: true, wantChainLen: 2, wantLeafThumb: leaf.Thumbprint},
		{name: "certificate without key loads",
			file:         writeFile(t, dir, "nokey.pem", pemCert(leafDER)),
			wantChainLen: 1, wantLeafThumb: leaf.Thumbprint},
		{name: "no certificate",
			file:    writeFile(t, dir, "onlykey.pem", pemKey(t, leaf.PrivateKey)),
			wantErr: ErrNoCertificate, wantErrText: []string{"no certificate found in", "onlykey.pem"}},
		{name: "key file without key",
			file:    writeFile(t, dir, "c2.pem", pemCert(leafDER)),
			keyFile: writeFile(t, dir, "notakey.pem", pemCert(interDER)),
			wantErr: ErrNoPrivateKey, wantErrText: []string{"no private key in", "notakey.pem", "add key_file or a PEM with the key"}},
		{name: "key does not match",
			file:    writeFile(t, dir, "c3.pem", pemCert(leafDER)),
			keyFile: writeFile(t, dir, "otherkey.pem", pemKey(t, other.PrivateKey)),
			wantErr: ErrKeyMismatch, wantErrText: []string{"key does not match certificate", "otherkey.pem"}},
		{name: "embedded key does not match",
			file:    writeFile(t, dir, "c4.pem", pemCert(leafDER), pemKey(t, other.PrivateKey)),
			wantErr: ErrKeyMismatch, wantErrText: []string{"key does not match certificate", "c4.pem"}},
		{name: "encrypted key",
			file:        writeFile(t, dir, "enc.pem", pemCert(leafDER), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})),
			wantErrText: []string{"encrypted", "openssl pkey"}},
		{name: "DER certificate with .cer extension",
			file:         writeFile(t, dir, "exported.cer", leafDER),
			wantChainLen: 1, wantLeafThumb: leaf.Thumbprint},
		{name: "PEM content under a .pfx name",
			file:    writeFile(t, dir, "misnamed.pfx", pemCert(leafDER), pemKey(t, leaf.PrivateKey)),
			wantKey: true, wantChainLen: 1, wantLeafThumb: leaf.Thumbprint},
		{name: "garbage",
			file:    writeFile(t, dir, "garbage.pem.txt", []byte("hello")),
			wantErr: ErrNoCertificate, wantErrText: []string{"garbage.pem.txt", "PEM, DER or PFX"}},
		{name: "missing file",
			file:        filepath.Join(dir, "absent.pem"),
			wantErrText: []string{"load certificate", "absent.pem", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadFile(tt.file, tt.keyFile, "")
			if tt.wantErr != nil || tt.wantErrText != nil {
				if err == nil {
					t.Fatalf("LoadFile succeeded, want error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v is not %v", err, tt.wantErr)
				}
				for _, s := range tt.wantErrText {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.HasPrivateKey() != tt.wantKey {
				t.Errorf("HasPrivateKey = %v, want %v", c.HasPrivateKey(), tt.wantKey)
			}
			if len(c.Chain) != tt.wantChainLen || c.Thumbprint != tt.wantLeafThumb {
				t.Errorf("chain of %d with leaf %s, want %d with leaf %s", len(c.Chain), c.Thumbprint, tt.wantChainLen, tt.wantLeafThumb)
			}
			if tt.wantChainLen == 2 && Thumbprint(c.Chain[1]) != inter.Thumbprint {
				t.Error("second certificate of the chain is not the intermediate")
			}
			if c.Source != tt.file {
				t.Errorf("Source = %q, want %q", c.Source, tt.file)
			}
			if err := c.RequireKey(); (err == nil) != tt.wantKey {
				t.Errorf("RequireKey() = %v with key %v", err, tt.wantKey)
			} else if err != nil && (!errors.Is(err, ErrNoPrivateKey) || !strings.Contains(err.Error(), tt.file)) {
				t.Errorf("RequireKey() error %q should name %s", err, tt.file)
			}
		})
	}
}

func TestLoadLegacyKeyFormats(t *testing.T) {
	dir := t.TempDir()
	rsaCert := mustGenerate(t, Template{Subject: "CN=rsa", KeyType: "rsa2048"})
	ecCert := mustGenerate(t, Template{Subject: "CN=ec"})
	ecDER, err := x509.MarshalECPrivateKey(ecCert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*Certificate{
		writeFile(t, dir, "rsa.pem", pemCert(rsaCert.Chain[0]), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaCert.PrivateKey.(*rsa.PrivateKey))})): rsaCert,
		writeFile(t, dir, "ec.pem", pemCert(ecCert.Chain[0]), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})):                                                                ecCert,
	}
	for file, want := range files {
		c, err := LoadFile(file, "", "")
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !c.HasPrivateKey() || c.Thumbprint != want.Thumbprint {
			t.Errorf("%s: key %v thumbprint %s", file, c.HasPrivateKey(), c.Thumbprint)
		}
	}
}

func TestLoadPFX(t *testing.T) {
	_, inter, leaf := chainFixture(t)
	dir := t.TempDir()
	pfx := filepath.Join(dir, "mail.pfx")
	if err := WritePFX(pfx, leaf, "s3cret!"); err != nil {
		t.Fatal(err)
	}
	good := writeFile(t, dir, "good.txt", []byte("s3cret!\r\n"))
	bad := writeFile(t, dir, "bad.txt", []byte("wrong\n"))

	c, err := LoadFile(pfx, "", good)
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	if !c.HasPrivateKey() || c.Thumbprint != leaf.Thumbprint || len(c.Chain) != 2 || Thumbprint(c.Chain[1]) != inter.Thumbprint {
		t.Errorf("loaded key %v thumbprint %s chain %d", c.HasPrivateKey(), c.Thumbprint, len(c.Chain))
	}

	_, err = LoadFile(pfx, "", bad)
	if !errors.Is(err, ErrWrongPassword) || !strings.Contains(err.Error(), "wrong PFX password — check password_file "+bad) || !strings.Contains(err.Error(), pfx) {
		t.Errorf("wrong password: %v", err)
	}
	_, err = LoadFile(pfx, "", "")
	if !errors.Is(err, ErrWrongPassword) || !strings.Contains(err.Error(), "set password_file") {
		t.Errorf("no password file: %v", err)
	}
	_, err = LoadFile(pfx, "", filepath.Join(dir, "absent.txt"))
	if err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("missing password file: %v", err)
	}

	// A PFX under a .pem name is still a PFX.
	renamed := filepath.Join(dir, "really-a-pfx.pem")
	data, _ := os.ReadFile(pfx)
	if err := os.WriteFile(renamed, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadFile(renamed, "", good); err != nil || c.Thumbprint != leaf.Thumbprint {
		t.Errorf("PFX named .pem: %v", err)
	}

	// Chain order in the PFX does not matter: the key decides the leaf.
	leafX, _ := x509.ParseCertificate(leaf.Chain[0])
	interX, _ := x509.ParseCertificate(inter.Chain[0])
	swapped, err := pkcs12.Modern.Encode(leaf.PrivateKey, interX, []*x509.Certificate{leafX}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, dir, "swapped.p12", swapped)
	pwFile := writeFile(t, dir, "pw.txt", []byte("pw"))
	if c, err := LoadFile(p, "", pwFile); err != nil || c.Thumbprint != leaf.Thumbprint {
		t.Errorf("swapped PFX: %v, leaf %v", err, c)
	}

	// A PFX without a key (trust store) loads without a key.
	keyless := filepath.Join(dir, "keyless.pfx")
	if err := WritePFX(keyless, withoutKey(leaf), "pw"); err != nil {
		t.Fatal(err)
	}
	pw := writeFile(t, dir, "pw2.txt", []byte("pw\n"))
	if c, err := LoadFile(keyless, "", pw); err != nil || c.HasPrivateKey() || c.Thumbprint != leaf.Thumbprint {
		t.Errorf("keyless PFX: %v", err)
	}
}

func TestWritePEMRoundTrip(t *testing.T) {
	_, _, leaf := chainFixture(t)
	path := filepath.Join(t.TempDir(), "out.pem")
	if err := WritePEM(path, leaf); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	c, err := LoadFile(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Thumbprint != leaf.Thumbprint || !c.HasPrivateKey() || len(c.Chain) != len(leaf.Chain) || c.Name() != leaf.Name() {
		t.Errorf("round trip changed the certificate: %+v", c.Describe(now))
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	pub := filepath.Join(filepath.Dir(path), "public.pem")
	if err := WriteCertPEM(pub, leaf); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(pub); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("WriteCertPEM mode: %v %v", st, err)
	}
	if c, err := LoadFile(pub, "", ""); err != nil || c.HasPrivateKey() || c.Thumbprint != leaf.Thumbprint || len(c.Chain) != 2 {
		t.Errorf("WriteCertPEM round trip: %v", err)
	}
	if err := WritePEM(filepath.Join(t.TempDir(), "x.pem"), &Certificate{}); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("empty certificate: %v", err)
	}
}
