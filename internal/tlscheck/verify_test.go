package tlscheck

import (
	"crypto/x509"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

type pki struct {
	root, inter, leaf          *certs.Certificate
	privateCA, privateLeaf     *certs.Certificate
	expiredLeaf, futureLeaf    *certs.Certificate
	expiredInter, leafOfExpInt *certs.Certificate
	selfSigned, server1        *certs.Certificate
	weakKey, weakSig           *certs.Certificate
	clientOnly, noEKU          *certs.Certificate
	wildcard                   *certs.Certificate
	untrustedRoot, leafOfUR    *certs.Certificate
}

var (
	pkiOnce sync.Once
	fx      pki
)

func gen(t testing.TB, tmpl certs.Template) *certs.Certificate {
	t.Helper()
	if tmpl.KeyType == "" {
		tmpl.KeyType = "ecdsa-p256"
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = day(2025, 1, 1), day(2026, 1, 1)
	}
	c, err := certs.Generate(tmpl)
	if err != nil {
		t.Fatalf("Generate(%s): %v", tmpl.Subject, err)
	}
	return c
}

func fixture(t testing.TB) *pki {
	t.Helper()
	pkiOnce.Do(func() {
		long := func(tm certs.Template) certs.Template {
			tm.NotBefore, tm.NotAfter = day(2020, 1, 1), day(2035, 1, 1)
			return tm
		}
		fx.root = gen(t, long(certs.Template{Subject: "CN=Test Root, O=Test", IsCA: true, KeyType: "rsa2048"}))
		fx.inter = gen(t, long(certs.Template{Subject: "CN=Test Issuing CA, O=Test", IsCA: true, Issuer: fx.root, KeyType: "rsa2048"}))
		fx.leaf = gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"}, Issuer: fx.inter})
		fx.privateCA = gen(t, long(certs.Template{Subject: "CN=Private CA", IsCA: true}))
		fx.privateLeaf = gen(t, certs.Template{Subject: "CN=mail.contoso.com", Issuer: fx.privateCA})
		fx.expiredLeaf = gen(t, certs.Template{Subject: "CN=mail.contoso.com", Issuer: fx.inter, NotBefore: day(2023, 1, 1), NotAfter: day(2024, 1, 1)})
		fx.futureLeaf = gen(t, certs.Template{Subject: "CN=mail.contoso.com", Issuer: fx.inter, NotBefore: day(2025, 7, 1), NotAfter: day(2026, 7, 1)})
		fx.expiredInter = gen(t, certs.Template{Subject: "CN=Old Issuing CA", IsCA: true, Issuer: fx.root, NotBefore: day(2020, 1, 1), NotAfter: day(2025, 5, 1)})
		fx.leafOfExpInt = gen(t, certs.Template{Subject: "CN=mail.contoso.com", Issuer: fx.expiredInter, NotBefore: day(2025, 1, 1), NotAfter: day(2025, 12, 1)})
		fx.selfSigned = gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}})
		fx.server1 = gen(t, certs.Template{Subject: "CN=SERVER1", SANs: []string{"SERVER1", "SERVER1.contoso.local"}})
		fx.weakKey = gen(t, certs.Template{Subject: "CN=mail.contoso.com", Issuer: fx.inter, KeyType: "rsa1024"})
		fx.weakSig = gen(t, certs.Template{Subject: "CN=mail.contoso.com", Issuer: fx.inter, SignatureAlgorithm: x509.SHA1WithRSA})
		fx.clientOnly = gen(t, certs.Template{Subject: "CN=mail.contoso.com", Issuer: fx.inter, ClientAuth: true})
		fx.noEKU = gen(t, certs.Template{Subject: "CN=mail.contoso.com", Issuer: fx.inter, NoExtKeyUsage: true})
		fx.wildcard = gen(t, certs.Template{Subject: "CN=*.contoso.com", SANs: []string{"*.contoso.com"}, Issuer: fx.inter})
		fx.untrustedRoot = gen(t, long(certs.Template{Subject: "CN=Someone Root", IsCA: true}))
		fx.leafOfUR = gen(t, certs.Template{Subject: "CN=mail.contoso.com", Issuer: fx.untrustedRoot})
	})
	if fx.root == nil {
		t.Fatal("fixture generation failed earlier")
	}
	return &fx
}

// presented returns what a server sends: its chain, plus extra certificates.
func presented(t *testing.T, c *certs.Certificate, extra ...*certs.Certificate) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, der := range c.Chain {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	for _, e := range extra {
		out = append(out, e.Leaf)
	}
	return out
}

func pool(cs ...*certs.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c.Leaf)
	}
	return p
}

