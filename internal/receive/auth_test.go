package receive

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/users"
)

// clientFrontend is Exchange's "Client Frontend" shape: AUTH only after
// STARTTLS, ExchangeUsers the only permission group, so nothing is allowed
// before AUTH.
const clientFrontend = `  - name: Client Frontend SERVER1
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    auth_mechanism: [Tls, BasicAuth, BasicAuthRequireTLS]
    permission_groups: [ExchangeUsers]
    protocol_logging_level: Verbose
`

const (
	alicePassword = "S3cret-alice-Pw!"
	bobPassword   = "Bob-pw-0987"
)

// authWorld is a harness with a user store (alice may send as
// alice@contoso.com; bob as anyone), a fake clock the tarpit advances
// instead of sleeping, and captured slog output and AUTH events.
type authWorld struct {
	*harness
	store  *users.Store
	clock  *testkit.Clock
	slog   *syncBuffer
	mu     sync.Mutex
	slept  []time.Duration
	events []AuthEvent
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newAuthWorld(t *testing.T, limits, connectors string) *authWorld {
	t.Helper()
	store, err := users.Open(filepath.Join(t.TempDir(), users.FileName))
	if err != nil {
		t.Fatal(err)
	}
	store.SetParams(users.Params{Memory: 64, Time: 1, Threads: 1})
	for _, u := range []struct {
		name, pw string
		sendAs   []string
	}{{"alice", alicePassword, []string{"alice@contoso.com"}}, {"bob", bobPassword, nil}} {
		nu, err := store.NewUser(u.name, u.pw, u.sendAs)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Add(nu); err != nil {
			t.Fatal(err)
		}
	}
	w := &authWorld{store: store, clock: testkit.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)), slog: &syncBuffer{}}
	w.harness = newHarnessOpts(t, harnessConfig(limits, connectors), nil, &harnessExtras{
		now: w.clock.Now,
		options: func(o *Options) {
			o.Users = store
			o.Logger = slog.New(slog.NewTextHandler(w.slog, nil))
			o.Sleep = func(d time.Duration) {
				w.mu.Lock()
				w.slept = append(w.slept, d)
				w.mu.Unlock()
				w.clock.Advance(d)
			}
			o.OnAuth = func(e AuthEvent) {
				w.mu.Lock()
				w.events = append(w.events, e)
				w.mu.Unlock()
			}
		},
	})
	return w
}

func plain(authzid, user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte(authzid + "\x00" + user + "\x00" + pw))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// secured dials from addr, says EHLO, runs STARTTLS and says EHLO again,
// returning the keywords of the second EHLO.
func (w *authWorld) secured(t *testing.T, from string) (*client, []string) {
	t.Helper()
	c := w.dial(t, from)
	c.ehlo("device.contoso.com")
	c.startTLS(&tls.Config{InsecureSkipVerify: true})
	return c, c.ehlo("device.contoso.com")
}

func hasKeyword(kws []string, k string) bool {
	for _, x := range kws {
		if x == k {
			return true
		}
	}
	return false
}

