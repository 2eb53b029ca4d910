package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/testpeer"
)

// TestPostfixPeerCertificateFix plays the 450 4.7.320 SubjectMismatch case
// with Postfix as the on-premises receiver: a private Postfix instance presents the
// self-signed CN=SERVER1 certificate, the tenant's DomainValidation send
// connector defers with 450 4.7.320 SubjectMismatch; Postfix is
// reconfigured with the mail.contoso.com certificate (postconf, postfix
// reload) and a queue retry delivers — Postfix's own virtual(8) agent writes
// the message into a maildir.
func TestPostfixPeerCertificateFix(t *testing.T) {
	need(t, "postfix", "python3")
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pfCerts := filepath.Join(dir, "postfix-certs")
	if err := os.MkdirAll(pfCerts, 0o755); err != nil {
		t.Fatal(err)
	}
	serverKey, serverChain := testpeer.WriteChainFiles(t, pfCerts, "server1", pki.Server1)
	contosoKey, contosoChain := testpeer.WriteChainFiles(t, pfCerts, "mail-contoso", pki.Contoso)

	vmail := filepath.Join(dir, "vmail")
	if err := os.MkdirAll(vmail, 0o755); err != nil {
		t.Fatal(err)
	}
	settings := testpeer.MaildirDelivery(t, vmail, "user@contoso.com")
	settings["smtpd_tls_security_level"] = "may"
	settings["smtpd_tls_chain_files"] = serverKey + "," + serverChain
	settings["smtpd_tls_loglevel"] = "1"
	settings["myhostname"] = "mail.contoso.com"
	pf := testpeer.StartPostfix(t, settings)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Postfix maillog:\n%s", pf.Maillog())
		}
	})
	// `postfix start` returns before its master process listens: observe
	// smtpd presenting SERVER1 before the tenant's first attempt, so that
	// attempt meets the certificate and not a refused connection.
	pollUntil(t, "Postfix to present the CN=SERVER1 certificate", func() (bool, string) {
		tp, err := testkit.PresentedThumbprint(pf.Addr())
		if err != nil {
			return false, err.Error()
		}
		return tp == pki.Server1.Thumbprint, "presented " + tp
	})

	// The tenant: a relay connector for the local client and a send
	// connector validating the smart host Postfix as mail.contoso.com.
	tenantDir := filepath.Join(dir, "tenant")
	if err := os.MkdirAll(tenantDir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	cfg := filepath.Join(tenantDir, "tenant.yaml")
	testkit.WriteFile(t, cfg, fmt.Sprintf(`server:
  name: TENANT
  fqdn: mail.tenant.example
  data_dir: ./data
accepted_domains: [tenant.example]
trust:
  ca_files: [%[1]s]
  system_roots: false
certificates:
  - file: %[2]s
receive_connectors:
  - name: Relay TENANT
    bindings: ["127.0.0.1:%[3]d"]
    remote_ip_ranges: ["127.0.0.1/32"]
    fqdn: mail.protection.outlook.com
    auth_mechanism: [Tls, ExternalAuthoritative]
    permission_groups: [ExchangeServers]
send_connectors:
  - name: Outbound to contoso
    address_spaces: [contoso.com]
    smart_hosts: ["%[4]s"]
    fqdn: mail.protection.outlook.com
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: mail.contoso.com
    tls_certificate_name: "%[5]s"
    protocol_logging_level: Verbose
queue:
  retry_intervals: [1h]
admin:
  listen: 127.0.0.1:%[6]d
`, pki.CAFile, pki.TenantFile, port, pf.Addr(), tenantPin, testkit.FreePort(t)))
	startServe(t, cfg)
	tc := awaitAdmin(t, cfg)

	const subject = "subject mismatch via postfix"
	r := pySMTP(t, pyOpts{port: port, source: "127.0.0.1", starttls: true,
		from: "alice@tenant.example", rcpts: []string{"user@contoso.com"},
		body: "Subject: " + subject + "\r\n\r\nto a real Postfix\r\n"})
	if code(r.Data) != 250 {
		t.Fatalf("tenant relay connector: MAIL %v RCPT %v DATA %v", r.Mail, r.Rcpt, r.Data)
	}

	msg := waitRecipient(t, tc, "user@contoso.com", func(rc queueRcpt) bool { return rc.State == "Retry" && rc.Attempts >= 1 })
	if !strings.Contains(msg.rcpt.LastError, "450 4.7.320 Certificate validation failed") || !strings.Contains(msg.rcpt.LastError, "SubjectMismatch") {
		t.Fatalf("last error = %q, want 450 4.7.320 … SubjectMismatch", msg.rcpt.LastError)
	}
	out := traceWith(t, regexp.MustCompile(`DEFER\s+`+msg.id+`\s`), "--config", cfg, "--recipient", "user@contoso.com")
	shape := regexp.MustCompile(`DEFER\s+` + msg.id + `\s.*\{LED=450 4\.7\.320 Certificate validation failed ` +
		`\[Message=SubjectMismatch Expected Subject: mail\.contoso\.com\. Presented Subject: CN=SERVER1\. Thumbprint: ` + pki.Server1.Thumbprint + `\] ` +
		`\[LastAttemptedServerName=[^\]]+\] \[LastAttemptedIP=127\.0\.0\.1:` + strconv.Itoa(pf.Port) + `\]\};` +
		`\{MSG=SubjectMismatch\};\{FQDN=[^}]+\};\{IP=127\.0\.0\.1\};\{LRT=[^}]+\}`)
	if !shape.MatchString(out) {
		t.Errorf("trace lacks the 4.7.320 SubjectMismatch deferral against Postfix:\n%s", out)
	}
	if got, _ := testpeer.MaildirMessages(vmail, "user@contoso.com"); len(got) != 0 {
		t.Fatalf("Postfix delivered %v although the certificate was refused", got)
	}

	// Fix Postfix: present the mail.contoso.com certificate, reload, and
	// observe the new certificate before retrying (a reload lets busy
	// smtpd processes finish their session first).
	pf.Reconfigure(t, map[string]string{"smtpd_tls_chain_files": contosoKey + "," + contosoChain})
	pollUntil(t, "Postfix to present the mail.contoso.com certificate", func() (bool, string) {
		tp, err := testkit.PresentedThumbprint(pf.Addr())
		if err != nil {
			return false, err.Error()
		}
		return tp == pki.Contoso.Thumbprint, "presented " + tp
	})
	cliLive(t, "queue", "retry", "--config", cfg)
	waitQueueEmpty(t, tc, "tenant")

	var files []string
	pollUntil(t, "Postfix to deliver into the maildir", func() (bool, string) {
		var err error
		files, err = testpeer.MaildirMessages(vmail, "user@contoso.com")
		if err != nil {
			return false, err.Error()
		}
		return len(files) == 1, fmt.Sprintf("%d files", len(files))
	})
	body, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Subject: " + subject, "to a real Postfix", "Return-Path: <alice@tenant.example>", "with ESMTPS"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("Postfix's maildir file lacks %q:\n%s", want, body)
		}
	}
	send := traceEvents(t, cfg, "user@contoso.com", "SEND")
	if len(send) != 1 || send[0].InternalMessageID != msg.id || !strings.HasPrefix(strings.Join(send[0].RecipientStatus, ";"), "250") {
		t.Errorf("tenant SEND events = %+v", send)
	}
	// Postfix's log is written by its own daemon, maybe after the file.
	delivered := regexp.MustCompile(`to=<user@contoso\.com>, relay=virtual, .*status=sent \(delivered to maildir\)`)
	pollUntil(t, "Postfix's maillog to record the maildir delivery", func() (bool, string) {
		return delivered.MatchString(pf.Maillog()), "not yet"
	})
}
