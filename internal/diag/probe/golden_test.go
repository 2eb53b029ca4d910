package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/diag/probe/probetest"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// probeFixtureDir holds fixed certificates (with their test keys), so the
// golden report's thumbprints and serials do not change between runs.
var probeFixtureDir = filepath.Join("testdata", "pki")

// probeFixtures are the certificates of the 450 4.7.320 SubjectMismatch
// case: the self-signed CN=SERVER1 the connector presented and the CA-issued mail.contoso.com it
// should have presented.
type probeFixtures struct {
	ca, server1, contoso *certs.Certificate
}

// loadProbeFixtures reads the fixed certificates; with -update it creates
// them first when they are missing.
func loadProbeFixtures(t *testing.T) probeFixtures {
	t.Helper()
	files := map[string]string{"ca": "ca.pem", "server1": "server1.pem", "contoso": "contoso.pem"}
	if _, err := os.Stat(filepath.Join(probeFixtureDir, files["contoso"])); errors.Is(err, os.ErrNotExist) && probetest.Update() {
		writeProbeFixtures(t)
	}
	load := func(name string) *certs.Certificate {
		c, err := certs.LoadFile(filepath.Join(probeFixtureDir, files[name]), "", "")
		if err != nil {
			t.Fatalf("fixture (run with -update to create it): %v", err)
		}
		return c
	}
	return probeFixtures{ca: load("ca"), server1: load("server1"), contoso: load("contoso")}
}

func writeProbeFixtures(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(probeFixtureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	nb, na := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC)
	gen := func(tmpl certs.Template) *certs.Certificate {
		tmpl.KeyType = "ecdsa-p256"
		if tmpl.NotBefore.IsZero() {
			tmpl.NotBefore, tmpl.NotAfter = nb, na
		}
		c, err := certs.Generate(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := gen(certs.Template{Subject: "CN=Contoso Lab CA, O=Contoso Lab, C=US", IsCA: true,
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)})
	server1 := gen(certs.Template{Subject: "CN=SERVER1", SANs: []string{"SERVER1", "server1.contoso.local"}})
	contoso := gen(certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"}, Issuer: ca})
	if err := certs.WriteCertPEM(filepath.Join(probeFixtureDir, "ca.pem"), ca); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*certs.Certificate{"server1.pem": server1, "contoso.pem": contoso} {
		if err := certs.WritePEM(filepath.Join(probeFixtureDir, name), c); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProbeGoldenSubjectMismatch pins the text report of the 450 4.7.320
// SubjectMismatch case: the cloud,
// validating mail.contoso.com, meets the self-signed CN=SERVER1 of
// "Default Frontend SERVER1"; the fix pins mail.contoso.com. Refresh with
// go test -run Golden -update.
func TestProbeGoldenSubjectMismatch(t *testing.T) {
	fx := loadProbeFixtures(t)
	srv := probetest.SMTP(t, &smtptest.Server{
		Hostname:   "SERVER1.contoso.local",
		Banner:     probetest.Banner("SERVER1.contoso.local"),
		Extensions: []string{"SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "8BITMIME"},
		// One protocol and suite, so the report does not depend on the
		// machine's AES support.
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{*fx.server1.TLS()}, SessionTicketsDisabled: true,
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		},
	})
	roots := x509.NewCertPool()
	roots.AddCert(fx.ca.Leaf)
	r := Run(context.Background(), Options{
		Target: "mail.contoso.com", EHLO: "mail.protection.outlook.com", Level: tlscheck.DomainValidation,
		Roots: roots, Certificates: certs.NewStore(fx.server1, fx.contoso), Connector: "Default Frontend SERVER1",
		Now: probetest.Clock, Resolver: &probetest.DNS{Hosts: map[string][]string{"mail.contoso.com": {"127.0.0.1"}}},
		Dialer: probetest.Redirect(map[string]string{"127.0.0.1:25": srv.Addr}),
	})

	// The facts first, so the golden file is not the only judge.
	if r.Verdict.Result != Fail || r.Verdict.Status != send.StatusCertificate || r.Verdict.Reason != string(tlscheck.SubjectMismatch) {
		t.Fatalf("verdict = %+v", r.Verdict)
	}
	wantMsg := "SubjectMismatch Expected Subject: mail.contoso.com. Presented Subject: CN=SERVER1. Thumbprint: " + fx.server1.Thumbprint
	if r.Verdict.Message != wantMsg {
		t.Errorf("message = %q, want %q", r.Verdict.Message, wantMsg)
	}
	if r.Fix == nil || r.Fix.Recommended == nil || r.Fix.Recommended.Thumbprint != fx.contoso.Thumbprint {
		t.Fatalf("fix = %+v", r.Fix)
	}
	wantPin := `Set-ReceiveConnector "Default Frontend SERVER1" -TlsCertificateName "<I>CN=Contoso Lab CA, O=Contoso Lab, C=US<S>CN=mail.contoso.com"`
	if r.Fix.Exchange != wantPin {
		t.Errorf("exchange = %q, want %q", r.Fix.Exchange, wantPin)
	}

	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "subject_mismatch.golden")
	if probetest.Update() {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("report differs from %s (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, buf.Bytes(), want)
	}
	// The verdict line is first-class: the first line of the report.
	if first, _, _ := strings.Cut(buf.String(), "\n"); first != "✗ FAIL  450 4.7.320 Certificate validation failed" {
		t.Errorf("first line = %q", first)
	}
}