func TestVerify(t *testing.T) {
	f := fixture(t)
	trusted := pool(f.root)
	cv := Policy{Level: CertificateValidation, Roots: trusted, Now: now, Usage: x509.ExtKeyUsageServerAuth}
	dv := func(name string) Policy {
		return Policy{Level: DomainValidation, ExpectedName: name, Roots: trusted, Now: now, Usage: x509.ExtKeyUsageServerAuth}
	}
	tests := []struct {
		name   string
		peer   []*x509.Certificate
		policy Policy
		reason Reason
		detail string // substring of Detail
	}{
		{"no certificate, EncryptionOnly", nil, Policy{Level: EncryptionOnly, Now: now}, NoCertificate, "no certificate"},
		{"no certificate, DomainValidation", nil, dv("mail.contoso.com"), NoCertificate, "no certificate"},
		{"EncryptionOnly accepts expired self-signed", presented(t, f.server1), Policy{Level: EncryptionOnly, Now: day(2040, 1, 1)}, ReasonOK, ""},
		{"valid chain", presented(t, f.leaf), cv, ReasonOK, ""},
		{"valid chain with the root sent too", presented(t, f.leaf, f.root), cv, ReasonOK, ""},
		{"expired leaf", presented(t, f.expiredLeaf), cv, CertificateExpired, "expired on 2024-01-01"},
		{"not yet valid leaf", presented(t, f.futureLeaf), cv, CertificateNotYetValid, "not valid before 2025-07-01"},
		{"expired intermediate", presented(t, f.leafOfExpInt), Policy{Level: CertificateValidation, Roots: trusted, Now: day(2025, 3, 1)}, ReasonOK, ""},
		{"expired intermediate later", presented(t, f.leafOfExpInt), Policy{Level: CertificateValidation, Roots: trusted, Now: day(2025, 5, 16)}, CertificateExpired, "the intermediate CN=Old Issuing CA expired on 2025-05-01"},
		{"self-signed", presented(t, f.selfSigned), cv, UntrustedRoot, "self-signed"},
		{"untrusted root sent", presented(t, f.leafOfUR, f.untrustedRoot), cv, UntrustedRoot, "CN=Someone Root"},
		{"intermediate missing", presented(t, f.leaf)[:1], cv, IncompleteChain, "CN=Test Issuing CA, O=Test"},
		{"private CA not trusted", presented(t, f.privateLeaf), cv, IncompleteChain, "trust.ca_files"},
		{"private CA trusted", presented(t, f.privateLeaf), Policy{Level: CertificateValidation, Roots: pool(f.privateCA), Now: now}, ReasonOK, ""},
		{"weak key", presented(t, f.weakKey), cv, WeakKey, "1024-bit RSA key"},
		{"weak signature", presented(t, f.weakSig), cv, WeakSignature, "SHA1-RSA"},
		{"weak signature ignored at EncryptionOnly", presented(t, f.weakSig), Policy{Level: EncryptionOnly, Now: now}, ReasonOK, ""},
		{"client-only EKU as server", presented(t, f.clientOnly), cv, InvalidUsage, "server authentication"},
		{"client-only EKU for mutual TLS", presented(t, f.clientOnly), Policy{Level: CertificateValidation, Roots: trusted, Now: now, Usage: x509.ExtKeyUsageClientAuth}, ReasonOK, ""},
		{"no EKU passes as server", presented(t, f.noEKU), cv, ReasonOK, ""},
		{"no EKU passes as client", presented(t, f.noEKU), Policy{Level: CertificateValidation, Roots: trusted, Now: now, Usage: x509.ExtKeyUsageClientAuth}, ReasonOK, ""},
		{"domain match", presented(t, f.leaf), dv("mail.contoso.com"), ReasonOK, ""},
		{"domain match SAN", presented(t, f.leaf), dv("Autodiscover.Contoso.com."), ReasonOK, ""},
		{"domain mismatch", presented(t, f.leaf), dv("smtp.fabrikam.com"), SubjectMismatch, "does not hold smtp.fabrikam.com"},
		{"TlsDomain wildcard vs host certificate", presented(t, f.leaf), dv("*.contoso.com"), ReasonOK, ""},
		{"TlsDomain wildcard vs wildcard certificate", presented(t, f.wildcard), dv("*.contoso.com"), ReasonOK, ""},
		{"wildcard certificate vs host", presented(t, f.wildcard), dv("smtp.contoso.com"), ReasonOK, ""},
		{"wildcard certificate vs apex", presented(t, f.wildcard), dv("contoso.com"), SubjectMismatch, ""},
		{"self-signed SERVER1 for mail.contoso.com is a SubjectMismatch", presented(t, f.server1), dv("mail.contoso.com"), SubjectMismatch, "SERVER1"},
		{"empty expected name", presented(t, f.leaf), dv(""), SubjectMismatch, "needs an expected name"},
		{"right name, expired", presented(t, f.expiredLeaf), dv("mail.contoso.com"), CertificateExpired, ""},
		{"right name, self-signed", presented(t, f.selfSigned), dv("mail.contoso.com"), UntrustedRoot, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Verify(tt.peer, tt.policy)
			if r.Reason != tt.reason || r.OK != (tt.reason == ReasonOK) {
				t.Fatalf("Verify = OK %v reason %q (%s), want reason %q", r.OK, r.Reason, r.Detail, tt.reason)
			}
			if !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("Detail %q does not contain %q", r.Detail, tt.detail)
			}
			if r.Level != tt.policy.Level {
				t.Errorf("Level %v, want %v", r.Level, tt.policy.Level)
			}
			if len(tt.peer) > 0 {
				if r.Thumbprint != certs.Thumbprint(tt.peer[0].Raw) || r.PresentedSubject != certs.WindowsName(tt.peer[0].RawSubject) || len(r.Chain) != len(tt.peer) {
					t.Errorf("presented certificate not described: %q %q chain %d", r.Thumbprint, r.PresentedSubject, len(r.Chain))
				}
			}
			if r.OK != (r.Status() == "") || r.OK != (r.Message() == "") {
				t.Errorf("Status %q Message %q for OK %v", r.Status(), r.Message(), r.OK)
			}
		})
	}
}