// TestAuthOnlyAfterSTARTTLS: on Client Frontend, AUTH is neither offered
// nor accepted in clear text and nothing is allowed before AUTH; after
// STARTTLS and AUTH the device relays to any recipient, the message
// carries ESMTPSA and (authenticated), and the envelope names the user.
func TestAuthOnlyAfterSTARTTLS(t *testing.T) {
	w := newAuthWorld(t, "", clientFrontend)
	c := w.dial(t, "127.0.0.1")
	kws := c.ehlo("device.contoso.com")
	if hasKeyword(kws, "AUTH LOGIN PLAIN") {
		t.Fatalf("AUTH advertised before STARTTLS: %q", kws)
	}
	c.expect("AUTH PLAIN "+plain("", "alice", alicePassword), "530 5.7.0 Must issue a STARTTLS command first")
	c.expect("AUTH LOGIN", "530 5.7.0 Must issue a STARTTLS command first")
	c.expect("MAIL FROM:<alice@contoso.com>", "530 5.7.1 Client was not authenticated (no permission group of this connector grants submit)")

	c, kws = w.secured(t, "127.0.0.1")
	if !hasKeyword(kws, "AUTH LOGIN PLAIN") {
		t.Fatalf("AUTH not advertised after STARTTLS: %q", kws)
	}
	c.expect("MAIL FROM:<alice@contoso.com>", "530 5.7.1 Client was not authenticated (no permission group of this connector grants submit)")
	c.expect("AUTH PLAIN "+plain("", "alice", alicePassword), "235 2.7.0 Authentication successful")
	c.expect("AUTH PLAIN "+plain("", "alice", alicePassword), "503 5.5.1 Already authenticated")
	r := c.sendMessage("alice@contoso.com", []string{"someone@fabrikam.com"}, "From: alice@contoso.com\r\nSubject: scan\r\n\r\nscan attached\r\n")
	if !isQueued(r) {
		t.Fatalf("message not queued: %q", r.Text)
	}
	msgs := w.sub.messages()
	if len(msgs) != 1 || msgs[0].Env.AuthUser != "alice" {
		t.Fatalf("stored %+v, want one message with AuthUser alice", msgs)
	}
	first, _, _ := strings.Cut(string(msgs[0].Body), "\r\n\t(version")
	if !strings.Contains(first, "(authenticated) by server1.contoso.local") || !strings.Contains(first, "with ESMTPSA") {
		t.Fatalf("Received header %q lacks (authenticated) / ESMTPSA", first)
	}
	if strings.Contains(first, "alice") {
		t.Fatalf("Received header names the user: %q", first)
	}
	c.quit()

	var sawAuth bool
	for _, rec := range w.protocolLog() {
		if rec.Event == '*' && rec.Context == "authenticated" && rec.Data == "alice" {
			sawAuth = true
		}
	}
	if !sawAuth {
		t.Fatal("protocol log has no '*,alice,authenticated' line")
	}
}

// TestAuthReplies: every malformed, refused or out-of-place AUTH gets a
// clear reply and the session goes on.
func TestAuthReplies(t *testing.T) {
	w := newAuthWorld(t, "  max_protocol_errors: 50\n", clientFrontend)
	c, _ := w.secured(t, "127.0.0.1")
	steps := []struct{ send, want string }{
		{"AUTH", "501 5.5.4 Syntax: AUTH mechanism [initial-response]"},
		{"AUTH CRAM-MD5", "504 5.7.4 Unrecognized authentication type; use one of: LOGIN PLAIN"},
		{"AUTH PLAIN " + plain("", "alice", "wrong"), "535 5.7.8 Authentication unsuccessful"},
		{"AUTH PLAIN " + plain("", "nobody", "wrong"), "535 5.7.8 Authentication unsuccessful"},
		{"AUTH PLAIN " + plain("bob", "alice", alicePassword), "535 5.7.8 Authentication unsuccessful: the authorization identity must be empty or the user name itself"},
		{"AUTH PLAIN !!!notbase64", "501 5.5.2 Cannot decode the authentication response: it must be base64"},
		{"AUTH PLAIN " + b64("no-nul-separators"), "501 5.5.2 Malformed authentication response"},
		{"AUTH PLAIN *", "501 5.0.0 Authentication cancelled"},
		{"AUTH PLAIN", "334 "},
		{"*", "501 5.0.0 Authentication cancelled"},
		{"AUTH LOGIN", "334 VXNlcm5hbWU6"},
		{b64("alice"), "334 UGFzc3dvcmQ6"},
		{"*", "501 5.0.0 Authentication cancelled"},
		{"AUTH LOGIN", "334 VXNlcm5hbWU6"},
		{"%%%", "501 5.5.2 Cannot decode the authentication response: it must be base64"},
		{"AUTH LOGIN", "334 VXNlcm5hbWU6"},
		{strings.Repeat("QUFB", 4000), "500 5.5.6 Authentication Exchange line is too long"},
		{"NOOP", "250 2.0.0 OK"},
	}
	for _, s := range steps {
		c.expect(s.send, s.want)
	}
	// LOGIN with the user name as initial response, then the right password.
	c.expect("AUTH LOGIN "+b64("alice"), "334 UGFzc3dvcmQ6")
	c.expect(b64(alicePassword), "235 2.7.0 Authentication successful")
	c.expect("AUTH LOGIN", "503 5.5.1 Already authenticated")

	// AUTH inside a transaction, before EHLO, and pipelined.
	c2, _ := w.secured(t, "127.0.0.1")
	c2.expect("AUTH PLAIN "+plain("", "bob", bobPassword), "235 2.7.0 Authentication successful")
	c2.expect("MAIL FROM:<bob@contoso.com>", "250 2.1.0 Sender OK")
	c2.expect("AUTH PLAIN "+plain("", "bob", bobPassword), "503 5.5.1 Already authenticated")

	c3, _ := w.secured(t, "127.0.0.1")
	c3.send("AUTH PLAIN " + plain("", "bob", bobPassword) + "\r\nMAIL FROM:<bob@contoso.com>\r\nRCPT TO:<x@fabrikam.com>\r\nAUTH LOGIN\r\n")
	for _, want := range []string{"235 2.7.0 Authentication successful", "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "503 5.5.1 Already authenticated"} {
		if r := c3.mustReply(); r.Text != want {
			t.Fatalf("pipelined: got %q, want %q", r.Text, want)
		}
	}

	c4 := w.dial(t, "127.0.0.1")
	c4.expect("AUTH PLAIN "+plain("", "bob", bobPassword), "503 5.5.1 Send EHLO first")
}

