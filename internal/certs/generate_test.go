package certs

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGenerateExchangeDefault(t *testing.T) {
	before := time.Now().Add(-time.Second)
	c, err := Generate(Template{Subject: "CN=SERVER1", SANs: []string{"SERVER1", "SERVER1.contoso.local"}})
	if err != nil {
		t.Fatal(err)
	}
	l := c.Leaf
	if k, ok := l.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
		t.Errorf("key %s, want RSA 2048", KeyDescription(l.PublicKey))
	}
	if l.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("signature %v, want SHA256-RSA", l.SignatureAlgorithm)
	}
	if l.NotBefore.Before(before.Truncate(time.Second)) || !l.NotAfter.Equal(l.NotBefore.AddDate(5, 0, 0)) {
		t.Errorf("validity %s – %s, want now + 5 years", l.NotBefore, l.NotAfter)
	}
	if !c.SelfSigned || c.Subject != "CN=SERVER1" || c.Issuer != "CN=SERVER1" || c.Name() != "<I>CN=SERVER1<S>CN=SERVER1" {
		t.Errorf("self-signed %v subject %q issuer %q", c.SelfSigned, c.Subject, c.Issuer)
	}
	if strings.Join(c.SANs, ";") != "SERVER1;SERVER1.contoso.local" {
		t.Errorf("SANs %v", c.SANs)
	}
	if len(l.ExtKeyUsage) != 2 || l.IsCA || l.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		t.Errorf("EKU %v IsCA %v KeyUsage %v", l.ExtKeyUsage, l.IsCA, l.KeyUsage)
	}
	if !c.HasPrivateKey() || len(c.Chain) != 1 {
		t.Errorf("key %v chain %d", c.HasPrivateKey(), len(c.Chain))
	}
	// The certificate verifies against itself as a root (a usable self-signed
	// certificate for a partner that trusts it explicitly).
	pool := x509.NewCertPool()
	pool.AddCert(l)
	if _, err := l.Verify(x509.VerifyOptions{Roots: pool, DNSName: "server1.contoso.local"}); err != nil {
		t.Errorf("self-signed certificate does not verify against itself: %v", err)
	}
}

func TestGenerateIssuedChain(t *testing.T) {
	root, inter, leaf := chainFixture(t)
	if !root.SelfSigned || inter.SelfSigned || leaf.SelfSigned {
		t.Errorf("self-signed flags root %v inter %v leaf %v", root.SelfSigned, inter.SelfSigned, leaf.SelfSigned)
	}
	if !root.Leaf.IsCA || root.Leaf.KeyUsage&x509.KeyUsageCertSign == 0 || len(root.Leaf.ExtKeyUsage) != 0 {
		t.Errorf("root: IsCA %v KeyUsage %v EKU %v", root.Leaf.IsCA, root.Leaf.KeyUsage, root.Leaf.ExtKeyUsage)
	}
	if len(inter.Chain) != 1 || len(leaf.Chain) != 2 || Thumbprint(leaf.Chain[1]) != inter.Thumbprint {
		t.Errorf("chains: inter %d, leaf %d (root must not be sent)", len(inter.Chain), len(leaf.Chain))
	}
	if leaf.Issuer != "CN=Issuing CA, O=Contoso" || inter.Issuer != "CN=Root CA, O=Contoso" {
		t.Errorf("issuers %q, %q", leaf.Issuer, inter.Issuer)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root.Leaf)
	inters.AddCert(inter.Leaf)
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "mail.contoso.com",
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("issued chain does not verify: %v", err)
	}
}

