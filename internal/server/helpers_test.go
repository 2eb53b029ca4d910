package server_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailflow/internal/certs"
	"mailflow/internal/lab"
	"mailflow/internal/server"
	"mailflow/internal/smtp"
)

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// onprem is an on-premises configuration with one receive connector on
// 127.0.0.1:port pinned to pin (the lab's self-signed SERVER1 certificate
// in most tests).
func onprem(port int, pin string) string {
	return fmt.Sprintf(`# live-change fixture
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
  listen: off
receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
    fqdn: server1.contoso.local
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    tls_certificate_name: "%s"
    protocol_logging_level: Verbose
`, port, pin)
}

// fixture is a lab PKI and a configuration file in a temporary directory.
type fixture struct {
	dir, cfg string
	port     int
	pki      *lab.PKI
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	pki, err := lab.NewPKI(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, cfg: filepath.Join(dir, "onprem.yaml"), port: freePort(t), pki: pki}
	f.write(t, onprem(f.port, pki.Server1.Name()))
	return f
}

func (f *fixture) write(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(f.cfg, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) read(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// start runs the server and closes it when the test ends.
func start(t *testing.T, cfg string) *server.Server {
	t.Helper()
	srv, err := server.Start(cfg, server.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("start %s: %v", cfg, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

// testLogger sends the server's log to the test log, so a failure shows
// what the server said.
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

// session is one SMTP client session against the server.
type session struct {
	c          *smtp.Client
	thumbprint string // of the certificate presented at STARTTLS
}

// dial connects and says EHLO, in plaintext.
func dial(addr string) (*session, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClient(conn, smtp.ClientOptions{Timeout: 20 * time.Second})
	if _, err := c.Greeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if _, err := c.Hello("client.test"); err != nil {
		c.Close()
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	return &session{c: c}, nil
}

// tls does STARTTLS and EHLO again and records the server's certificate.
func (s *session) tls() error {
	// The client judges nothing: the tests compare thumbprints.
	cs, err := s.c.StartTLS(&tls.Config{InsecureSkipVerify: true, ServerName: "server1.contoso.local"})
	if err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	if _, err := s.c.Hello("client.test"); err != nil {
		return fmt.Errorf("EHLO after STARTTLS: %w", err)
	}
	s.thumbprint = certs.Thumbprint(cs.PeerCertificates[0].Raw)
	return nil
}

// openTLS connects, says EHLO, does STARTTLS and EHLO again, and returns
// the session with the thumbprint the server presented.
func openTLS(addr string) (*session, error) {
	s, err := dial(addr)
	if err != nil {
		return nil, err
	}
	if err := s.tls(); err != nil {
		s.c.Close()
		return nil, err
	}
	return s, nil
}

func dialPlain(t *testing.T, addr string) *session {
	t.Helper()
	s, err := dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *session) startTLS(t *testing.T) string {
	t.Helper()
	if err := s.tls(); err != nil {
		t.Fatal(err)
	}
	return s.thumbprint
}

// send runs one transaction and returns the final reply code.
func (s *session) send(from, rcpt, body string) (int, error) {
	if r, err := s.c.Mail(from, nil); err != nil {
		return r.Code, fmt.Errorf("MAIL: %w", err)
	}
	return s.finish(rcpt, body)
}

// finish completes a transaction begun with MAIL.
func (s *session) finish(rcpt, body string) (int, error) {
	if r, err := s.c.Rcpt(rcpt); err != nil {
		return r.Code, fmt.Errorf("RCPT: %w", err)
	}
	r, err := s.c.Data(strings.NewReader(body))
	if err != nil {
		return r.Code, fmt.Errorf("DATA: %w", err)
	}
	return r.Code, nil
}

func (s *session) quit() { s.c.Quit() }

// thumbprintNow opens a fresh session and returns the certificate a new
// client is shown.
func thumbprintNow(t *testing.T, addr string) string {
	t.Helper()
	s, err := openTLS(addr)
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer s.quit()
	return s.thumbprint
}

// eventually polls cond until it holds or the deadline passes: the wait is
// on observable state, bounded, never a fixed sleep.
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

func body(subject string) string {
	return "From: <sender@tenant.example>\r\nTo: <user@contoso.com>\r\nSubject: " + subject + "\r\n\r\nhello\r\n"
}