// TestAuthWithoutCertificate: BasicAuthRequireTLS on a connector that
// cannot offer STARTTLS (no certificate for its name) answers 538.
func TestAuthWithoutCertificate(t *testing.T) {
	conn := strings.Replace(clientFrontend, "    protocol_logging_level", "    fqdn: devices.nowhere.example\n    protocol_logging_level", 1)
	w := newAuthWorld(t, "", conn)
	c := w.dial(t, "127.0.0.1")
	c.ehlo("device")
	r := c.cmd("AUTH PLAIN " + plain("", "alice", alicePassword))
	if r.Code != 538 || !strings.HasPrefix(r.Text, "538 5.7.11 Encryption required for requested authentication mechanism") {
		t.Fatalf("got %q, want 538 5.7.11", r.Text)
	}
}

// TestAuthNeverLogsCredentials: after good and bad PLAIN and LOGIN
// exchanges (with initial responses, garbled ones and a user name sent as
// a password), no log — protocol log files, slog output, AUTH events —
// holds a password or any base64 form of one.
func TestAuthNeverLogsCredentials(t *testing.T) {
	w := newAuthWorld(t, "  max_protocol_errors: 50\n", clientFrontend)
	wrong := "Wr0ng-Guess-Pw"
	c, _ := w.secured(t, "127.0.0.1")
	c.expect("AUTH PLAIN "+plain("", "alice", wrong), "535 5.7.8 Authentication unsuccessful")
	c.expect("AUTH LOGIN "+b64("bob"), "334 UGFzc3dvcmQ6")
	c.expect(b64(wrong), "535 5.7.8 Authentication unsuccessful")
	c.expect("AUTH PLAIN", "334 ")
	c.expect(plain("", "alice", wrong), "535 5.7.8 Authentication unsuccessful")
	c.expect("AUTH PLAIN "+plain("", "alice", alicePassword), "235 2.7.0 Authentication successful")
	c.quit()
	c2, _ := w.secured(t, "127.0.0.1")
	c2.expect("AUTH LOGIN", "334 VXNlcm5hbWU6")
	c2.expect(b64("bob"), "334 UGFzc3dvcmQ6")
	c2.expect(b64(bobPassword), "235 2.7.0 Authentication successful")
	c2.quit()
	// Before TLS too: the line is refused, but it was received.
	c3 := w.dial(t, "127.0.0.1")
	c3.ehlo("x")
	c3.expect("AUTH PLAIN "+plain("", "alice", alicePassword), "530 5.7.0 Must issue a STARTTLS command first")
	c3.quit()

	w.protocolLog() // flushes
	var all bytes.Buffer
	filepath.Walk(w.logDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			all.Write(b)
		}
		return nil
	})
	if !strings.Contains(all.String(), "AUTH PLAIN") {
		t.Fatalf("protocol log lacks the AUTH commands themselves:\n%s", all.String())
	}
	all.WriteString(w.slog.String())
	for _, e := range w.events {
		all.WriteString(e.User + e.Reply + e.Mechanism)
	}
	for _, secret := range []string{alicePassword, bobPassword, wrong, b64(alicePassword), b64(bobPassword), b64(wrong),
		plain("", "alice", alicePassword), plain("", "alice", wrong)} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("a log holds the secret %q", secret)
		}
	}
}

