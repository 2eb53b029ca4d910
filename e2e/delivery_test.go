package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// The hybrid pair: a cloud tenant (playing Exchange Online) and an
// on-premises server of contoso.com, two real `mailflow serve` processes on
// loopback. Addresses tell the connectors apart, as the hybrid wizards set
// them up:
//
//	127.0.0.1 → tenant "Relay TENANT"          a local client submits (ExternalAuthoritative relay)
//	127.0.0.2 → on-prem "Inbound from Office 365" the tenant's send connector (source_ip), domain secure
//	127.0.0.1 → on-prem "Relay SERVER1"          a local client submits on-premises
//	127.0.0.3 → tenant "Inbound from contoso"    on-prem's send connector (source_ip), domain secure
const (
	// contosoPin is the fix of the 450 4.7.320 SubjectMismatch case: pin
	// the CA-issued mail.contoso.com certificate on the connector the cloud
	// lands on.
	contosoPin = "<I>CN=Contoso Lab CA<S>CN=mail.contoso.com"
	tenantPin  = "<I>CN=Contoso Lab CA<S>CN=mail.protection.outlook.com"
)

type hybrid struct {
	pki                    *labpki.PKI
	tenantCfg, onpremCfg   string
	tenantPort, onpremPort int
}

// newHybrid writes tenant.yaml and onprem.yaml sharing one lab PKI. The
// on-premises "Inbound from Office 365" connector starts with no pinned
// certificate (tls_certificate_name null) and an fqdn that only the
// self-signed CN=SERVER1 certificate holds, so automatic selection presents
// SERVER1 and Exchange Online defers with 450 4.7.320 SubjectMismatch.
func newHybrid(t *testing.T) *hybrid {
	t.Helper()
	base := t.TempDir()
	pki, err := labpki.New(base, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := &hybrid{pki: pki, tenantPort: testkit.FreePort(t), onpremPort: testkit.FreePort(t)}
	// On-premises lives beside the lab PKI (testkit.LabOnPrem names it by
	// relative paths), the tenant in a directory of its own.
	tenantDir := filepath.Join(base, "tenant")
	if err := os.MkdirAll(tenantDir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.tenantCfg = filepath.Join(tenantDir, "tenant.yaml")
	testkit.WriteFile(t, h.tenantCfg, fmt.Sprintf(`server:
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
    protocol_logging_level: Verbose
  - name: Inbound from contoso
    bindings: ["127.0.0.1:%[3]d"]
    remote_ip_ranges: ["127.0.0.3/32"]
    fqdn: mail.protection.outlook.com
    auth_mechanism: [Tls]
    permission_groups: [Partners]
    require_tls: true
    domain_secure_enabled: true
    tls_sender_certificate_name: mail.contoso.com
    protocol_logging_level: Verbose
send_connectors:
  - name: Outbound to contoso
    address_spaces: [contoso.com]
    smart_hosts: ["127.0.0.1:%[4]d"]
    fqdn: mail.protection.outlook.com
    source_ip: 127.0.0.2
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: mail.contoso.com
    tls_certificate_name: "%[5]s"
    protocol_logging_level: Verbose
queue:
  retry_intervals: [1h]
admin:
  listen: 127.0.0.1:%[6]d
`, pki.CAFile, pki.TenantFile, h.tenantPort, h.onpremPort, tenantPin, testkit.FreePort(t)))

	h.onpremCfg = filepath.Join(base, "onprem.yaml")
	testkit.WriteFile(t, h.onpremCfg, testkit.LabOnPrem+fmt.Sprintf(`receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:%[1]d"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    fqdn: server1.contoso.local
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    protocol_logging_level: Verbose
  - name: Inbound from Office 365
    bindings: ["127.0.0.1:%[1]d"]
    remote_ip_ranges: ["127.0.0.2/32"]
    fqdn: server1.contoso.local
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers, Partners]
    tls_certificate_name: ""
    require_tls: true
    domain_secure_enabled: true
    tls_sender_certificate_name: mail.protection.outlook.com
    protocol_logging_level: Verbose
  - name: Relay SERVER1
    bindings: ["127.0.0.1:%[1]d"]
    remote_ip_ranges: ["127.0.0.1/32"]
    fqdn: server1.contoso.local
    auth_mechanism: [Tls, ExternalAuthoritative]
    permission_groups: [ExchangeServers]
    protocol_logging_level: Verbose
send_connectors:
  - name: Outbound to Office 365
    address_spaces: [tenant.example]
    smart_hosts: ["127.0.0.1:%[2]d"]
    fqdn: mail.contoso.com
    source_ip: 127.0.0.3
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: mail.protection.outlook.com
    tls_certificate_name: "%[3]s"
    protocol_logging_level: Verbose
queue:
  retry_intervals: [1h]
admin:
  listen: 127.0.0.1:%[4]d
`, h.onpremPort, h.tenantPort, contosoPin, testkit.FreePort(t)))
	return h
}

// TestHybridCertificateFixEndToEnd is the 450 4.7.320 SubjectMismatch case,
// end to end: the
// tenant's DomainValidation send connector meets on-premises presenting the
// self-signed CN=SERVER1 certificate and defers with 450 4.7.320
// SubjectMismatch; the on-premises connector is fixed live (connector set
// --tls-certificate-name) and an explicit queue retry delivers. Both
// directions use mutual TLS (domain security).
func TestHybridCertificateFixEndToEnd(t *testing.T) {
	need(t, "python3")
	h := newHybrid(t)
	onprem := startServe(t, h.onpremCfg)
	tenant := startServe(t, h.tenantCfg)
	tc, oc := awaitAdmin(t, h.tenantCfg), awaitAdmin(t, h.onpremCfg)

	// A local client submits through the tenant's relay connector, over
	// STARTTLS, as an application server would.
	const subject = "hybrid subject mismatch e2e"
	r := pySMTP(t, pyOpts{port: h.tenantPort, source: "127.0.0.1", starttls: true,
		from: "alice@tenant.example", rcpts: []string{"user@contoso.com"},
		body: "Subject: " + subject + "\r\nMessage-ID: <subject-mismatch-1@tenant.example>\r\n\r\nfrom the cloud\r\n"})
	if code(r.Data) != 250 {
		t.Fatalf("tenant relay connector: STARTTLS %v MAIL %v RCPT %v DATA %v", r.StartTLS, r.Mail, r.Rcpt, r.Data)
	}
	if r.Thumbprint != h.pki.Tenant.Thumbprint {
		t.Errorf("tenant relay connector presented %s, want the tenant certificate %s", r.Thumbprint, h.pki.Tenant.Thumbprint)
	}

	// The first attempt is deferred: SERVER1 does not hold mail.contoso.com.
	msg := waitRecipient(t, tc, "user@contoso.com", func(rc queueRcpt) bool { return rc.State == "Retry" && rc.Attempts >= 1 })
	if !strings.Contains(msg.rcpt.LastError, "450 4.7.320 Certificate validation failed") ||
		!strings.Contains(msg.rcpt.LastError, "SubjectMismatch") {
		t.Fatalf("tenant queue last error = %q, want 450 4.7.320 … SubjectMismatch", msg.rcpt.LastError)
	}

	// `mailflow queue list` shows it, as Get-Queue would.
	out := cliLive(t, "queue", "list", "--config", h.tenantCfg)
	for _, want := range []string{msg.id, "user@contoso.com", "Retry", "450 4.7.320 Certificate validation failed", "SubjectMismatch"} {
		if !strings.Contains(out, want) {
			t.Errorf("queue list lacks %q:\n%s", want, out)
		}
	}
	var listed []admin.QueuedMessage
	decodeCLI(t, cliLive(t, "queue", "list", "--config", h.tenantCfg, "--json"), &listed)
	if len(listed) != 1 || listed[0].ID != msg.id || len(listed[0].Recipients) != 1 || listed[0].Recipients[0].Attempts != 1 {
		t.Errorf("queue list --json = %+v, want the one message %s with one attempt", listed, msg.id)
	}

	// `mailflow trace` shows the DEFER with Exchange's message trace detail.
	deferLine := regexp.MustCompile(`(?m)^.*DEFER\s+` + msg.id + `\s.*$`)
	out = traceWith(t, deferLine, "--config", h.tenantCfg, "--recipient", "user@contoso.com")
	detail := deferLine.FindString(out)
	if detail == "" {
		t.Fatalf("trace has no DEFER line for %s:\n%s", msg.id, out)
	}
	shape := regexp.MustCompile(`\{LED=450 4\.7\.320 Certificate validation failed ` +
		`\[Message=SubjectMismatch Expected Subject: mail\.contoso\.com\. Presented Subject: CN=SERVER1\. Thumbprint: ` + h.pki.Server1.Thumbprint + `\] ` +
		`\[LastAttemptedServerName=([^\]]+)\] \[LastAttemptedIP=127\.0\.0\.1:` + strconv.Itoa(h.onpremPort) + `\]\};` +
		`\{MSG=SubjectMismatch\};\{FQDN=([^}]+)\};\{IP=127\.0\.0\.1\};` +
		`\{LRT=\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} (AM|PM)\}`)
	t.Logf("tenant trace: %s", detail)
	if m := shape.FindStringSubmatch(detail); m == nil {
		t.Errorf("DEFER detail does not have Exchange's shape:\n%s", detail)
	} else if m[1] != m[2] {
		t.Errorf("LastAttemptedServerName %q and FQDN %q differ in %s", m[1], m[2], detail)
	}

	// The fix, live on the running on-premises server (Exchange's
	// Set-ReceiveConnector -TlsCertificateName), then Retry-Queue.
	cliLive(t, "connector", "set", "Inbound from Office 365", "--config", h.onpremCfg, "--tls-certificate-name", contosoPin)
	var conns []admin.ConnectorInfo
	decodeCLI(t, cliLive(t, "connector", "list", "--config", h.onpremCfg, "--json"), &conns)
	if c := findConnector(conns, "Inbound from Office 365"); c == nil || c.Certificate == nil || c.Certificate.Thumbprint != h.pki.Contoso.Thumbprint {
		t.Fatalf("after connector set, Inbound from Office 365 presents %+v, want mail.contoso.com %s", c, h.pki.Contoso.Thumbprint)
	}
	out = cliLive(t, "queue", "retry", "--config", h.tenantCfg)
	if !strings.Contains(out, "retry scheduled") {
		t.Errorf("queue retry said %q", out)
	}
	waitQueueEmpty(t, tc, "tenant")

	// Delivered on-premises: the message file is in the mailbox.
	mailbox := filepath.Join(filepath.Dir(h.onpremCfg), "data", "mailboxes", "contoso.com", "user", "new")
	files := waitFiles(t, mailbox, 1)
	body, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte("Subject: "+subject)) || !bytes.Contains(body, []byte("from the cloud")) {
		t.Errorf("delivered file %s lacks the message:\n%s", files[0], body)
	}
	onpremID := strings.TrimSuffix(filepath.Base(files[0]), ".eml")
	waitQueueEmpty(t, oc, "on-premises")

	// Tracking: SEND on the tenant; RECEIVE (through the domain-secure
	// connector, from the tenant's source IP) and DELIVER on-premises.
	send := traceEvents(t, h.tenantCfg, "user@contoso.com", "SEND")
	if len(send) != 1 || send[0].InternalMessageID != msg.id || !strings.HasPrefix(strings.Join(send[0].RecipientStatus, ";"), "250") {
		t.Errorf("tenant SEND events = %+v", send)
	}
	recv := traceEvents(t, h.onpremCfg, "user@contoso.com", "RECEIVE")
	if len(recv) != 1 || recv[0].InternalMessageID != onpremID || recv[0].ClientIP != "127.0.0.2" ||
		recv[0].ConnectorID != `SERVER1\Inbound from Office 365` || recv[0].Sender != "alice@tenant.example" {
		t.Errorf("on-premises RECEIVE events = %+v, want one for %s from 127.0.0.2 on SERVER1\\Inbound from Office 365", recv, onpremID)
	}
	deliver := traceEvents(t, h.onpremCfg, "user@contoso.com", "DELIVER")
	if len(deliver) != 1 || deliver[0].InternalMessageID != onpremID {
		t.Errorf("on-premises DELIVER events = %+v, want one for %s", deliver, onpremID)
	}

	// The other way: on-premises relays to the tenant, presenting
	// mail.contoso.com to the tenant's domain-secure connector.
	r = pySMTP(t, pyOpts{port: h.onpremPort, source: "127.0.0.1", starttls: true,
		from: "user@contoso.com", rcpts: []string{"alice@tenant.example"},
		body: "Subject: reply from on-premises\r\n\r\nback to the cloud\r\n"})
	if code(r.Data) != 250 {
		t.Fatalf("on-premises relay connector: MAIL %v RCPT %v DATA %v", r.Mail, r.Rcpt, r.Data)
	}
	tenantBox := filepath.Join(filepath.Dir(h.tenantCfg), "data", "mailboxes", "tenant.example", "alice", "new")
	files = waitFiles(t, tenantBox, 1)
	if body, err := os.ReadFile(files[0]); err != nil || !bytes.Contains(body, []byte("back to the cloud")) {
		t.Errorf("tenant mailbox file %s: %v\n%s", files[0], err, body)
	}
	waitQueueEmpty(t, oc, "on-premises")
	recv = traceEvents(t, h.tenantCfg, "alice@tenant.example", "RECEIVE")
	if len(recv) != 1 || recv[0].ClientIP != "127.0.0.3" || recv[0].ConnectorID != `TENANT\Inbound from contoso` {
		t.Errorf("tenant RECEIVE events = %+v, want one from 127.0.0.3 on TENANT\\Inbound from contoso", recv)
	}

	// Mutual TLS, as each receiver logged it: each saw the other's client
	// certificate and accepted it for its domain-secure connector.
	onprem.stop()
	tenant.stop()
	onpremLog := readAll(t, filepath.Join(filepath.Dir(h.onpremCfg), "data", "logs", "ProtocolLog", "SmtpReceive"))
	tenantLog := readAll(t, filepath.Join(filepath.Dir(h.tenantCfg), "data", "logs", "ProtocolLog", "SmtpReceive"))
	for _, c := range []struct {
		log, connector, peer, thumbprint string
	}{
		{onpremLog, `SERVER1\\Inbound from Office 365`, `127\.0\.0\.2`, h.pki.Tenant.Thumbprint},
		{tenantLog, `TENANT\\Inbound from contoso`, `127\.0\.0\.3`, h.pki.Contoso.Thumbprint},
	} {
		session := `(?m)^[^,]+,` + c.connector + `,[0-9A-F]{16},\d+,127\.0\.0\.1:\d+,` + c.peer + `:\d+,\*,`
		for _, want := range []string{session + `,Received certificate`, session + c.thumbprint + `,Certificate thumbprint`, session + `.*Status='Success'`} {
			if !regexp.MustCompile(want).MatchString(c.log) {
				t.Errorf("receive protocol log lacks %s", want)
			}
		}
	}
	if t.Failed() {
		t.Logf("on-premises receive log:\n%s\ntenant receive log:\n%s", onpremLog, tenantLog)
	}
}

// cliLive runs a mailflow CLI command against a running server and returns
// its stdout. It fails the test when the command fails or when it did not
// reach the server and worked on the file offline instead: these tests are
// about live operations.
func cliLive(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, time.Minute, args...)
	if code != 0 {
		t.Fatalf("mailflow %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	if strings.Contains(stderr, "no running server") {
		t.Fatalf("mailflow %s did not reach the running server:\n%s", strings.Join(args, " "), stderr)
	}
	return stdout
}

// traceWith runs `mailflow trace` until its output matches want and
// returns it. The queue shows a new state before the tracking event of the
// same attempt is written (the event follows the durable state), so a
// trace read right after the queue changed may not have it yet.
func traceWith(t *testing.T, want *regexp.Regexp, args ...string) string {
	t.Helper()
	var out string
	pollUntil(t, "a trace line matching "+want.String(), func() (bool, string) {
		out = cliLive(t, append([]string{"trace"}, args...)...)
		return want.MatchString(out), out
	})
	return out
}

func decodeCLI(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, s)
	}
}

