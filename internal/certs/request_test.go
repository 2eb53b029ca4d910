package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// openssl runs openssl with args in dir, or skips when it is missing.
func openssl(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// thirdPartyCA writes a CA (certificate and key PEM) to dir as a
// third-party CA would hold it.
func thirdPartyCA(t *testing.T, dir string) (*Certificate, string) {
	t.Helper()
	ca := mustGenerate(t, Template{Subject: "CN=Fabrikam Issuing CA, O=Fabrikam, C=US", IsCA: true})
	path := filepath.Join(dir, "ca.pem")
	if err := WritePEM(path, ca); err != nil {
		t.Fatal(err)
	}
	return ca, path
}

// signWithOpenSSL signs csrFile with the CA as a third-party CA does and
// returns the PEM certificate file.
func signWithOpenSSL(t *testing.T, dir, csrFile, caFile string, sans []string) string {
	t.Helper()
	ext := filepath.Join(dir, "ext.cnf")
	var alt []string
	for _, s := range sans {
		alt = append(alt, "DNS:"+s)
	}
	os.WriteFile(ext, []byte("subjectAltName="+strings.Join(alt, ",")+"\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n"), 0o600)
	out := filepath.Join(dir, "signed.cer")
	openssl(t, dir, "x509", "-req", "-in", csrFile, "-CA", caFile, "-CAkey", caFile, "-CAcreateserial",
		"-days", "365", "-sha256", "-extfile", ext, "-out", out)
	return out
}

func TestRequestSignedByOpenSSLCompletesByKey(t *testing.T) {
	dir := t.TempDir()
	store := PendingStore{Dir: filepath.Join(dir, "pending")}
	for _, kt := range []string{"ecdsa-p256", "rsa-2048"} {
		t.Run(kt, func(t *testing.T) {
			req, err := NewRequest(RequestTemplate{Subject: "CN=mail.contoso.com, O=Contoso, C=US",
				SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"}, KeyType: kt, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Save(req); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(req.KeyFile)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("pending key %s: %v mode %v, want 0600", req.KeyFile, err, st.Mode())
			}
			csrFile := filepath.Join(store.Dir, req.ID+".csr")
			if out := openssl(t, dir, "req", "-verify", "-noout", "-in", csrFile); !strings.Contains(out, "verify OK") && !strings.Contains(out, "Certificate request self-signature verify OK") {
				t.Fatalf("openssl req -verify: %s", out)
			}
			text := strings.ReplaceAll(openssl(t, dir, "req", "-noout", "-text", "-in", csrFile), " = ", "=")
			for _, want := range []string{"DNS:mail.contoso.com", "DNS:autodiscover.contoso.com", "CN=mail.contoso.com"} {
				if !strings.Contains(text, want) {
					t.Errorf("CSR lacks %s:\n%s", want, text)
				}
			}
			ca, caFile := thirdPartyCA(t, dir)
			signed := signWithOpenSSL(t, dir, csrFile, caFile, req.SANs)

			// The CA's reply as PEM, DER and a .p7b chain (leaf + CA).
			pemData, _ := os.ReadFile(signed)
			block, _ := pem.Decode(pemData)
			der := block.Bytes
			bundle := filepath.Join(dir, "bundle.pem")
			os.WriteFile(bundle, append(append([]byte{}, pemData...), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Chain[0]})...), 0o600)
			p7b := filepath.Join(dir, "signed.p7b")
			openssl(t, dir, "crl2pkcs7", "-nocrl", "-certfile", bundle, "-outform", "DER", "-out", p7b)
			p7bPEM := filepath.Join(dir, "signed-pem.p7b")
			openssl(t, dir, "crl2pkcs7", "-nocrl", "-certfile", bundle, "-out", p7bPEM)
			p7bDER, _ := os.ReadFile(p7b)
			p7bText, _ := os.ReadFile(p7bPEM)

			for name, data := range map[string][]byte{"PEM": pemData, "DER": der, "p7b DER": p7bDER, "p7b PEM": p7bText} {
				chain, err := ParseCertificates(data)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				c, p, err := store.Complete(chain)
				if err != nil {
					t.Fatalf("%s: complete: %v", name, err)
				}
				if p.ID != req.ID || !c.HasPrivateKey() || c.Subject != "CN=mail.contoso.com, O=Contoso, C=US" ||
					c.Issuer != "CN=Fabrikam Issuing CA, O=Fabrikam, C=US" || !bytes.Equal(c.Chain[0], der) {
					t.Fatalf("%s: completed %s issued by %s (request %s)", name, c.Subject, c.Issuer, p.ID)
				}
				if strings.HasPrefix(name, "p7b") && len(c.Chain) != 2 {
					t.Fatalf("%s: chain of %d, want leaf + CA", name, len(c.Chain))
				}
			}
			if err := store.Remove(req.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSignedCertificateForAnotherKeyIsRefused(t *testing.T) {
	dir := t.TempDir()
	store := PendingStore{Dir: filepath.Join(dir, "pending")}
	mine, err := NewRequest(RequestTemplate{SANs: []string{"mail.contoso.com"}, KeyType: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(mine); err != nil {
		t.Fatal(err)
	}
	other := mustGenerate(t, Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}})
	_, _, err = store.Complete([]*x509.Certificate{other.Leaf})
	if !errors.Is(err, ErrNoPendingRequest) || !strings.Contains(err.Error(), mine.ID) || !strings.Contains(err.Error(), "different request") {
		t.Fatalf("certificate for another key: %v", err)
	}
	if list, _ := store.List(); len(list) != 1 {
		t.Fatalf("refused import changed the pending requests: %d", len(list))
	}
}

func TestHostileCertificateInput(t *testing.T) {
	dir := t.TempDir()
	leaf := mustGenerate(t, Template{Subject: "CN=mail.contoso.com"})
	pemLeaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Chain[0]})
	// A .p7b with 1,000 certificates, made by openssl.
	var many []byte
	for range 1000 {
		many = append(many, pemLeaf...)
	}
	manyFile := filepath.Join(dir, "many.pem")
	os.WriteFile(manyFile, many, 0o600)
	openssl(t, dir, "crl2pkcs7", "-nocrl", "-certfile", manyFile, "-outform", "DER", "-out", "many.p7b")
	manyP7B, _ := os.ReadFile(filepath.Join(dir, "many.p7b"))

	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"garbage", []byte("this is not a certificate\x00\x01"), "neither PEM"},
		{"truncated PEM", pemLeaf[:len(pemLeaf)/2], "truncated"},
		{"truncated DER", leaf.Chain[0][:len(leaf.Chain[0])-10], "neither PEM"},
		{"truncated p7b", manyP7B[:len(manyP7B)/3], "PKCS#7"},
		{"1000-certificate p7b", manyP7B, "too many certificates"},
		{"1000-certificate PEM", many, "too many certificates"},
		{"CSR instead of certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}}), "certificate request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCertificates(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	// LoadFile refuses the same bundle.
	if _, err := LoadFile(filepath.Join(dir, "many.p7b"), "", ""); !errors.Is(err, ErrTooManyCertificates) {
		t.Fatalf("LoadFile of the 1000-certificate p7b: %v", err)
	}
}

func FuzzParseCertificates(f *testing.F) {
	leaf, err := Generate(Template{Subject: "CN=fuzz", KeyType: "ecdsa-p256"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(leaf.Chain[0])
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Chain[0]}))
	if data, err := os.ReadFile("testdata/chain.p7b"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := ParseCertificates(data)
		if err == nil && (len(cs) == 0 || len(cs) > MaxBundleCertificates) {
			t.Fatalf("%d certificates without error", len(cs))
		}
	})
}
