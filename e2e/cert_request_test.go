package e2e

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// openssl runs openssl in dir and fails the test on error.
func openssl(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The third-party CA flow against the running binary, with the second
// report's renewal question: the CA now signs with a new intermediate, so
// the connector's pin <I>old issuer<S>CN=mail.contoso.com would select
// nothing once the old certificate goes. mailflow refuses that import and
// prints the new pin; the import with --repin swaps it live while held
// sessions finish on the old certificate; a reply for another key and a
// PFX with a wrong password are refused and change nothing.
func TestCertificateRequestImportLive(t *testing.T) {
	need(t, "openssl")
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	port, adminPort := testkit.FreePort(t), testkit.FreePort(t)
	cfg := filepath.Join(dir, "onprem.yaml")
	fe := strings.Replace(testkit.DefaultFrontend(port, pki.Contoso.Name()), "fqdn: server1.contoso.local", "fqdn: mail.contoso.com", 1)
	testkit.WriteFile(t, cfg, testkit.LabOnPrem+fmt.Sprintf("admin:\n  listen: 127.0.0.1:%d\n", adminPort)+fe)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := startServe(t, cfg)
	if got := testkit.Presented(t, addr); got != pki.Contoso.Thumbprint {
		t.Fatalf("at start: %s", got)
	}

	// 1. The request: a CSR openssl accepts, a pending key in the store.
	csr := filepath.Join(dir, "mail.csr")
	code, out, errOut := mailflow(t, "cert", "request", "--config", cfg, "--subject", "CN=mail.contoso.com",
		"--san", "mail.contoso.com", "--san", "autodiscover.contoso.com", "--key", "ecdsa-p256", "--out", csr)
	if code != 0 || !strings.Contains(out, "pending") {
		t.Fatalf("cert request: %d\n%s%s", code, out, errOut)
	}
	if v := openssl(t, dir, "req", "-verify", "-noout", "-in", csr); !strings.Contains(v, "OK") {
		t.Fatalf("openssl req -verify: %s", v)
	}
	if _, out, _ := mailflow(t, "cert", "list", "--config", cfg); !strings.Contains(out, "PendingRequest") || !strings.Contains(out, "CN=mail.contoso.com") {
		t.Fatalf("cert list does not show the pending request:\n%s", out)
	}

	// 2. The CA signs with its new intermediate and sends a .p7b chain.
	inter, err := certs.Generate(certs.Template{Subject: "CN=Contoso Lab Issuing CA 2", IsCA: true, Issuer: pki.CA, KeyType: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	interFile := filepath.Join(dir, "inter.pem")
	if err := certs.WritePEM(interFile, inter); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ext.cnf"), []byte("subjectAltName=DNS:mail.contoso.com,DNS:autodiscover.contoso.com\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n"), 0o600)
	openssl(t, dir, "x509", "-req", "-in", csr, "-CA", interFile, "-CAkey", interFile, "-CAcreateserial", "-days", "365",
		"-extfile", "ext.cnf", "-out", "signed.cer")
	signedPEM, _ := os.ReadFile(filepath.Join(dir, "signed.cer"))
	os.WriteFile(filepath.Join(dir, "bundle.pem"), append(signedPEM, pemCert(inter.Chain[0])...), 0o600)
	openssl(t, dir, "crl2pkcs7", "-nocrl", "-certfile", "bundle.pem", "-outform", "DER", "-out", "signed.p7b")
	p7b := filepath.Join(dir, "signed.p7b")
	newName := "<I>CN=Contoso Lab Issuing CA 2<S>CN=mail.contoso.com"

	good, _ := os.ReadFile(cfg)
	code, out, errOut = mailflow(t, "cert", "import", p7b, "--config", cfg)
	if code != 1 || !strings.Contains(out, "Refused") || !strings.Contains(out, "tls_certificate_name: '"+newName+"'") ||
		!strings.Contains(out, "Set-ReceiveConnector \"Default Frontend SERVER1\" -TlsCertificateName '"+newName+"'") {
		t.Fatalf("import with a new issuer: exit %d\n%s%s", code, out, errOut)
	}
	if now, _ := os.ReadFile(cfg); !bytes.Equal(now, good) {
		t.Fatal("the refused import changed the configuration")
	}
	if got := testkit.Presented(t, addr); got != pki.Contoso.Thumbprint {
		t.Fatalf("after the refused import: %s", got)
	}

	// 3. A reply for a key mailflow never made, and a PFX with a wrong
	// password: refused, nothing changed.
	openssl(t, dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=mail.contoso.com",
		"-keyout", "other.key", "-out", "other.csr")
	openssl(t, dir, "x509", "-req", "-in", "other.csr", "-CA", interFile, "-CAkey", interFile, "-CAcreateserial", "-days", "30", "-out", "other.cer")
	code, out, errOut = mailflow(t, "cert", "import", filepath.Join(dir, "other.cer"), "--config", cfg)
	if code == 0 || !strings.Contains(errOut, "different request") {
		t.Fatalf("reply for another key: exit %d\n%s%s", code, out, errOut)
	}
	os.WriteFile(filepath.Join(dir, "wrong.pass"), []byte("not-the-password\n"), 0o600)
	code, out, errOut = mailflow(t, "cert", "import", pki.ContosoPFX, "--password-file", filepath.Join(dir, "wrong.pass"), "--config", cfg)
	if code == 0 || !strings.Contains(errOut, "wrong PFX password") {
		t.Fatalf("PFX with a wrong password: exit %d\n%s%s", code, out, errOut)
	}
	if now, _ := os.ReadFile(cfg); !bytes.Equal(now, good) {
		t.Fatal("a refused import changed the configuration")
	}

	// 4. The correct import: --repin pins the new issuer in the same step,
	// live; sessions in flight finish on the old certificate.
	held := holdSessions(t, addr, 5)
	mark := p.mark()
	code, out, errOut = mailflow(t, "cert", "import", p7b, "--config", cfg, "--repin")
	if code != 0 || !strings.Contains(out, "Connectors now presenting it: Default Frontend SERVER1") || !strings.Contains(out, "completed pending request") {
		t.Fatalf("import --repin: exit %d\n%s%s", code, out, errOut)
	}
	p.waitLog(t, mark, pollDeadline, "configuration applied")
	got := testkit.Presented(t, addr)
	if got == pki.Contoso.Thumbprint {
		t.Fatal("the connector still presents the old certificate")
	}
	finishAll(t, held, pki.Contoso.Thumbprint)
	if s, err := testkit.Dial(addr); err != nil {
		t.Fatal(err)
	} else {
		if err := s.Secure(); err != nil {
			t.Fatal(err)
		}
		if code, err := s.Send("sender@tenant.example", "user@contoso.com", heldMessage); code != 250 {
			t.Fatalf("mail after the swap: %d %v", code, err)
		}
		s.Quit()
	}
	if _, out, _ := mailflow(t, "cert", "list", "--config", cfg); strings.Contains(out, "PendingRequest") {
		t.Fatalf("the completed request is still pending:\n%s", out)
	}
	code, out, errOut = mailflow(t, "cert", "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "PASS receive connector \"Default Frontend SERVER1\"") || !strings.Contains(out, got) {
		t.Fatalf("cert check after the import: exit %d\n%s%s", code, out, errOut)
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A certificate with its key but without its intermediate CA: refused with
// the fix, the configuration untouched; with --force it is added and the
// problems are logged as warnings.
func TestCertImportForce(t *testing.T) {
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "onprem.yaml")
	fe := strings.Replace(testkit.DefaultFrontend(testkit.FreePort(t), pki.Contoso.Name()), "fqdn: server1.contoso.local", "fqdn: mail.contoso.com", 1)
	testkit.WriteFile(t, cfg, testkit.LabOnPrem+"admin:\n  listen: off\n"+fe)
	inter, err := certs.Generate(certs.Template{Subject: "CN=Contoso Lab Issuing CA 2", IsCA: true, Issuer: pki.CA, KeyType: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.Generate(certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"}, Issuer: inter, KeyType: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	leaf.Chain = leaf.Chain[:1] // the intermediate is missing
	file := filepath.Join(dir, "leaf-only.pem")
	if err := certs.WritePEM(file, leaf); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(cfg)
	code, out, errOut := mailflow(t, "cert", "import", file, "--config", cfg)
	if code != 1 || !strings.Contains(out, "not complete to a trusted root") || !strings.Contains(out, "CN=Contoso Lab Issuing CA 2") ||
		!strings.Contains(out, "intermediate CA certificate") || !strings.Contains(out, "Nothing was changed") {
		t.Fatalf("import without the intermediate: exit %d\n%s%s", code, out, errOut)
	}
	if now, _ := os.ReadFile(cfg); !bytes.Equal(now, good) {
		t.Fatal("the refused import changed the configuration")
	}
	code, out, errOut = mailflow(t, "cert", "import", file, "--config", cfg, "--force")
	if code != 0 || !strings.Contains(out, "added "+file) {
		t.Fatalf("import --force: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "WARN certificate imported despite a problem (--force)") || !strings.Contains(errOut, "check=chain") {
		t.Fatalf("--force did not log the warnings:\n%s", errOut)
	}
	if now, _ := os.ReadFile(cfg); !strings.Contains(string(now), file) {
		t.Fatal("--force did not add the certificate")
	}
}