// TestAuthBruteForce: 200 wrong passwords for alice from 127.0.0.2 are
// tarpitted (the delays grow) and then locked out with 454 4.7.0 without
// a password check, while alice — who logged in from 127.0.0.3 before the
// attack — and bob from 127.0.0.3 are still served; a new address for the
// locked user is refused. The fake clock stands in for the tarpit's sleep.
func TestAuthBruteForce(t *testing.T) {
	w := newAuthWorld(t, "  auth_failures_per_user: 5\n", clientFrontend)
	good, _ := w.secured(t, "127.0.0.3")
	good.expect("AUTH PLAIN "+plain("", "alice", alicePassword), "235 2.7.0 Authentication successful")
	good.quit()

	var replies = map[string]int{}
	var c *client
	for i := 0; i < 200; i++ {
		if c == nil {
			c, _ = w.secured(t, "127.0.0.2")
		}
		r := c.cmd("AUTH PLAIN " + plain("", "alice", "guess"+string(rune('a'+i%26))))
		replies[r.Text]++
		if r.Code == 421 {
			c.expectClosed()
			c = nil
			continue
		}
		if r.Code != 535 && r.Code != 454 {
			t.Fatalf("attempt %d: %q", i, r.Text)
		}
		// The session closes after max_protocol_errors (10) with 421.
		if i%10 == 9 {
			if r := c.mustReply(); r.Code != 421 {
				t.Fatalf("after 10 failures: %q, want 421", r.Text)
			}
			c.expectClosed()
			c = nil
		}
	}
	if replies["454 4.7.0 Temporary authentication failure"] < 180 {
		t.Fatalf("replies %v: want the attacker locked out (454) after a few failures", replies)
	}
	w.mu.Lock()
	slept := append([]time.Duration(nil), w.slept...)
	w.mu.Unlock()
	if len(slept) < 3 || !(slept[0] < slept[1] && slept[1] < slept[2]) {
		t.Fatalf("tarpit delays %v: want growing delays", slept)
	}
	// The attacker gets 454 even with the right password now.
	c2, _ := w.secured(t, "127.0.0.2")
	c2.expect("AUTH PLAIN "+plain("", "bob", bobPassword), "454 4.7.0 Temporary authentication failure")
	// Legitimate clients elsewhere are served.
	g, _ := w.secured(t, "127.0.0.3")
	g.expect("AUTH PLAIN "+plain("", "alice", alicePassword), "235 2.7.0 Authentication successful")
	g2, _ := w.secured(t, "127.0.0.3")
	g2.expect("AUTH PLAIN "+plain("", "bob", bobPassword), "235 2.7.0 Authentication successful")
	// alice is locked for addresses she never used.
	n, _ := w.secured(t, "127.0.0.4")
	n.expect("AUTH PLAIN "+plain("", "alice", alicePassword), "454 4.7.0 Temporary authentication failure")
	// The fail2ban line names the attacker's address right after the message.
	if !strings.Contains(w.slog.String(), `msg="SMTP AUTH failed" remote_ip=127.0.0.2 user=alice`) {
		t.Fatalf("no fail2ban line for 127.0.0.2 in:\n%.2000s", w.slog.String())
	}
	// After the lock-out the address may try again.
	w.clock.Advance(16 * time.Minute)
	c3, _ := w.secured(t, "127.0.0.2")
	c3.expect("AUTH PLAIN "+plain("", "bob", bobPassword), "235 2.7.0 Authentication successful")
}

