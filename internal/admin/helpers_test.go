package admin_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailflow/internal/admin"
	"mailflow/internal/certs"
	"mailflow/internal/lab"
	"mailflow/internal/server"
	"mailflow/internal/smtp"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// onprem is an on-premises configuration: one receive connector on
// 127.0.0.1:port pinned to pin, a send connector to partner.example whose
// smart host refuses connections (so messages stay queued), and the admin
// API on a free loopback port.
func onprem(port, deadPort int, pin string) string {
	return fmt.Sprintf(`# admin API fixture
server:
  name: SERVER1
  fqdn: server1.contoso.local
  data_dir: ./data
accepted_domains: [contoso.com]
trust:
  ca_files: [certs/lab-ca.pem]
  system_roots: false
certificates:
  - file: certs/server1-selfsigned.pem
  - file: certs/mail-contoso.pfx
    password_file: certs/mail-contoso.pass
admin:
  listen: 127.0.0.1:0
limits:
  max_connections_per_ip: 200
receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
    fqdn: server1.contoso.local
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    tls_certificate_name: "%s"
send_connectors:
  - name: To partner
    address_spaces: [partner.example]
    smart_hosts: ["127.0.0.1"]
    port: %d
`, port, pin, deadPort)
}

// env is a running server with its admin API.
type env struct {
	dir, cfg string
	pki      *lab.PKI
	srv      *server.Server
	api      *admin.Server
	client   *admin.Client
	smtpAddr string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	pki, err := lab.NewPKI(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, cfg: filepath.Join(dir, "onprem.yaml"), pki: pki}
	writeFile(t, e.cfg, onprem(freePort(t), freePort(t), pki.Server1.Name()))
	e.start(t)
	return e
}

func (e *env) start(t *testing.T) {
	t.Helper()
	logger := testLogger(t)
	srv, err := server.Start(e.cfg, server.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	api, err := admin.Start(srv, logger)
	if err != nil {
		closeServer(t, srv, nil)
		t.Fatal(err)
	}
	t.Cleanup(func() { closeServer(t, srv, api) })
	token, err := admin.ReadToken(api.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.api = srv, api
	e.client = &admin.Client{Base: "http://" + api.Addr(), Token: token, HTTP: &http.Client{Timeout: 20 * time.Second}}
	e.smtpAddr = srv.Receiver().Addrs()[0].String()
}

func closeServer(t *testing.T, srv *server.Server, api *admin.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if api != nil {
		api.Close(ctx)
	}
	if err := srv.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	// Registered before the server's cleanup, so it runs after it: lines
	// logged while the server closes still reach the test log.
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWriter forwards log lines to the test log until the test ends.
type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// session is one SMTP client session.
type session struct {
	c          *smtp.Client
	thumbprint string
}

// openTLS connects, does EHLO, STARTTLS and EHLO again.
func openTLS(addr string) (*session, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClient(conn, smtp.ClientOptions{Timeout: 20 * time.Second})
	fail := func(step string, err error) (*session, error) {
		c.Close()
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	if _, err := c.Greeting(); err != nil {
		return fail("greeting", err)
	}
	if _, err := c.Hello("client.test"); err != nil {
		return fail("EHLO", err)
	}
	// The client judges nothing: the tests compare thumbprints.
	cs, err := c.StartTLS(&tls.Config{InsecureSkipVerify: true, ServerName: "server1.contoso.local"})
	if err != nil {
		return fail("STARTTLS", err)
	}
	if _, err := c.Hello("client.test"); err != nil {
		return fail("EHLO after STARTTLS", err)
	}
	return &session{c: c, thumbprint: certs.Thumbprint(cs.PeerCertificates[0].Raw)}, nil
}

// deliver runs MAIL, RCPT and DATA and returns the DATA reply code.
func (s *session) deliver(subject string) (int, error) {
	if _, err := s.c.Mail("sender@tenant.example", nil); err != nil {
		return 0, fmt.Errorf("MAIL: %w", err)
	}
	return s.finish(subject)
}

// finish completes a transaction begun with MAIL.
func (s *session) finish(subject string) (int, error) {
	if _, err := s.c.Rcpt("user@contoso.com"); err != nil {
		return 0, fmt.Errorf("RCPT: %w", err)
	}
	r, err := s.c.Data(strings.NewReader("Subject: " + subject + "\r\n\r\nhello\r\n"))
	if err != nil {
		return r.Code, fmt.Errorf("DATA: %w", err)
	}
	return r.Code, nil
}

func thumbprintNow(t *testing.T, addr string) string {
	t.Helper()
	s, err := openTLS(addr)
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer s.c.Quit()
	return s.thumbprint
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", within, what)
		case <-tick.C:
		}
	}
}
