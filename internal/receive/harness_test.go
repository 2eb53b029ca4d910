package receive

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// The in-process harness: a real Service on loopback, configured from YAML
// through config.Parse and Compile exactly as `mailflow serve` does, with a
// fake Submitter that records what was acknowledged. Clients speak raw SMTP
// so that byte-exact hostile input can be sent.

// clientTimeout bounds every client read so that a test that goes wrong
// fails instead of hanging. It is a safety net, never a synchronisation.
const clientTimeout = 15 * time.Second

// testPKI is generated once per test binary: a CA, the server's certificate
// (CA-issued, names server1.contoso.local and mail.contoso.com so automatic
// selection finds it) and the trust pool for client certificates.
type testPKI struct {
	CA     *certs.Certificate
	Server *certs.Certificate
	Roots  *x509.CertPool
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
	pkiErr  error
)

func sharedPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		now := time.Now()
		p := &testPKI{}
		p.CA, pkiErr = certs.Generate(certs.Template{Subject: "CN=Receive Test CA", IsCA: true, KeyType: "ecdsa-p256",
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0)})
		if pkiErr != nil {
			return
		}
		p.Server, pkiErr = certs.Generate(certs.Template{Subject: "CN=server1.contoso.local",
			SANs: []string{"server1.contoso.local", "mail.contoso.com"}, Issuer: p.CA, KeyType: "ecdsa-p256",
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
		if pkiErr != nil {
			return
		}
		p.Roots = x509.NewCertPool()
		p.Roots.AddCert(p.CA.Leaf)
		pkiVal = p
	})
	if pkiErr != nil {
		t.Fatalf("generate test PKI: %v", pkiErr)
	}
	return pkiVal
}

// fakeSubmitter records every message it acknowledges. fail, when set, is
// returned instead (nothing is recorded), like a queue whose disk is full.
type fakeSubmitter struct {
	mu    sync.Mutex
	fail  error
	msgs  []submitted
	calls int
}

type submitted struct {
	ID   string
	Env  queue.Envelope
	Body []byte
}

func (f *fakeSubmitter) PutBody(_ context.Context, env queue.Envelope, b queue.Body) (string, error) {
	r, err := b.Open()
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return "", f.fail
	}
	id := fmt.Sprintf("%016X", len(f.msgs)+1)
	f.msgs = append(f.msgs, submitted{ID: id, Env: env, Body: append([]byte(nil), body...)})
	return id, nil
}

func (f *fakeSubmitter) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// callCount is how many times Put was called, failed calls included.
func (f *fakeSubmitter) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeSubmitter) messages() []submitted {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]submitted(nil), f.msgs...)
}

// harness is one running receive Service.
type harness struct {
	t      testing.TB
	srv    *Service
	sub    *fakeSubmitter
	cfg    *config.Config
	st     *Settings
	port   int
	addr   string // 127.0.0.1:port
	logDir string
	plog   *protolog.Writer

	mu    sync.Mutex
	acked []string // ids OnAccepted reported (message tracking RECEIVE)
}

// accepted returns the ids the server reported as acknowledged.
func (h *harness) accepted() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.acked...)
}

// harnessConfig assembles a configuration: the server, accepted domain
// contoso.com, limits (YAML lines indented by two spaces, may be empty)
// and receive connectors (YAML list items). {port} is replaced by the
// listening port.
func harnessConfig(limits, connectors string) string {
	return `server:
  name: SERVER1
  fqdn: server1.contoso.local
  data_dir: ./data
accepted_domains: [contoso.com]
admin:
  listen: "off"
limits:
  max_message_size: 64KB
  max_recipients: 5
` + limits + `
receive_connectors:
` + connectors
}

// defaultConnector is the Exchange "Default Frontend" shape: every
// address, anonymous users, STARTTLS offered, verbose protocol log.
const defaultConnector = `  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    protocol_logging_level: Verbose
`

// newHarness parses yamlText, compiles it with the shared PKI and starts a
// Server on a free port (retrying a few times should another process take
// the port between choosing and binding it).
func newHarness(t testing.TB, yamlText string) *harness {
	t.Helper()
	return newHarnessWith(t, yamlText, nil)
}

// newHarnessWith is newHarness with another Submitter (nil: the fake one,
// which h.sub always is).
func newHarnessWith(t testing.TB, yamlText string, sub Submitter) *harness {
	t.Helper()
	return newHarnessOpts(t, yamlText, sub, nil)
}