// TestSendAs: a user with a SendAs list may only use its own addresses in
// MAIL FROM and From:; a user without one may use any.
func TestSendAs(t *testing.T) {
	w := newAuthWorld(t, "", clientFrontend)
	c, _ := w.secured(t, "127.0.0.1")
	c.expect("AUTH PLAIN "+plain("", "alice", alicePassword), "235 2.7.0 Authentication successful")
	c.expect("MAIL FROM:<ceo@contoso.com>", "550 5.7.60 SMTP; Client does not have permissions to send as this sender")
	c.expect("MAIL FROM:<>", "550 5.7.60 SMTP; Client does not have permissions to send as this sender")
	if r := c.sendMessage("ALICE@contoso.com", []string{"x@fabrikam.com"}, "From: Alice <alice@contoso.com>\r\n\r\nhi\r\n"); !isQueued(r) {
		t.Fatalf("own address refused: %q", r.Text)
	}
	for _, from := range []string{"From: The CEO <ceo@contoso.com>\r\n", "From: alice@contoso.com, ceo@contoso.com\r\n", "", "From: alice@contoso.com\r\nFrom: ceo@contoso.com\r\n", "From: <<<\r\n"} {
		r := c.sendMessage("alice@contoso.com", []string{"x@fabrikam.com"}, from+"Subject: s\r\n\r\nhi\r\n")
		if r.Text != "550 5.7.60 SMTP; Client does not have permissions to send as this sender" {
			t.Fatalf("From header %q: got %q, want 550 5.7.60", from, r.Text)
		}
	}
	c2, _ := w.secured(t, "127.0.0.1")
	c2.expect("AUTH PLAIN "+plain("", "bob", bobPassword), "235 2.7.0 Authentication successful")
	if r := c2.sendMessage("anyone@contoso.com", []string{"x@fabrikam.com"}, "From: ceo@contoso.com\r\n\r\nhi\r\n"); !isQueued(r) {
		t.Fatalf("user without SendAs refused: %q", r.Text)
	}
	if n := len(w.sub.messages()); n != 2 {
		t.Fatalf("%d messages stored, want 2", n)
	}
}

// TestUserMessageRate: the (N+1)th message in a minute gets 452 4.5.3; a
// minute later the user may send again.
func TestUserMessageRate(t *testing.T) {
	w := newAuthWorld(t, "  user_message_rate: 3\n", clientFrontend)
	c, _ := w.secured(t, "127.0.0.1")
	c.expect("AUTH PLAIN "+plain("", "bob", bobPassword), "235 2.7.0 Authentication successful")
	for i := 0; i < 3; i++ {
		if r := c.sendMessage("bob@contoso.com", []string{"x@fabrikam.com"}, "Subject: n\r\n\r\nhi\r\n"); !isQueued(r) {
			t.Fatalf("message %d: %q", i, r.Text)
		}
	}
	c.expect("MAIL FROM:<bob@contoso.com>", "452 4.5.3 Message rate limit exceeded for this user (3 messages per minute); try again later")
	w.clock.Advance(time.Minute)
	c.expect("MAIL FROM:<bob@contoso.com>", "250 2.1.0 Sender OK")
}

