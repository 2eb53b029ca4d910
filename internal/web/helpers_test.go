package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/daemon"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// frontend is the fixture's main receive connector.
const frontend = "Default Frontend SERVER1"

// xssName is a receive connector name that would run script if any page
// rendered it as HTML.
const xssName = `Frontend <img src=x onerror="window.__xss=1">`

// config is an on-premises server: the receive connector Default Frontend
// SERVER1 on port for 127.0.0.0/8 presenting pin, relaying for anonymous
// senders;
// send connectors that loop back to this server: "To partner" expects
// mail.partner.example with DomainValidation from that connector (it
// presents CN=SERVER1: 450 4.7.320, the message stays queued) and "To fail"
// reaches a second connector, named name, on port2 that does not relay
// (550 5.7.54).
func config(name string, port, port2 int, pin string) string {
	return "# web admin center fixture\n" + testkit.LabOnPrem + `admin:
  listen: 127.0.0.1:0
metrics:
  listen: 127.0.0.1:0
queue:
  retry_intervals: [1h]
` + testkit.DefaultFrontend(port, pin) + fmt.Sprintf(`    protocol_logging_level: Verbose
    anonymous_relay: true
  - name: %q
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
send_connectors:
  - name: To partner
    address_spaces: [partner.example]
    smart_hosts: ["127.0.0.1"]
    port: %d
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: mail.partner.example
  - name: To fail
    address_spaces: [fail.example]
    smart_hosts: ["127.0.0.1"]
    port: %d
`, name, port2, port, port2)
}

type env struct {
	dir, cfg string
	pki      *labpki.PKI
	d        *daemon.Daemon
	base     string
	token    string
	smtp     string
	logs     *testkit.LogBuffer // what the server logged
}

func newEnv(t *testing.T, name string) *env {
	t.Helper()
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, cfg: filepath.Join(dir, "onprem.yaml"), pki: pki}
	port := testkit.FreePort(t)
	testkit.WriteFile(t, e.cfg, config(name, port, testkit.FreePort(t), pki.Server1.Name()))
	logger, logs := testkit.RecordLogs(t)
	e.logs = logs
	d, err := daemon.Start(e.cfg, daemon.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	e.d = d
	e.base = "http://" + d.API.Addr()
	if e.token, err = admin.ReadToken(d.API.TokenFile()); err != nil {
		t.Fatal(err)
	}
	e.smtp = fmt.Sprintf("127.0.0.1:%d", port)
	return e
}

// send submits one message over STARTTLS and fails the test unless it is
// accepted.
func (e *env) send(t *testing.T, from, rcpt, subject string) {
	t.Helper()
	s, err := testkit.DialTLS(e.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Quit()
	code, err := s.Send(from, rcpt, "Subject: "+subject+"\r\nMessage-ID: <"+strings.ReplaceAll(subject, " ", "-")+"@test>\r\n\r\nhello\r\n")
	if err != nil || code != 250 {
		t.Fatalf("send to %s: %d %v", rcpt, code, err)
	}
}

// browser is a plain HTTP client with a cookie jar: a person's browser
// without script, for the security tests.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: e.base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) login(secret string) {
	b.t.Helper()
	code, body := b.post("/login", url.Values{"token": {secret}})
	if code != http.StatusSeeOther {
		b.t.Fatalf("login: %d %s", code, body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf reads the CSRF token from a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body := b.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

// auditLog is where the admin center writes its audit log by default.
func (e *env) auditLog(t *testing.T) string {
	return filepath.Join(e.d.Node.Runtime().Cfg.LogDir(), "Audit", "audit.log")
}