// harnessExtras adds what YAML cannot say: options of the Service (users,
// tarpit sleep, AUTH observer) and the settings' clock.
type harnessExtras struct {
	options func(*Options)
	now     func() time.Time
}

// newHarnessOpts is newHarnessWith with extras (nil: none).
func newHarnessOpts(t testing.TB, yamlText string, sub Submitter, extras *harnessExtras) *harness {
	t.Helper()
	pki := sharedPKI(t)
	dir := t.TempDir()
	h := &harness{t: t, sub: &fakeSubmitter{}, logDir: filepath.Join(dir, "SmtpReceive")}
	if sub == nil {
		sub = h.sub
	}
	plog, err := protolog.NewWriter(protolog.Options{Dir: h.logDir, Kind: protolog.Receive, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h.plog = plog
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	opts := Options{Submitter: sub, Log: plog, Logger: logger, OnAccepted: func(id string, _ queue.Envelope) {
		h.mu.Lock()
		h.acked = append(h.acked, id)
		h.mu.Unlock()
	}}
	if extras != nil && extras.options != nil {
		extras.options(&opts)
	}
	h.srv = NewService(opts)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		h.port = testkit.FreePort(t)
		text := strings.ReplaceAll(yamlText, "{port}", strconv.Itoa(h.port))
		cfg, err := config.Parse(filepath.Join(dir, "mailflow.yaml"), []byte(text))
		if err != nil {
			t.Fatalf("configuration does not parse: %v\n%s", err, text)
		}
		st, _, err := Compile(cfg, certs.NewStore(pki.Server), pki.Roots, time.Now())
		if err != nil {
			t.Fatalf("compile: %v", err)
		}
		if extras != nil && extras.now != nil {
			st.Now = extras.now
		}
		if lastErr = h.srv.Apply(st); lastErr == nil {
			h.cfg, h.st = cfg, st
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("start receive server: %v", lastErr)
	}
	h.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.srv.Close(ctx)
		plog.Close()
	})
	return h
}

// protocolLog flushes the SmtpReceive log and returns its records.
func (h *harness) protocolLog() []protolog.Record {
	h.t.Helper()
	if err := h.plog.Flush(); err != nil {
		h.t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(h.logDir, "*.LOG"))
	if err != nil {
		h.t.Fatal(err)
	}
	var out []protolog.Record
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			h.t.Fatal(err)
		}
		r := protolog.NewReader(fh)
		for {
			rec, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					h.t.Fatalf("read %s: %v", f, err)
				}
				break
			}
			out = append(out, rec.Clone())
		}
		fh.Close()
	}
	return out
}

// client is a raw SMTP client on one connection.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// dialRaw connects from the loopback address from (e.g. "127.0.0.2") and
// does not read the greeting; t owns the connection.
func (h *harness) dialRaw(t testing.TB, from string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: clientTimeout}
	conn, err := d.Dial("tcp4", h.addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", h.addr, from, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// dial connects from the address and expects the 220 greeting.
func (h *harness) dial(t testing.TB, from string) *client {
	t.Helper()
	c := h.dialRaw(t, from)
	c.expectCode(220)
	return c
}

// reply is one SMTP reply: its code and its lines without the "NNN-"
// prefixes; Text is the last line as sent ("250 2.1.0 Sender OK").
type reply struct {
	Code  int
	Lines []string
	Text  string
}

func (c *client) readReply() (reply, error) {
	var r reply
	for n := 0; n < 100; n++ {
		c.conn.SetReadDeadline(time.Now().Add(clientTimeout))
		line, err := c.r.ReadString('\n')
		if err != nil {
			return r, fmt.Errorf("read reply (so far %q): %w", line, err)
		}
		if !strings.HasSuffix(line, "\r\n") {
			return r, fmt.Errorf("reply line %q does not end in CRLF", line)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if len(line) < 4 || (line[3] != ' ' && line[3] != '-') {
			return r, fmt.Errorf("malformed reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			return r, fmt.Errorf("malformed reply line %q", line)
		}
		r.Code = code
		r.Lines = append(r.Lines, line[4:])
		if line[3] == ' ' {
			r.Text = line
			return r, nil
		}
	}
	return r, errors.New("reply longer than 100 lines")
}

func (c *client) mustReply() reply {
	c.t.Helper()
	r, err := c.readReply()
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// send writes raw bytes exactly as given.
func (c *client) send(raw string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(clientTimeout))
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatalf("write %q: %v", raw, err)
	}
}

// cmd sends line + CRLF and returns the reply.
func (c *client) cmd(line string) reply {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.mustReply()
}

// expect sends line (unless empty) and requires the reply's last line to
// be exactly want.
func (c *client) expect(line, want string) reply {
	c.t.Helper()
	if line != "" {
		c.send(line + "\r\n")
	}
	r := c.mustReply()
	if r.Text != want {
		c.t.Fatalf("after %q: got %q, want %q", line, r.Text, want)
	}
	return r
}

func (c *client) expectCode(code int) reply {
	c.t.Helper()
	r := c.mustReply()
	if r.Code != code {
		c.t.Fatalf("got %q, want code %d", r.Text, code)
	}
	return r
}

// expectClosed requires that the server sends nothing more and closes.
func (c *client) expectClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(clientTimeout))
	rest, err := io.ReadAll(c.r)
	if len(rest) > 0 {
		c.t.Fatalf("expected the connection to close, got %q", rest)
	}
	if err != nil && !isConnReset(err) {
		c.t.Fatalf("expected the connection to close: %v", err)
	}
}