func TestMessageAndStatus(t *testing.T) {
	f := fixture(t)
	r := Verify(presented(t, f.server1), Policy{Level: DomainValidation, ExpectedName: "mail.contoso.com", Roots: pool(f.root), Now: now})
	want := "SubjectMismatch Expected Subject: mail.contoso.com. Presented Subject: CN=SERVER1. Thumbprint: " + f.server1.Thumbprint
	if r.Message() != want {
		t.Errorf("Message() = %q\nwant        %q", r.Message(), want)
	}
	if r.Status() != "450 4.7.320 Certificate validation failed" {
		t.Errorf("Status() = %q", r.Status())
	}
	r = Verify(presented(t, f.expiredLeaf), Policy{Level: CertificateValidation, Roots: pool(f.root), Now: now})
	if want := "CertificateExpired Presented Subject: CN=mail.contoso.com. Thumbprint: " + f.expiredLeaf.Thumbprint; r.Message() != want {
		t.Errorf("Message() = %q, want %q", r.Message(), want)
	}
	r = Verify(nil, Policy{})
	if !strings.HasPrefix(r.Message(), "NoCertificate") {
		t.Errorf("Message() = %q", r.Message())
	}
	js, err := json.Marshal(Verify(presented(t, f.leaf), Policy{Level: DomainValidation, ExpectedName: "x.fabrikam.com", Roots: pool(f.root), Now: now}))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"ok":false`, `"level":"DomainValidation"`, `"reason":"SubjectMismatch"`, `"expected":"x.fabrikam.com"`, `"chain":[`} {
		if !strings.Contains(string(js), k) {
			t.Errorf("JSON %s lacks %s", js, k)
		}
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want Level
		ok   bool
	}{
		{"EncryptionOnly", EncryptionOnly, true},
		{"encryptiononly", EncryptionOnly, true},
		{"CERTIFICATEVALIDATION", CertificateValidation, true},
		{" DomainValidation ", DomainValidation, true},
		{"", 0, false},
		{"Domain", 0, false},
		{"verify", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, %v", tt.in, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), "EncryptionOnly, CertificateValidation, DomainValidation") {
			t.Errorf("error %q does not list the valid values", err)
		}
		if err == nil && !strings.EqualFold(got.String(), strings.TrimSpace(tt.in)) {
			t.Errorf("String() = %q for %q", got.String(), tt.in)
		}
	}
	var l Level
	if err := json.Unmarshal([]byte(`"domainvalidation"`), &l); err != nil || l != DomainValidation {
		t.Errorf("UnmarshalText: %v %v", l, err)
	}
	if _, err := Level(7).MarshalText(); err == nil {
		t.Error("MarshalText of an invalid level succeeded")
	}
	if Level(7).String() != "Level(7)" {
		t.Errorf("String() of invalid = %q", Level(7).String())
	}
}

// TestVerifyUsesPolicyClock: the same chain passes or fails by Policy.Now
// alone.
func TestVerifyUsesPolicyClock(t *testing.T) {
	f := fixture(t)
	p := Policy{Level: CertificateValidation, Roots: pool(f.root)}
	for _, tc := range []struct {
		at   time.Time
		want Reason
	}{{day(2024, 12, 31), CertificateNotYetValid}, {day(2025, 6, 1), ReasonOK}, {day(2026, 1, 2), CertificateExpired}} {
		p.Now = tc.at
		if r := Verify(presented(t, f.leaf), p); r.Reason != tc.want {
			t.Errorf("at %s: %q (%s), want %q", tc.at.Format("2006-01-02"), r.Reason, r.Detail, tc.want)
		}
	}
}
