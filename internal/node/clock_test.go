package node_test

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// The node's injected clock (Options.Clock) is the receive side's clock
// too: a partner's client certificate valid today is judged expired by a
// domain-secure connector when the node's clock reads two years ahead, and
// accepted when it reads today.
func TestMutualTLSUsesTheInjectedClock(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	gen := func(tm certs.Template) *certs.Certificate { return testkit.Cert(t, tm, now) }
	ca := gen(certs.Template{Subject: "CN=Clock Lab CA", IsCA: true, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(10, 0, 0)})
	server := gen(certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: ca, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(10, 0, 0)})
	client := gen(certs.Template{Subject: "CN=mail.fabrikam.com", SANs: []string{"mail.fabrikam.com"}, Issuer: ca})
	caFile, serverFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem")
	if err := certs.WriteCertPEM(caFile, ca); err != nil {
		t.Fatal(err)
	}
	if err := certs.WritePEM(serverFile, server); err != nil {
		t.Fatal(err)
	}

	mail := func(t *testing.T, clock time.Time) string {
		port := testkit.FreePort(t)
		cfg := filepath.Join(t.TempDir(), "onprem.yaml")
		testkit.WriteFile(t, cfg, fmt.Sprintf(`server:
  name: SERVER1
  fqdn: mail.contoso.com
  data_dir: ./data
accepted_domains: [contoso.com]
trust:
  ca_files: [%q]
  system_roots: false
certificates:
  - file: %q
admin:
  listen: off
receive_connectors:
  - name: Inbound from Fabrikam
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.1/32"]
    fqdn: mail.contoso.com
    auth_mechanism: [Tls]
    permission_groups: [Partners]
    require_tls: true
    domain_secure_enabled: true
    tls_sender_certificate_name: mail.fabrikam.com
    protocol_logging_level: Verbose
`, caFile, serverFile, port))
		n := startWith(t, cfg, node.Options{Clock: testkit.NewClock(clock)})
		s := dialPlain(t, fmt.Sprintf("127.0.0.1:%d", port))
		defer s.Close()
		if _, err := s.StartTLS(&tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{*client.TLS()}}); err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		if _, err := s.Hello(testkit.ClientName); err != nil {
			t.Fatal(err)
		}
		r, err := s.Mail("user@fabrikam.com", nil)
		if err != nil && r.Code == 0 {
			t.Fatal(err)
		}
		// The protocol log is stamped with the same clock.
		n.FlushLogs()
		dir := filepath.Join(n.Runtime().Cfg.LogDir(), "ProtocolLog", "SmtpReceive")
		var logs strings.Builder
		for _, name := range testkit.FileNames(t, dir) {
			logs.Write(testkit.ReadFile(t, filepath.Join(dir, name)))
		}
		if day := clock.UTC().Format("2006-01-02T"); !strings.Contains(logs.String(), day) {
			t.Errorf("the protocol log has no record dated %s:\n%s", day, logs.String())
		}
		return fmt.Sprintf("%d %s", r.Code, strings.Join(r.Lines, " "))
	}
	if got := mail(t, now); !strings.HasPrefix(got, "250") {
		t.Errorf("clock today: MAIL got %q, want 250", got)
	}
	if got := mail(t, now.AddDate(2, 0, 0)); !strings.HasPrefix(got, "530") || !strings.Contains(got, "CertificateExpired") {
		t.Errorf("clock two years ahead: MAIL got %q, want 530 … CertificateExpired", got)
	}
}