func isConnReset(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset")
}

// ehlo sends EHLO and returns the keywords advertised.
func (c *client) ehlo(name string) []string {
	c.t.Helper()
	r := c.cmd("EHLO " + name)
	if r.Code != 250 {
		c.t.Fatalf("EHLO: %q", r.Text)
	}
	return r.Lines[1:]
}

// startTLS sends STARTTLS, expects 220 and runs the handshake with cfg.
func (c *client) startTLS(cfg *tls.Config) *tls.ConnectionState {
	c.t.Helper()
	c.expect("STARTTLS", "220 2.0.0 SMTP server ready")
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(clientTimeout))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	c.conn = tc
	c.r = bufio.NewReader(tc)
	cs := tc.ConnectionState()
	return &cs
}

// quit sends QUIT, expects 221 and the close.
func (c *client) quit() {
	c.t.Helper()
	c.expect("QUIT", "221 2.0.0 Service closing transmission channel")
	c.expectClosed()
}

// sendMessage runs MAIL, RCPT… and DATA with body (CRLF lines, without
// the terminating dot) and returns the reply to the end of data.
func (c *client) sendMessage(from string, to []string, body string) reply {
	c.t.Helper()
	c.expect("MAIL FROM:<"+from+">", "250 2.1.0 Sender OK")
	for _, rcpt := range to {
		c.expect("RCPT TO:<"+rcpt+">", "250 2.1.5 Recipient OK")
	}
	c.expect("DATA", "354 Start mail input; end with <CRLF>.<CRLF>")
	c.send(body + "\r\n.\r\n")
	return c.mustReply()
}

// isQueued reports the 250 2.6.0 reply to the end of data.
func isQueued(r reply) bool {
	return r.Code == 250 && strings.HasPrefix(r.Text, "250 2.6.0 ") && strings.HasSuffix(r.Text, "Queued mail for delivery")
}

// eventually waits, bounded, for cond; it polls a counter the server
// updates after the client already saw the close, so there is no event to
// wait on.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clientTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestHarnessDeliversAPlainMessage(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	c.ehlo("client.fabrikam.example")
	r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Subject: hi\r\nMessage-ID: <m1@fabrikam.example>\r\n\r\nhello")
	if !isQueued(r) {
		t.Fatalf("end of data: %q", r.Text)
	}
	c.quit()
	msgs := h.sub.messages()
	if len(msgs) != 1 {
		t.Fatalf("submitted %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Env.From != "alice@fabrikam.example" || len(m.Env.To) != 1 || m.Env.To[0] != "bob@contoso.com" {
		t.Errorf("envelope %+v", m.Env)
	}
	if !strings.HasPrefix(m.Env.RemoteAddr, "127.0.0.2:") || m.Env.ConnectorID != `SERVER1\Default Frontend SERVER1` {
		t.Errorf("envelope remote %q connector %q", m.Env.RemoteAddr, m.Env.ConnectorID)
	}
	if !strings.HasSuffix(string(m.Body), "\r\n\r\nhello\r\n") || !strings.HasPrefix(string(m.Body), "Received: from client.fabrikam.example ([127.0.0.2])") {
		t.Errorf("body %q", m.Body)
	}
	if m.Env.MessageID != "<m1@fabrikam.example>" || m.Env.Subject != "hi" {
		t.Errorf("header fields %q %q", m.Env.MessageID, m.Env.Subject)
	}
}