func TestGenerateOptions(t *testing.T) {
	c := mustGenerate(t, Template{SANs: []string{"mail.contoso.com", "192.0.2.1", "postmaster@contoso.com"}, ServerAuth: true,
		SerialBytes: []byte{0xFF, 0x01}, NotBefore: day(2024, 1, 1), NotAfter: day(2024, 2, 1), SignatureAlgorithm: x509.ECDSAWithSHA384})
	if c.Subject != "CN=mail.contoso.com" {
		t.Errorf("default subject %q", c.Subject)
	}
	if len(c.Leaf.DNSNames) != 1 || len(c.Leaf.IPAddresses) != 1 || len(c.Leaf.EmailAddresses) != 1 {
		t.Errorf("SANs dns %v ip %v email %v", c.Leaf.DNSNames, c.Leaf.IPAddresses, c.Leaf.EmailAddresses)
	}
	if len(c.Leaf.ExtKeyUsage) != 1 || c.Leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("EKU %v, want server only", c.Leaf.ExtKeyUsage)
	}
	if c.Serial != "00FF01" {
		t.Errorf("serial %s, want 00FF01", c.Serial)
	}
	if c.Leaf.SignatureAlgorithm != x509.ECDSAWithSHA384 {
		t.Errorf("signature %v", c.Leaf.SignatureAlgorithm)
	}
	noEKU := mustGenerate(t, Template{Subject: "CN=x", NoExtKeyUsage: true})
	if len(noEKU.Leaf.ExtKeyUsage) != 0 {
		t.Errorf("NoExtKeyUsage left %v", noEKU.Leaf.ExtKeyUsage)
	}
	for _, kt := range []string{"ecdsa-p384", "ed25519"} {
		c := mustGenerate(t, Template{Subject: "CN=" + kt, KeyType: kt})
		if !c.HasPrivateKey() {
			t.Errorf("%s: no key", kt)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	keyless := withoutKey(mustGenerate(t, Template{Subject: "CN=CA", IsCA: true}))
	tests := []struct {
		name string
		tmpl Template
		want string
	}{
		{"nothing to name it", Template{}, "give a subject or at least one SAN"},
		{"bad subject", Template{Subject: "CN=a, BOGUS=b"}, "unknown attribute type BOGUS"},
		{"bad key type", Template{Subject: "CN=a", KeyType: "dsa"}, "unknown key type"},
		{"issuer without key", Template{Subject: "CN=a", KeyType: "ecdsa-p256", Issuer: keyless}, "has no private key"},
		{"validity reversed", Template{Subject: "CN=a", KeyType: "ecdsa-p256", NotBefore: day(2025, 1, 1), NotAfter: day(2024, 1, 1)}, "is not after"},
		{"serial too long", Template{Subject: "CN=a", KeyType: "ecdsa-p256", SerialBytes: make([]byte, 21)}, "longer than"},
		{"bad hex value", Template{Subject: "OID.1.2.3=#0503FF", KeyType: "ecdsa-p256"}, "not one DER element"},
	}
	for _, tt := range tests {
		_, err := Generate(tt.tmpl)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestNewAndFromX509(t *testing.T) {
	a := mustGenerate(t, Template{Subject: "CN=a"})
	b := mustGenerate(t, Template{Subject: "CN=b"})
	if _, err := New([]*x509.Certificate{a.Leaf}, b.PrivateKey, "x"); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("mismatched key: %v", err)
	}
	if _, err := New(nil, nil, "x"); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("empty chain: %v", err)
	}
	p := FromX509(a.Leaf)
	if p.HasPrivateKey() || p.Thumbprint != a.Thumbprint || p.Serial != a.Serial || p.Name() != a.Name() {
		t.Errorf("FromX509: %+v", p.Describe(now))
	}
	if FromX509(nil) != nil {
		t.Error("FromX509(nil) != nil")
	}
}

func TestDescribe(t *testing.T) {
	ca := mustGenerate(t, Template{Subject: "CN=Contoso CA", IsCA: true, NotBefore: day(2020, 1, 1), NotAfter: day(2035, 1, 1)})
	c := mustGenerate(t, Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: ca,
		NotBefore: day(2025, 1, 1), NotAfter: day(2025, 6, 11)})
	tests := []struct {
		at     time.Time
		status string
		days   int
	}{
		{now, StatusValid, 9},
		{day(2025, 6, 12), StatusExpired, -1},
		{day(2024, 12, 1), StatusNotYetValid, 192},
	}
	for _, tt := range tests {
		in := c.Describe(tt.at)
		if in.Status != tt.status || in.DaysLeft != tt.days {
			t.Errorf("at %s: status %s days %d, want %s %d", tt.at, in.Status, in.DaysLeft, tt.status, tt.days)
		}
	}
	in := c.Describe(now)
	if in.Thumbprint != c.Thumbprint || in.Subject != "CN=mail.contoso.com" || in.Issuer != "CN=Contoso CA" ||
		in.SelfSigned || !in.HasPrivateKey || in.IsCA || in.KeyAlgorithm != "ECDSA P-256" || in.Name != "<I>CN=Contoso CA<S>CN=mail.contoso.com" {
		t.Errorf("Describe = %+v", in)
	}
	js, err := json.Marshal(withoutKey(mustGenerate(t, Template{Subject: "CN=x"})).Describe(now))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"thumbprint":`, `"sans":[]`, `"not_after":`, `"days_left":`, `"self_signed":true`, `"has_private_key":false`, `"name":"\u003cI\u003eCN=x\u003cS\u003eCN=x"`} {
		if !strings.Contains(string(js), k) {
			t.Errorf("JSON %s lacks %s", js, k)
		}
	}
}

// TestWritePFXReadableByOpenSSL checks the PFX with an implementation
// nobody here wrote.
func TestWritePFXReadableByOpenSSL(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	_, _, leaf := chainFixture(t)
	path := filepath.Join(t.TempDir(), "mail.pfx")
	if err := WritePFX(path, leaf, "Pa55"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "pkcs12", "-in", path, "-passin", "pass:Pa55", "-nodes").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "BEGIN CERTIFICATE"); n != 2 || !strings.Contains(string(out), "BEGIN PRIVATE KEY") {
		t.Errorf("openssl found %d certificates and key %v", n, strings.Contains(string(out), "PRIVATE KEY"))
	}
	if _, err := exec.Command(bin, "pkcs12", "-in", path, "-passin", "pass:wrong", "-nodes").CombinedOutput(); err == nil {
		t.Error("openssl accepted a wrong password")
	}
}
