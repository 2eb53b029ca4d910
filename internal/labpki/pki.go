// Package labpki owns the lab's certificate set: a lab CA, the
// self-signed CN=SERVER1 certificate Exchange creates by default, the
// CA-issued mail.contoso.com (also as a PFX), the tenant's
// mail.protection.outlook.com, a SAN-only certificate, a renewal and a
// certificate from a CA nobody trusts, written as files a configuration
// can name. mailflow lab and mailflow cert lab use it, and so do the
// integration tests, so the lab and the tests exercise the same
// certificates without the tests depending on the lab's scenarios.
package labpki

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// PKI is the lab's certificate set, written as files a configuration can
// name. It is also what the project's integration tests use, so the lab
// and the tests exercise the same certificates.
type PKI struct {
	Dir string
	CA  *certs.Certificate // CN=Contoso Lab CA (the pins in examples/*.yaml name it)

	Server1   *certs.Certificate // self-signed CN=SERVER1, like New-ExchangeCertificate's default
	Contoso   *certs.Certificate // CA-issued CN=mail.contoso.com, SAN mail.contoso.com, autodiscover.contoso.com
	Tenant    *certs.Certificate // CA-issued CN=mail.protection.outlook.com with the cloud's SAN pattern
	SANOnly   *certs.Certificate // CA-issued CN=hybrid.contoso.net, SAN mail.contoso.com (does a name only in the SAN pass DomainValidation?)
	Renewed   *certs.Certificate // renewal of Contoso (same issuer+subject) with an extra SAN
	Untrusted *certs.Certificate // mail.protection.outlook.com from a CA nobody trusts

	CAFile, Server1File, ContosoPFX, ContosoPass, TenantFile, SANOnlyFile, RenewedFile, UntrustedFile string
}

// PFXPassword protects the lab's PKCS#12 file.
const PFXPassword = "lab-password"

// New generates the lab certificates under dir/certs.
func New(dir string, now time.Time) (*PKI, error) {
	d := filepath.Join(dir, "certs")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", d, err)
	}
	p := &PKI{Dir: d}
	nb, na := now.Add(-time.Hour), now.AddDate(2, 0, 0)
	var err error
	gen := func(dst **certs.Certificate, t certs.Template) {
		if err != nil {
			return
		}
		if t.NotBefore.IsZero() {
			t.NotBefore, t.NotAfter = nb, na
		}
		if t.KeyType == "" {
			t.KeyType = "ecdsa-p256"
		}
		*dst, err = certs.Generate(t)
		if err != nil {
			err = fmt.Errorf("generate %s: %w", t.Subject, err)
		}
	}
	gen(&p.CA, certs.Template{Subject: "CN=Contoso Lab CA", IsCA: true, NotBefore: nb, NotAfter: now.AddDate(10, 0, 0)})
	var otherCA *certs.Certificate
	gen(&otherCA, certs.Template{Subject: "CN=Untrusted Lab CA", IsCA: true})
	gen(&p.Server1, certs.Template{Subject: "CN=SERVER1", SANs: []string{"SERVER1", "server1.contoso.local"}})
	if err != nil {
		return nil, err
	}
	gen(&p.Contoso, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"}, Issuer: p.CA})
	gen(&p.Tenant, certs.Template{Subject: "CN=mail.protection.outlook.com",
		SANs: []string{"mail.protection.outlook.com", "*.mail.protection.outlook.com", "*.mail.eo.outlook.com", "outlook.com"}, Issuer: p.CA})
	gen(&p.SANOnly, certs.Template{Subject: "CN=hybrid.contoso.net", SANs: []string{"hybrid.contoso.net", "mail.contoso.com"}, Issuer: p.CA})
	// A renewal: same issuer and subject, one more SAN, a later NotBefore.
	gen(&p.Renewed, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com", "smtp.contoso.com"},
		Issuer: p.CA, NotBefore: nb.Add(30 * time.Minute), NotAfter: na.AddDate(1, 0, 0)})
	gen(&p.Untrusted, certs.Template{Subject: "CN=mail.protection.outlook.com", SANs: []string{"mail.protection.outlook.com"}, Issuer: otherCA})
	if err != nil {
		return nil, err
	}
	p.CAFile = filepath.Join(d, "lab-ca.pem")
	p.Server1File = filepath.Join(d, "server1-selfsigned.pem")
	p.ContosoPFX = filepath.Join(d, "mail-contoso.pfx")
	p.ContosoPass = filepath.Join(d, "mail-contoso.pass")
	p.TenantFile = filepath.Join(d, "mail-protection.pem")
	p.SANOnlyFile = filepath.Join(d, "hybrid-san.pem")
	p.RenewedFile = filepath.Join(d, "mail-contoso-renewed.pem")
	p.UntrustedFile = filepath.Join(d, "untrusted.pem")
	if err := certs.WriteCertPEM(p.CAFile, p.CA); err != nil {
		return nil, err
	}
	for _, w := range []struct {
		path string
		c    *certs.Certificate
	}{{p.Server1File, p.Server1}, {p.TenantFile, p.Tenant}, {p.SANOnlyFile, p.SANOnly}, {p.RenewedFile, p.Renewed}, {p.UntrustedFile, p.Untrusted}} {
		if err := certs.WritePEM(w.path, w.c); err != nil {
			return nil, err
		}
	}
	if err := certs.WritePFX(p.ContosoPFX, p.Contoso, PFXPassword); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.ContosoPass, []byte(PFXPassword+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", p.ContosoPass, err)
	}
	return p, nil
}
