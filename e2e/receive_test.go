package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// onprem writes a configuration shaped like examples/onprem.yaml, bound to
// 127.0.0.1 on a free port, with the lab PKI.
func onprem(t *testing.T, extra string) (cfgPath string, port int, pki *labpki.PKI) {
	t.Helper()
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	port = testkit.FreePort(t)
	cfg := testkit.LabOnPrem + fmt.Sprintf(`admin:
  listen: off
receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:%[1]d"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    fqdn: server1.contoso.local
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    tls_certificate_name: ""
    protocol_logging_level: Verbose
  - name: Inbound from Office 365
    bindings: ["127.0.0.1:%[1]d"]
    remote_ip_ranges: ["127.0.0.2/32"]
    fqdn: mail.contoso.com
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers, Partners]
    tls_certificate_name: "<I>CN=Contoso Lab CA<S>CN=mail.contoso.com"
    require_tls: true
    domain_secure_enabled: true
    tls_sender_certificate_name: mail.protection.outlook.com
    protocol_logging_level: Verbose
%[2]s`, port, extra)
	cfgPath = filepath.Join(dir, "onprem.yaml")
	testkit.WriteFile(t, cfgPath, cfg)
	return cfgPath, port, pki
}

func TestReceiveCertificateSelectionWithRealClients(t *testing.T) {
	cfg, port, pki := onprem(t, "")
	p := startServe(t, cfg)

	// From 127.0.0.1: Default Frontend, automatic selection by fqdn
	// server1.contoso.local → the self-signed SERVER1 certificate.
	r := pySMTP(t, pyOpts{port: port, source: "127.0.0.1", starttls: true, rcpts: []string{"user@contoso.com"}})
	if !r.StartTLSOffered || code(r.StartTLS) != 220 {
		t.Fatalf("STARTTLS from 127.0.0.1: offered=%v reply=%v", r.StartTLSOffered, r.StartTLS)
	}
	if r.Thumbprint != pki.Server1.Thumbprint {
		t.Fatalf("127.0.0.1 got certificate %s, want SERVER1 %s", r.Thumbprint, pki.Server1.Thumbprint)
	}
	if !strings.Contains(text(r.EHLO), "server1.contoso.local") {
		t.Errorf("EHLO should name the connector fqdn: %q", text(r.EHLO))
	}
	if code(r.Data) != 250 {
		t.Fatalf("anonymous to accepted domain from 127.0.0.1: DATA %v (MAIL %v RCPT %v)", r.Data, r.Mail, r.Rcpt)
	}

	// From 127.0.0.2: the IP-scoped Office 365 connector presents the
	// pinned mail.contoso.com certificate and refuses a client without an
	// acceptable certificate.
	r = pySMTP(t, pyOpts{port: port, source: "127.0.0.2", starttls: true, rcpts: []string{"user@contoso.com"}})
	if r.Thumbprint != pki.Contoso.Thumbprint {
		t.Fatalf("127.0.0.2 got certificate %s, want mail.contoso.com %s", r.Thumbprint, pki.Contoso.Thumbprint)
	}
	if !strings.Contains(text(r.EHLO), "mail.contoso.com") {
		t.Errorf("EHLO should name the connector fqdn mail.contoso.com: %q", text(r.EHLO))
	}
	if code(r.Mail) != 530 || !strings.Contains(text(r.Mail), "NoRemoteCertificate") {
		t.Fatalf("domain-secure connector without client certificate: MAIL %v, want 530 naming NoRemoteCertificate", r.Mail)
	}
	// Without STARTTLS at all: 451 5.7.3.
	r = pySMTP(t, pyOpts{port: port, source: "127.0.0.2", rcpts: []string{"user@contoso.com"}})
	if code(r.Mail) != 451 || !strings.Contains(text(r.Mail), "5.7.3 STARTTLS is required to send mail") {
		t.Fatalf("require_tls without STARTTLS: MAIL %v", r.Mail)
	}
	// Wrong client certificate (untrusted CA) → refused; right one → accepted.
	r = pySMTP(t, pyOpts{port: port, source: "127.0.0.2", starttls: true, cert: pki.UntrustedFile, key: pki.UntrustedFile, rcpts: []string{"user@contoso.com"}})
	// The untrusted CA was not sent and is not trusted: IncompleteChain
	// (or UntrustedRoot had the peer sent its root).
	if code(r.Mail) != 530 || !(strings.Contains(text(r.Mail), "UntrustedRoot") || strings.Contains(text(r.Mail), "IncompleteChain")) {
		t.Fatalf("untrusted client certificate: MAIL %v, want 530 UntrustedRoot/IncompleteChain", r.Mail)
	}
	r = pySMTP(t, pyOpts{port: port, source: "127.0.0.2", starttls: true, cert: pki.TenantFile, key: pki.TenantFile, rcpts: []string{"user@contoso.com"}})
	if code(r.Mail) != 250 || code(r.Data) != 250 {
		t.Fatalf("valid tenant client certificate: MAIL %v DATA %v", r.Mail, r.Data)
	}

	// openssl s_client agrees on the thumbprint.
	need(t, "openssl")
	out, err := exec.Command("sh", "-c", fmt.Sprintf(
		"openssl s_client -starttls smtp -connect 127.0.0.1:%d -servername server1.contoso.local </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha1", port)).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	fp := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(strings.SplitN(string(out), "=", 2)[1]), ":", ""))
	if fp != pki.Server1.Thumbprint {
		t.Fatalf("openssl saw %s, want %s", fp, pki.Server1.Thumbprint)
	}

	// The protocol log holds the certificate lines with both thumbprints,
	// each under its connector.
	p.stop()
	logs := readAll(t, filepath.Join(filepath.Dir(cfg), "data", "logs", "ProtocolLog", "SmtpReceive"))
	for _, want := range []string{
		`SERVER1\Default Frontend SERVER1,[0-9A-F]{16},\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,\*,` + pki.Server1.Thumbprint + `,Certificate thumbprint`,
		`SERVER1\\Inbound from Office 365,[0-9A-F]{16},\d+,127\.0\.0\.1:\d+,127\.0\.0\.2:\d+,\*,` + pki.Contoso.Thumbprint + `,Certificate thumbprint`,
		`\*,,Sending certificate`,
		`\*,CN=SERVER1,Certificate subject`,
	} {
		want = strings.Replace(want, `SERVER1\Default`, `SERVER1\\Default`, 1)
		if !regexp.MustCompile(want).MatchString(logs) {
			t.Errorf("protocol log lacks %s\n%s", want, logs)
		}
	}
}

func readAll(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var b strings.Builder
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}
