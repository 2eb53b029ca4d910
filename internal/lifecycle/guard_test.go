package lifecycle

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func gen(t *testing.T, tmpl certs.Template) *certs.Certificate {
	t.Helper()
	if tmpl.KeyType == "" {
		tmpl.KeyType = "ecdsa-p256"
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-24 * time.Hour)
	}
	c, err := certs.Generate(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pki is a root, two intermediates (the old and the CA's new one) and a
// leaf for mail.contoso.com issued by the old intermediate.
type pki struct {
	root, interA, interB, leaf *certs.Certificate
	roots                      *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	p := &pki{}
	p.root = gen(t, certs.Template{Subject: "CN=Fabrikam Root CA, O=Fabrikam", IsCA: true})
	p.interA = gen(t, certs.Template{Subject: "CN=Fabrikam TLS CA 2024, O=Fabrikam", IsCA: true, Issuer: p.root})
	p.interB = gen(t, certs.Template{Subject: "CN=Fabrikam TLS CA 2026, O=Fabrikam", IsCA: true, Issuer: p.root})
	p.leaf = gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"},
		Issuer: p.interA, NotAfter: now.Add(20 * 24 * time.Hour)})
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.root.Leaf)
	return p
}

func loadConfig(t *testing.T, pin string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "mailflow.yaml")
	y := fmt.Sprintf(`server:
  name: SERVER1
  fqdn: server1.contoso.local
  data_dir: ./data
accepted_domains: [contoso.com]
admin:
  listen: off
receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:2525"]
    fqdn: mail.contoso.com
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    tls_certificate_name: %q
`, pin)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRenewalGuard(t *testing.T) {
	p := newPKI(t)
	cfg := loadConfig(t, p.leaf.Name())
	g := Guard{Cfg: cfg, Store: certs.NewStore(p.leaf), Roots: p.roots, Now: now}
	const fqdn = "mail.contoso.com"
	renew := func(tmpl certs.Template) *certs.Certificate {
		if tmpl.Subject == "" {
			tmpl.Subject = "CN=mail.contoso.com"
		}
		if tmpl.SANs == nil {
			tmpl.SANs = []string{fqdn, "autodiscover.contoso.com"}
		}
		if tmpl.Issuer == nil {
			tmpl.Issuer = p.interA
		}
		tmpl.NotBefore = now.Add(-time.Hour)
		tmpl.NotAfter = now.Add(365 * 24 * time.Hour)
		return gen(t, tmpl)
	}

	good := renew(certs.Template{})
	if fs, uses := g.Admit(good); len(fs) != 0 || len(uses) != 1 || uses[0].Connector != "Default Frontend SERVER1" {
		t.Fatalf("a proper renewal: findings %v uses %v", fs, uses)
	}

	newIssuer := renew(certs.Template{Issuer: p.interB})
	missing := renew(certs.Template{})
	missing.Chain = missing.Chain[:1]
	cases := []struct {
		name  string
		c     *certs.Certificate
		check string
		want  []string
	}{
		{"issuer change", newIssuer, CheckPin, []string{"issuer changed", "tls_certificate_name: '" + newIssuer.Name() + "'",
			"-TlsCertificateName '" + newIssuer.Name() + "'", "--repin"}},
		{"SAN removal", renew(certs.Template{Subject: "CN=autodiscover.contoso.com", SANs: []string{"autodiscover.contoso.com"}}), CheckName,
			[]string{"does not hold mail.contoso.com", "--san mail.contoso.com"}},
		{"missing intermediate", missing, CheckChain, []string{"not complete", "CN=Fabrikam TLS CA 2024, O=Fabrikam", "intermediate"}},
		{"wrong key usage", renew(certs.Template{ClientAuth: true}), CheckKeyUsage, []string{"without Server Authentication", "Server Authentication (1.3.6.1.5.5.7.3.1)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, _ := g.Admit(tc.c)
			if !fs.Refused() {
				t.Fatalf("not refused: %v", fs)
			}
			var hit *Finding
			for i := range fs {
				if fs[i].Check == tc.check && fs[i].Severity == SevError && hit == nil {
					hit = &fs[i]
				}
			}
			if hit == nil {
				t.Fatalf("no %s finding in %v", tc.check, fs)
			}
			text := hit.Problem + " " + hit.Fix
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("finding lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

// The extension point: an extra checker (the DANE TLSA check plugs in here)
// is run per connector and its findings refuse like the others.
func TestGuardRunsExtraCheckers(t *testing.T) {
	p := newPKI(t)
	cfg := loadConfig(t, p.leaf.Name())
	var seen []string
	g := Guard{Cfg: cfg, Store: certs.NewStore(p.leaf), Roots: p.roots, Now: now, Extra: []Checker{
		func(c *certs.Certificate, u Use) Findings {
			seen = append(seen, u.FQDN)
			return Findings{{Severity: SevError, Check: "dane", Connector: u.Connector, Problem: "TLSA 3 1 1 does not match", Fix: "publish the new record first"}}
		}}}
	renewed := gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.interA})
	fs, _ := g.Admit(renewed)
	if !fs.Refused() || len(seen) != 1 || seen[0] != "mail.contoso.com" {
		t.Fatalf("extra checker: seen %v findings %v", seen, fs)
	}
}

// Expiry: the injected clock moves the same certificate from fine to the
// 30-day warning (event 12017) to the expired error (event 12018) that says
// validating senders refuse a pinned expired certificate.
func TestExpiryWarnings(t *testing.T) {
	p := newPKI(t)
	cfg := loadConfig(t, p.leaf.Name())
	at := func(ts time.Time) Findings {
		return Guard{Cfg: cfg, Store: certs.NewStore(p.leaf), Roots: p.roots, Now: ts}.Expiry(time.Duration(cfg.ExpiryWarning()))
	}
	notAfter := p.leaf.Leaf.NotAfter
	if fs := at(notAfter.Add(-31 * 24 * time.Hour)); len(fs) != 0 {
		t.Fatalf("31 days before expiry: %v", fs)
	}
	fs := at(notAfter.Add(-10 * 24 * time.Hour))
	if len(fs) != 1 || fs[0].Severity != SevWarning || !strings.Contains(fs[0].Problem, "will expire in 10 day(s)") ||
		!strings.Contains(fs[0].Problem, "Default Frontend SERVER1") || !strings.Contains(fs[0].Problem, "12017") {
		t.Fatalf("10 days before expiry: %v", fs)
	}
	fs = at(notAfter.Add(time.Hour))
	if len(fs) != 1 || fs[0].Severity != SevError || !strings.Contains(fs[0].Problem, "12018") ||
		!strings.Contains(fs[0].Problem, "validating senders refuse") || !strings.Contains(fs[0].Fix, "mailflow cert request") {
		t.Fatalf("after expiry: %v", fs)
	}
	// A 60-day setting warns earlier.
	fs = Guard{Cfg: cfg, Store: certs.NewStore(p.leaf), Now: notAfter.Add(-45 * 24 * time.Hour)}.Expiry(60 * 24 * time.Hour)
	if len(fs) != 1 || fs[0].Severity != SevWarning {
		t.Fatalf("60-day warning period: %v", fs)
	}
}

func TestCheckReport(t *testing.T) {
	p := newPKI(t)
	cfg := loadConfig(t, p.leaf.Name())
	g := Guard{Cfg: cfg, Store: certs.NewStore(p.leaf), Roots: p.roots, Now: now}
	r := g.Check(30 * 24 * time.Hour)
	if len(r.Connectors) != 1 || r.Connectors[0].Presents != p.leaf.Thumbprint || r.ExitCode() != 1 {
		t.Fatalf("report %+v", r)
	}
	if f := r.Connectors[0].Findings; len(f) != 1 || f[0].Check != CheckExpiry {
		t.Fatalf("a leaf 20 days from expiry: %v", f)
	}
	r = Guard{Cfg: cfg, Store: certs.NewStore(p.leaf), Roots: p.roots, Now: now}.Check(7 * 24 * time.Hour)
	if r.ExitCode() != 0 {
		t.Fatalf("a healthy certificate: %+v", r.Connectors[0].Findings)
	}
}

// A renewal is judged against what is presented now: replacing a
// self-signed certificate (DANE "3 1 1" without a CA) with another one is
// not refused for its chain, only warned about.
func TestSelfSignedRenewalOfSelfSignedIsAWarning(t *testing.T) {
	cfg := loadConfig(t, "")
	cur := gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}})
	next := gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, NotBefore: now.Add(-time.Hour)})
	fs, uses := Guard{Cfg: cfg, Store: certs.NewStore(cur), Roots: x509.NewCertPool(), Now: now}.Admit(next)
	if fs.Refused() || len(uses) != 1 || len(fs) != 1 || fs[0].Check != CheckChain || fs[0].Severity != SevWarning {
		t.Fatalf("findings %v uses %v", fs, uses)
	}
}
