// Package probetest holds the fixtures shared by the probe and connector
// validation tests: a lab PKI valid around a fixed clock, a map-backed DNS, a
// redirecting dialer and scripted SMTP servers. Only tests import it.
package probetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// The -update flag refreshes golden files (a test file may register it
// first; whoever does, the others read it).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

func Update() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// Now is the clock of the probe tests.
var Now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func Clock() time.Time { return Now }

// PKI mirrors the lab's certificate set (internal/labpki) with the fixed
// dates and distinguished names the probe's golden files hold.
type PKI struct {
	CA *certs.Certificate // CN=Contoso Lab CA

	Server1   *certs.Certificate // self-signed CN=SERVER1, like New-ExchangeCertificate's default
	Contoso   *certs.Certificate // CA-issued CN=mail.contoso.com (written as a PFX)
	Tenant    *certs.Certificate // CA-issued CN=mail.protection.outlook.com
	SANOnly   *certs.Certificate // CA-issued CN=hybrid.contoso.net, SAN mail.contoso.com
	Renewed   *certs.Certificate // renewal of Contoso: same issuer and subject, later dates
	Untrusted *certs.Certificate // mail.protection.outlook.com from a CA nobody trusts
	Client    *certs.Certificate // CA-issued CN=mail.fabrikam.com, a sender's client certificate
}

// PKIFiles are the PKI written as an Exchange server's exported
// certificates, for --certs.
type PKIFiles struct {
	Dir, CAFile, ContosoPFX, ContosoPass string
}

const PFXPassword = "probe-password"

var (
	labOnce sync.Once
	labPKI  *PKI
	labErr  error
)

// Lab generates the PKI once per test binary, valid around
// Now.
func Lab(t *testing.T) *PKI {
	t.Helper()
	labOnce.Do(func() { labPKI, labErr = newPKI(Now) })
	if labErr != nil {
		t.Fatalf("test PKI: %v", labErr)
	}
	return labPKI
}

func newPKI(now time.Time) (*PKI, error) {
	var err error
	p := &PKI{}
	nb, na := now.Add(-time.Hour), now.AddDate(2, 0, 0)
	gen := func(dst **certs.Certificate, t certs.Template) {
		if err != nil {
			return
		}
		if t.NotBefore.IsZero() {
			t.NotBefore, t.NotAfter = nb, na
		}
		t.KeyType = "ecdsa-p256"
		*dst, err = certs.Generate(t)
	}
	var otherCA *certs.Certificate
	gen(&p.CA, certs.Template{Subject: "CN=Contoso Lab CA, O=Contoso Lab, C=US", IsCA: true, NotBefore: nb, NotAfter: now.AddDate(10, 0, 0)})
	gen(&otherCA, certs.Template{Subject: "CN=Untrusted Lab CA", IsCA: true})
	gen(&p.Server1, certs.Template{Subject: "CN=SERVER1", SANs: []string{"SERVER1", "server1.contoso.local"}})
	if err != nil {
		return nil, err
	}
	gen(&p.Contoso, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"}, Issuer: p.CA})
	gen(&p.Tenant, certs.Template{Subject: "CN=mail.protection.outlook.com, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",
		SANs: []string{"mail.protection.outlook.com", "*.mail.protection.outlook.com"}, Issuer: p.CA})
	gen(&p.SANOnly, certs.Template{Subject: "CN=hybrid.contoso.net", SANs: []string{"hybrid.contoso.net", "mail.contoso.com"}, Issuer: p.CA})
	gen(&p.Renewed, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com", "smtp.contoso.com"},
		Issuer: p.CA, NotBefore: nb.Add(30 * time.Minute), NotAfter: na.AddDate(1, 0, 0)})
	gen(&p.Untrusted, certs.Template{Subject: "CN=mail.protection.outlook.com", SANs: []string{"mail.protection.outlook.com"}, Issuer: otherCA})
	gen(&p.Client, certs.Template{Subject: "CN=mail.fabrikam.com", SANs: []string{"mail.fabrikam.com"}, Issuer: p.CA, ClientAuth: true})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// WriteFiles writes the PKI into a fresh test directory: PEM files with
// their keys, mail.contoso.com as a password-protected PFX, the CA
// certificate alone.
func (p *PKI) WriteFiles(t *testing.T) PKIFiles {
	t.Helper()
	dir := t.TempDir()
	f := PKIFiles{
		Dir: dir, CAFile: filepath.Join(dir, "lab-ca.pem"),
		ContosoPFX: filepath.Join(dir, "mail-contoso.pfx"), ContosoPass: filepath.Join(dir, "mail-contoso.pass"),
	}
	if err := certs.WriteCertPEM(f.CAFile, p.CA); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*certs.Certificate{
		"server1-selfsigned.pem": p.Server1, "tenant.pem": p.Tenant, "hybrid-san.pem": p.SANOnly,
		"mail-contoso-renewed.pem": p.Renewed, "untrusted.pem": p.Untrusted,
	} {
		if err := certs.WritePEM(filepath.Join(dir, name), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := certs.WritePFX(f.ContosoPFX, p.Contoso, PFXPassword); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.ContosoPass, []byte(PFXPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// LabRoots trusts the lab CA only.
func LabRoots(t *testing.T) *x509.CertPool {
	p := Lab(t)
	pool := x509.NewCertPool()
	pool.AddCert(p.CA.Leaf)
	return pool
}

// GenCert makes a certificate valid around Now unless told
// otherwise.
func GenCert(t *testing.T, tmpl certs.Template) *certs.Certificate {
	t.Helper()
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = Now.Add(-24*time.Hour), Now.AddDate(1, 0, 0)
	}
	return testkit.Cert(t, tmpl, Now)
}

func TLSConfig(c *certs.Certificate) *tls.Config { return testkit.ServerTLS(c) }

// SMTP starts a scriptable SMTP server on 127.0.0.1.
func SMTP(t *testing.T, s *smtptest.Server) *smtptest.Server {
	t.Helper()
	if s.Hostname == "" {
		s.Hostname = "SERVER1.contoso.local"
	}
	s.Start(t)
	return s
}

// Banner makes a test server greet like Exchange.
func Banner(host string) *smtp.Reply {
	return &smtp.Reply{Code: 220, Lines: []string{host + " Microsoft ESMTP MAIL Service ready"}}
}

// DNS is the shared test resolver: answers from maps, NXDOMAIN otherwise.
type DNS = testkit.DNS

// Redirect is a dialer that sends connections for the addresses in to
// (e.g. "127.0.0.1:25") to the test servers' real loopback addresses,
// from laddr like the real dialer. Anything else is refused without
// touching the network.
func Redirect(to map[string]string) func(ctx context.Context, network, laddr, raddr string) (net.Conn, error) {
	return func(ctx context.Context, network, laddr, raddr string) (net.Conn, error) {
		dst, ok := to[raddr]
		if !ok {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("test dialer: no route to " + raddr)}
		}
		var d net.Dialer
		if laddr != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(laddr)}
		}
		return d.DialContext(ctx, network, dst)
	}
}

// Port is the port of a "host:port" address.
func Port(t *testing.T, addr string) int { return testkit.PortOf(t, addr) }

// ClosedAddr is an address on 127.0.0.1 where nothing listens.
func ClosedAddr(t *testing.T) string { return testkit.ClosedAddr(t) }

// WriteFile writes a test file and returns its path.
func WriteFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