// awaitAdmin returns a client for the admin API of the server running
// cfg, waiting until the API answers.
func awaitAdmin(t *testing.T, cfg string) *admin.Client {
	t.Helper()
	var c *admin.Client
	pollUntil(t, "the admin API of "+cfg, func() (bool, string) {
		var err error
		c, err = admin.ClientFor(cfg)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return c
}

type queueRcpt struct {
	Addr, State, LastError string
	Attempts               int
}

type queuedRcpt struct {
	id   string
	rcpt queueRcpt
}

// waitRecipient waits until a queued message has recipient addr in a state
// ok accepts.
func waitRecipient(t *testing.T, c *admin.Client, addr string, ok func(queueRcpt) bool) queuedRcpt {
	t.Helper()
	var found queuedRcpt
	pollUntil(t, "recipient "+addr+" in the expected queue state", func() (bool, string) {
		msgs, err := c.Queue()
		if err != nil {
			return false, err.Error()
		}
		for _, m := range msgs {
			for _, r := range m.Recipients {
				rc := queueRcpt{Addr: r.Addr, State: string(r.State), LastError: r.LastError.String(), Attempts: r.Attempts}
				if strings.EqualFold(r.Addr, addr) && ok(rc) {
					found = queuedRcpt{id: m.ID, rcpt: rc}
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("%+v", msgs)
	})
	return found
}

func waitQueueEmpty(t *testing.T, c *admin.Client, who string) {
	t.Helper()
	pollUntil(t, who+" queue to empty", func() (bool, string) {
		msgs, err := c.Queue()
		if err != nil {
			return false, err.Error()
		}
		return len(msgs) == 0, fmt.Sprintf("%+v", msgs)
	})
}

// waitFiles waits until dir holds at least n regular files and returns
// their paths.
func waitFiles(t *testing.T, dir string, n int) []string {
	t.Helper()
	var files []string
	pollUntil(t, fmt.Sprintf("%d file(s) in %s", n, dir), func() (bool, string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return false, err.Error()
		}
		files = files[:0]
		for _, e := range entries {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
		return len(files) >= n, fmt.Sprintf("%d files", len(files))
	})
	return files
}

// traceEvents runs `mailflow trace --json` for a recipient and keeps the
// events of one kind.
func traceEvents(t *testing.T, cfg, rcpt, kind string) []tracking.Event {
	t.Helper()
	var all, out []tracking.Event
	decodeCLI(t, cliLive(t, "trace", "--config", cfg, "--recipient", rcpt, "--json"), &all)
	for _, e := range all {
		if e.EventID == kind {
			out = append(out, e)
		}
	}
	return out
}

func findConnector(list []admin.ConnectorInfo, name string) *admin.ConnectorInfo {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}