// TestAuthRefusedPipelinedResponsesNotLogged: a client that pipelines its
// SASL responses behind an AUTH that is refused (here before STARTTLS, and
// after a garbled first LOGIN response) sends them as lines of their own.
// They are answered as unknown commands but never logged, nor echoed in a
// reply; the next real command is handled and logged as usual.
func TestAuthRefusedPipelinedResponsesNotLogged(t *testing.T) {
	w := newAuthWorld(t, "  max_protocol_errors: 50\n", clientFrontend)
	guess := "Guess0Guess1" // 12 bytes: base64 without padding, a valid verb
	c := w.dial(t, "127.0.0.1")
	c.ehlo("device.contoso.com")
	c.send("AUTH LOGIN\r\n" + b64("alice") + "\r\n" + b64(alicePassword) + "\r\nNOOP\r\n")
	for _, want := range []string{"530 5.7.0 Must issue a STARTTLS command first", "500 5.5.2 Syntax error, command unrecognized",
		"500 5.5.2 Syntax error, command unrecognized", "250 2.0.0 OK"} {
		if r := c.mustReply(); r.Text != want {
			t.Fatalf("got %q, want %q", r.Text, want)
		}
	}
	c.send("AUTH PLAIN\r\n" + b64(guess) + "\r\nNOOP\r\n")
	for _, want := range []string{"530 5.7.0 Must issue a STARTTLS command first", "500 5.5.2 Syntax error, command unrecognized", "250 2.0.0 OK"} {
		if r := c.mustReply(); r.Text != want {
			t.Fatalf("got %q, want %q", r.Text, want)
		}
	}
	c.quit()
	c2, _ := w.secured(t, "127.0.0.1")
	c2.send("AUTH LOGIN\r\n%%%\r\n" + b64(guess) + "\r\nNOOP\r\n")
	for _, want := range []string{"334 VXNlcm5hbWU6", "501 5.5.2 Cannot decode the authentication response: it must be base64",
		"500 5.5.2 Syntax error, command unrecognized", "250 2.0.0 OK"} {
		if r := c2.mustReply(); r.Text != want {
			t.Fatalf("got %q, want %q", r.Text, want)
		}
	}
	c2.quit()

	var noops int
	for _, rec := range w.protocolLog() {
		for _, secret := range []string{b64(alicePassword), b64(guess), strings.ToUpper(b64(guess))} {
			if strings.Contains(rec.Data, secret) {
				t.Errorf("protocol log holds a SASL response: %c %q", rec.Event, rec.Data)
			}
		}
		if rec.Event == '<' && rec.Data == "NOOP" {
			noops++
		}
	}
	if noops != 3 {
		t.Errorf("protocol log has %d NOOP lines, want 3 (commands after the responses are logged)", noops)
	}
}

// TestMailAuthParameter: RFC 4954 §5 — a server that offers AUTH accepts
// the AUTH= parameter of MAIL FROM (Postfix sends AUTH=<> with
// smtp_send_dummy_mail_auth); where AUTH is not offered it stays unknown.
func TestMailAuthParameter(t *testing.T) {
	w := newAuthWorld(t, "", clientFrontend)
	c, _ := w.secured(t, "127.0.0.1")
	c.expect("AUTH PLAIN "+plain("", "bob", bobPassword), "235 2.7.0 Authentication successful")
	c.expect("MAIL FROM:<bob@contoso.com> AUTH=<>", "250 2.1.0 Sender OK")
	c.expect("RSET", "250 2.0.0 Resetting")
	c.expect("MAIL FROM:<bob@contoso.com> AUTH=bob+40contoso.com", "250 2.1.0 Sender OK")
	c.quit()

	h := newHarness(t, harnessConfig("", defaultConnector))
	c2 := h.dial(t, "127.0.0.1")
	c2.ehlo("peer.fabrikam.com")
	c2.expect("MAIL FROM:<a@fabrikam.com> AUTH=<>", "555 5.5.4 Unsupported parameter AUTH")
}

// TestAuthLockoutReachesExchangesInFlight: LOGIN exchanges an address
// opened before it was locked out (each waiting at "Password:") get no
// password check once the lock-out holds: they cannot add guesses beyond
// the limit, not even a right one.
func TestAuthLockoutReachesExchangesInFlight(t *testing.T) {
	w := newAuthWorld(t, "  auth_failures_per_ip: 3\n  max_protocol_errors: 50\n", clientFrontend)
	var waiting []*client
	for i := 0; i < 3; i++ {
		c, _ := w.secured(t, "127.0.0.2")
		c.expect("AUTH LOGIN "+b64("bob"), "334 UGFzc3dvcmQ6")
		waiting = append(waiting, c)
	}
	a, _ := w.secured(t, "127.0.0.2")
	for i := 0; i < 3; i++ {
		a.cmd("AUTH PLAIN " + plain("", "nobody", "guess"))
	}
	a.expect("AUTH PLAIN "+plain("", "nobody", "guess"), "454 4.7.0 Temporary authentication failure")
	waiting[0].expect(b64("wrong"), "454 4.7.0 Temporary authentication failure")
	waiting[1].expect(b64(bobPassword), "454 4.7.0 Temporary authentication failure")
	// An address that is not locked is served as before.
	g, _ := w.secured(t, "127.0.0.3")
	g.expect("AUTH LOGIN "+b64("bob"), "334 UGFzc3dvcmQ6")
	g.expect(b64(bobPassword), "235 2.7.0 Authentication successful")
}
