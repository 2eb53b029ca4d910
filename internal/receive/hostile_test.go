package receive

import (
	"crypto/tls"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Replies the hostile-input tests expect, byte for byte.
const (
	replyBareLineEnding = "550 5.6.11 SMTPSEND.BareLinefeedsAreIllegal; bare CR or LF in message data is not permitted, lines must end with <CR><LF>"
	replyStartData      = "354 Start mail input; end with <CRLF>.<CRLF>"
	replyNoop           = "250 2.0.0 OK"
	replySyntax         = "500 5.5.2 Syntax error, command unrecognized"
	replyLineTooLong    = "500 5.5.2 Command line too long"
	replyBareCommand    = "500 5.5.2 Command lines must end with <CR><LF>; bare CR or LF is not permitted"
	replyTooLarge       = "552 5.3.4 Message size exceeds fixed maximum message size"
	replyDataLineLong   = "500 5.5.2 Message line too long (limit 1000 octets including CRLF)"
	replyTooManyRcpts   = "452 4.5.3 Too many recipients"
	replyHelloFirst     = "503 5.5.2 Send hello first"
	replyNeedMail       = "503 5.5.1 Need MAIL command"
	replySenderOK       = "250 2.1.0 Sender OK"
	replyRecipientOK    = "250 2.1.5 Recipient OK"
)

// TestSMTPSmuggling sends the end-of-data variants abused in the SMTP
// smuggling attacks (SEC Consult, Dec 2023) followed by a second message
// and then a real <CRLF>.<CRLF>, as an outbound server that passed the body
// through would. Only one reply may follow the 354 — the 550 5.6.11 for
// the whole thing — and nothing is submitted; the session then stays in
// step and a clean message is accepted.
func TestSMTPSmuggling(t *testing.T) {
	const smuggled = "MAIL FROM:<ceo@contoso.com>\r\nRCPT TO:<victim@contoso.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n"
	cases := []struct {
		name string
		body string // sent after the 354; the test appends "\r\n.\r\n"
	}{
		{"LF.CRLF", "Subject: a\r\n\r\nbody\n.\r\n" + smuggled},
		{"LF.LF", "Subject: a\r\n\r\nbody\n.\n" + smuggled},
		{"CRLF.LF", "Subject: a\r\n\r\nbody\r\n.\n" + smuggled},
		{"CR.CR", "Subject: a\r\n\r\nbody\r.\r" + smuggled},
		{"CRLF.CR", "Subject: a\r\n\r\nbody\r\n.\r" + smuggled},
		{"LF.CRLF at start", "\n.\r\n" + smuggled},
		{"bare LF in body", "Subject: a\r\n\r\nline one\nline two"},
		{"bare CR in body", "Subject: a\r\n\r\nline one\rline two"},
		{"bare CR in header", "Subject: a\rBcc: victim@contoso.com\r\n\r\nbody"},
		{"CR CR LF", "Subject: a\r\n\r\nbody\r\r\n"},
	}
	h := newHarness(t, harnessConfig("", defaultConnector))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.sub.messages())
			c := h.dial(t, "127.0.0.2")
			c.ehlo("relay.fabrikam.example")
			c.expect("MAIL FROM:<alice@fabrikam.example>", replySenderOK)
			c.expect("RCPT TO:<bob@contoso.com>", replyRecipientOK)
			c.expect("DATA", replyStartData)
			c.send(tc.body + "\r\n.\r\n")
			// Exactly one reply for everything sent: had the server ended
			// the body early, this would be a 250 2.6.0 and the smuggled
			// MAIL/RCPT/DATA replies would follow.
			c.expect("", replyBareLineEnding)
			c.expect("NOOP", replyNoop)
			if got := len(h.sub.messages()); got != before {
				t.Fatalf("%d message(s) submitted for a body with bare CR/LF", got-before)
			}
			// In step: a clean message on the same session goes through,
			// and it is the only thing submitted.
			r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Subject: clean\r\n\r\nclean")
			if !isQueued(r) {
				t.Fatalf("clean message after the rejected one: %q", r.Text)
			}
			c.quit()
			msgs := h.sub.messages()[before:]
			if len(msgs) != 1 || strings.Contains(string(msgs[0].Body), "smuggled") || !slices.Equal(msgs[0].Env.To, []string{"bob@contoso.com"}) {
				t.Fatalf("submitted %+v", msgs)
			}
		})
	}
	found := false
	for _, rec := range h.protocolLog() {
		if rec.Event == '*' && strings.Contains(rec.Context, "SMTP smuggling protection") {
			found = true
		}
	}
	if !found {
		t.Error("protocol log has no 'SMTP smuggling protection' line")
	}
}

// TestSmugglingUnterminated: a smuggling body that never gets a real
// <CRLF>.<CRLF> leaves the server waiting for the end of data: the
// smuggled commands are never answered and nothing is submitted.
func TestSmugglingUnterminated(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	c.ehlo("relay.fabrikam.example")
	c.expect("MAIL FROM:<alice@fabrikam.example>", replySenderOK)
	c.expect("RCPT TO:<bob@contoso.com>", replyRecipientOK)
	c.expect("DATA", replyStartData)
	c.send("body\n.\r\nMAIL FROM:<ceo@contoso.com>\r\nRCPT TO:<victim@contoso.com>\r\nDATA\r\nsmuggled\n.\n")
	c.conn.(interface{ CloseWrite() error }).CloseWrite()
	c.expectClosed()
	eventually(t, "the session to end", func() bool { return h.srv.Connections() == 0 })
	if h.sub.callCount() != 0 {
		t.Fatalf("Submitter called %d times", h.sub.callCount())
	}
}

func TestBDATIsNotOffered(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	kw := c.ehlo("relay.fabrikam.example")
	for _, k := range kw {
		if u := strings.ToUpper(k); u == "CHUNKING" || u == "BINARYMIME" {
			t.Errorf("EHLO advertises %s", k)
		}
	}
	c.expect("MAIL FROM:<alice@fabrikam.example>", replySenderOK)
	c.expect("RCPT TO:<bob@contoso.com>", replyRecipientOK)
	c.expect("BDAT 5 LAST", "502 5.5.1 BDAT is not supported (CHUNKING is not offered)")
	if h.sub.callCount() != 0 {
		t.Fatal("BDAT submitted something")
	}
}

// TestSTARTTLSInjection (CVE-2011-0411, "NO STARTTLS"): a command pipelined
// after STARTTLS in the same write is never executed, neither in plaintext
// nor after the handshake; the server answers only the 220 and closes.
func TestSTARTTLSInjection(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	for _, tc := range []struct{ name, injected string }{
		{"NOOP", "NOOP\r\n"},
		{"transaction", "MAIL FROM:<ceo@contoso.com>\r\nRCPT TO:<victim@contoso.com>\r\nDATA\r\nSubject: injected\r\n\r\nx\r\n.\r\n"},
		{"partial line", "NO"},
	} {
		t.Run(tc.name+"/read", func(t *testing.T) {
			c := h.dial(t, "127.0.0.2")
			c.ehlo("client.fabrikam.example")
			c.send("STARTTLS\r\n" + tc.injected)
			c.expect("", "220 2.0.0 SMTP server ready")
			c.expectClosed()
		})
		t.Run(tc.name+"/handshake", func(t *testing.T) {
			c := h.dial(t, "127.0.0.2")
			c.ehlo("client.fabrikam.example")
			c.send("STARTTLS\r\n" + tc.injected)
			c.expect("", "220 2.0.0 SMTP server ready")
			tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "server1.contoso.local"})
			if err := tc.Handshake(); err == nil {
				// Had the server gone on, the injected command would be
				// answered now, inside TLS.
				buf := make([]byte, 512)
				n, _ := tc.Read(buf)
				t.Fatalf("handshake succeeded after injected plaintext; server then sent %q", buf[:n])
			}
		})
	}
	if h.sub.callCount() != 0 {
		t.Fatalf("Submitter called %d times", h.sub.callCount())
	}
	found := 0
	for _, rec := range h.protocolLog() {
		if rec.Event == '*' && strings.Contains(rec.Context, "STARTTLS injection protection") {
			found++
		}
	}
	if found != 6 {
		t.Errorf("protocol log has %d 'STARTTLS injection protection' lines, want 6", found)
	}
}

// TestSTARTTLSResetsSession: RFC 3207 §4.2 — after the handshake the
// session is back to just after the greeting, and STARTTLS is neither
// offered nor accepted again.
func TestSTARTTLSResetsSession(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	if kw := c.ehlo("client.fabrikam.example"); !slices.Contains(kw, "STARTTLS") {
		t.Fatalf("STARTTLS not offered before TLS: %v", kw)
	}
	c.expect("MAIL FROM:<alice@fabrikam.example>", replySenderOK)
	c.startTLS(&tls.Config{InsecureSkipVerify: true, ServerName: "server1.contoso.local"})
	c.expect("MAIL FROM:<alice@fabrikam.example>", replyHelloFirst)
	c.expect("RCPT TO:<bob@contoso.com>", replyNeedMail)
	c.expect("STARTTLS", "503 5.5.1 TLS already active")
	kw := c.ehlo("client.fabrikam.example")
	if slices.Contains(kw, "STARTTLS") {
		t.Fatalf("STARTTLS offered again after TLS: %v", kw)
	}
	// The MAIL FROM given before TLS was forgotten: RCPT needs a new one.
	c.expect("RCPT TO:<bob@contoso.com>", replyNeedMail)
	c.expect("STARTTLS", "503 5.5.1 TLS already active")
	r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Subject: tls\r\n\r\nover TLS")
	if !isQueued(r) {
		t.Fatalf("message over TLS: %q", r.Text)
	}
	c.quit()
	msgs := h.sub.messages()
	if len(msgs) != 1 || !msgs[0].Env.TLS {
		t.Fatalf("submitted %+v", msgs)
	}
}

// TestCommandSequenceAndSyntax covers commands out of order and lines no
// command parser should accept; every case is followed by NOOP to prove
// the session is still in step.
func TestCommandSequenceAndSyntax(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	exact512 := "NOOP " + strings.Repeat("x", 512-len("NOOP ")-2)
	cases := []struct {
		name string
		ehlo bool
		raw  string // sent as is
		want string
	}{
		{name: "MAIL before EHLO", raw: "MAIL FROM:<alice@fabrikam.example>\r\n", want: replyHelloFirst},
		{name: "RCPT before EHLO", raw: "RCPT TO:<bob@contoso.com>\r\n", want: replyNeedMail},
		{name: "DATA before EHLO", raw: "DATA\r\n", want: replyNeedMail},
		{name: "STARTTLS before EHLO", raw: "STARTTLS\r\n", want: replyHelloFirst},
		{name: "RCPT before MAIL", ehlo: true, raw: "RCPT TO:<bob@contoso.com>\r\n", want: replyNeedMail},
		{name: "DATA before MAIL", ehlo: true, raw: "DATA\r\n", want: replyNeedMail},
		{name: "command of 512 octets", raw: exact512 + "\r\n", want: replyNoop},
		{name: "command of 513 octets", raw: exact512 + "x\r\n", want: replyLineTooLong},
		{name: "command of 100000 octets", raw: "MAIL FROM:<" + strings.Repeat("a", 100000) + "@fabrikam.example>\r\n", want: replyLineTooLong},
		{name: "over-long line hiding a command", raw: strings.Repeat("x", 600) + "\r\n", want: replyLineTooLong},
		{name: "NUL in verb", raw: "NO\x00OP\r\n", want: replySyntax},
		{name: "NUL in address", ehlo: true, raw: "MAIL FROM:<alice\x00@fabrikam.example>\r\n", want: replySyntax},
		{name: "invalid UTF-8 in sender", ehlo: true, raw: "MAIL FROM:<\xc3\x28@fabrikam.example>\r\n", want: replySyntax},
		{name: "invalid UTF-8 in domain", ehlo: true, raw: "MAIL FROM:<alice@fabrikam.\xff>\r\n", want: replySyntax},
		{name: "bare LF command", raw: "NOOP\n", want: replyBareCommand},
		{name: "bare CR in command", raw: "NOOP\rMAIL FROM:<a@b.example>\r\n", want: replyBareCommand},
		{name: "empty line", raw: "\r\n", want: replySyntax},
		{name: "unknown verb", raw: "XYZZY\r\n", want: "500 5.3.3 Unrecognized command 'XYZZY'"},
		{name: "EHLO without name", raw: "EHLO\r\n", want: "501 5.5.4 Invalid domain name; use EHLO <your host name>"},
		{name: "SIZE not a number", ehlo: true, raw: "MAIL FROM:<alice@fabrikam.example> SIZE=10abc\r\n", want: "501 5.5.4 Invalid SIZE parameter"},
		{name: "SIZE signed", ehlo: true, raw: "MAIL FROM:<alice@fabrikam.example> SIZE=+10\r\n", want: "501 5.5.4 Invalid SIZE parameter"},
		{name: "SIZE overflow", ehlo: true, raw: "MAIL FROM:<alice@fabrikam.example> SIZE=99999999999999999999\r\n", want: "501 5.5.4 Invalid SIZE parameter"},
		{name: "unknown MAIL parameter", ehlo: true, raw: "MAIL FROM:<alice@fabrikam.example> XFOO=1\r\n", want: "555 5.5.4 Unsupported parameter XFOO"},
		{name: "AUTH", ehlo: true, raw: "AUTH PLAIN AGEAYg==\r\n", want: "504 5.7.4 Unrecognized authentication type"},
		{name: "EXPN", raw: "EXPN staff\r\n", want: "502 5.3.3 Command not implemented"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dial(t, "127.0.0.2")
			if tc.ehlo {
				c.ehlo("client.fabrikam.example")
			}
			c.send(tc.raw)
			c.expect("", tc.want)
			c.expect("NOOP", replyNoop)
			c.quit()
		})
	}
	if h.sub.callCount() != 0 {
		t.Fatalf("Submitter called %d times", h.sub.callCount())
	}
}

// TestRecipientLimit: past max_recipients every RCPT gets 452 4.5.3 (a
// transient reply: the client sends the rest in another transaction), the
// session is not dropped for it, and the message goes to the first ones.
func TestRecipientLimit(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	c.ehlo("client.fabrikam.example")
	c.expect("MAIL FROM:<alice@fabrikam.example>", replySenderOK)
	limit := h.st.Connectors[0].MaxRcpts
	if limit != 5 {
		t.Fatalf("max recipients %d, want 5 from the configuration", limit)
	}
	var want []string
	for i := 0; i < limit; i++ {
		rcpt := "user" + strconv.Itoa(i) + "@contoso.com"
		want = append(want, rcpt)
		c.expect("RCPT TO:<"+rcpt+">", replyRecipientOK)
	}
	// 2,000 more, pipelined in one write, each answered with 452.
	var b strings.Builder
	const extra = 2000
	for i := 0; i < extra; i++ {
		b.WriteString("RCPT TO:<extra" + strconv.Itoa(i) + "@contoso.com>\r\n")
	}
	c.send(b.String())
	for i := 0; i < extra; i++ {
		if r := c.mustReply(); r.Text != replyTooManyRcpts {
			t.Fatalf("RCPT %d past the limit: %q", limit+i+1, r.Text)
		}
	}
	c.expect("DATA", replyStartData)
	c.send("Subject: many\r\n\r\nx\r\n.\r\n")
	if r := c.mustReply(); !isQueued(r) {
		t.Fatalf("end of data: %q", r.Text)
	}
	c.quit()
	msgs := h.sub.messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].Env.To, want) {
		t.Fatalf("submitted %+v, want one message to %v", msgs, want)
	}
}

// TestSizeLimits: SIZE declared over the limit is refused at MAIL; a body
// over the limit is refused at the end of data whatever SIZE said, and
// nothing is stored; the boundary is accepted.
func TestSizeLimits(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	max := int(h.st.Connectors[0].MaxSize)
	if max != 64<<10 {
		t.Fatalf("max size %d, want 64KB from the configuration", max)
	}
	c := h.dial(t, "127.0.0.2")
	if kw := c.ehlo("client.fabrikam.example"); !slices.Contains(kw, "SIZE "+strconv.Itoa(max)) {
		t.Fatalf("EHLO does not advertise SIZE %d: %v", max, kw)
	}
	c.expect("MAIL FROM:<alice@fabrikam.example> SIZE="+strconv.Itoa(max+1), replyTooLarge)
	c.expect("MAIL FROM:<alice@fabrikam.example> SIZE="+strconv.Itoa(max), replySenderOK)
	c.expect("RSET", "250 2.0.0 Resetting")

	// A lie: SIZE=100, then max+1 octets of body.
	c.expect("MAIL FROM:<alice@fabrikam.example> SIZE=100", replySenderOK)
	c.expect("RCPT TO:<bob@contoso.com>", replyRecipientOK)
	c.expect("DATA", replyStartData)
	c.send(body(max + 1))
	c.send(".\r\n")
	c.expect("", replyTooLarge)
	c.expect("NOOP", replyNoop)
	if h.sub.callCount() != 0 {
		t.Fatal("an over-size message was submitted")
	}
	// The transaction was reset by the refusal.
	c.expect("RCPT TO:<bob@contoso.com>", replyNeedMail)

	// Exactly the limit is accepted.
	c.expect("MAIL FROM:<alice@fabrikam.example> SIZE=100", replySenderOK)
	c.expect("RCPT TO:<bob@contoso.com>", replyRecipientOK)
	c.expect("DATA", replyStartData)
	c.send(body(max))
	c.send(".\r\n")
	if r := c.mustReply(); !isQueued(r) {
		t.Fatalf("message of exactly the limit: %q", r.Text)
	}
	c.quit()
	if msgs := h.sub.messages(); len(msgs) != 1 {
		t.Fatalf("submitted %d messages, want 1", len(msgs))
	}
}

// body returns n octets of message text in CRLF lines of 100 octets.
func body(n int) string {
	var b strings.Builder
	for b.Len()+100 <= n {
		b.WriteString(strings.Repeat("x", 98) + "\r\n")
	}
	if rest := n - b.Len(); rest > 0 {
		if rest < 2 {
			// Keep every line CRLF-terminated: borrow from the last line.
			s := b.String()
			b.Reset()
			b.WriteString(s[:len(s)-100])
			b.WriteString(strings.Repeat("x", 98+rest-2) + "\r\n")
			b.WriteString("\r\n")
		} else {
			b.WriteString(strings.Repeat("y", rest-2) + "\r\n")
		}
	}
	return b.String()
}

func TestBodyHelper(t *testing.T) {
	for _, n := range []int{2, 3, 100, 101, 102, 65536, 65537} {
		if got := len(body(n)); got != n {
			t.Errorf("len(body(%d)) = %d", n, got)
		}
	}
}

// TestDataLineLimit: a text line over 1000 octets (CRLF included) is
// refused at the end of data and nothing is stored; 1000 is accepted.
func TestDataLineLimit(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	c.ehlo("client.fabrikam.example")
	line1000 := strings.Repeat("x", 998) + "\r\n"
	for _, tc := range []struct {
		line string
		want string
	}{
		{"y" + line1000, replyDataLineLong},
		{line1000, ""},
	} {
		c.expect("MAIL FROM:<alice@fabrikam.example>", replySenderOK)
		c.expect("RCPT TO:<bob@contoso.com>", replyRecipientOK)
		c.expect("DATA", replyStartData)
		c.send("Subject: long\r\n\r\n" + tc.line + ".\r\n")
		r := c.mustReply()
		switch {
		case tc.want == "" && !isQueued(r):
			t.Fatalf("line of %d octets: %q", len(tc.line), r.Text)
		case tc.want != "" && r.Text != tc.want:
			t.Fatalf("line of %d octets: %q, want %q", len(tc.line), r.Text, tc.want)
		}
	}
	c.quit()
	if msgs := h.sub.messages(); len(msgs) != 1 {
		t.Fatalf("submitted %d messages, want 1", len(msgs))
	}
}

// TestUnterminatedDataAtDisconnect: the client goes away in the middle of
// DATA; nothing is stored (DATA is all or nothing).
func TestUnterminatedDataAtDisconnect(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	for _, tail := range []string{"Subject: x\r\n\r\nhalf a message\r\n", "Subject: x\r\n\r\nno line end", "Subject: x\r\n\r\nbody\r\n.", "Subject: x\r\n\r\nbody\r\n.\r"} {
		c := h.dial(t, "127.0.0.2")
		c.ehlo("client.fabrikam.example")
		c.expect("MAIL FROM:<alice@fabrikam.example>", replySenderOK)
		c.expect("RCPT TO:<bob@contoso.com>", replyRecipientOK)
		c.expect("DATA", replyStartData)
		c.send(tail)
		c.conn.Close()
	}
	eventually(t, "the sessions to end", func() bool { return h.srv.Connections() == 0 })
	if h.sub.callCount() != 0 {
		t.Fatalf("Submitter called %d times for unterminated messages", h.sub.callCount())
	}
	n := 0
	for _, rec := range h.protocolLog() {
		if rec.Event == '*' && strings.HasPrefix(rec.Context, "Message data incomplete") {
			n++
		}
	}
	if n != 4 {
		t.Errorf("protocol log has %d 'Message data incomplete' lines, want 4", n)
	}
}

// TestTooManyErrors: after max_protocol_errors errors the server answers
// 421 and closes, even with more commands pipelined.
func TestTooManyErrors(t *testing.T) {
	h := newHarness(t, harnessConfig("  max_protocol_errors: 3\n", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	c.send("FOO\r\nBAR\r\nBAZ\r\nNOOP\r\nNOOP\r\n")
	c.expect("", "500 5.3.3 Unrecognized command 'FOO'")
	c.expect("", "500 5.3.3 Unrecognized command 'BAR'")
	c.expect("", "500 5.3.3 Unrecognized command 'BAZ'")
	c.expect("", "421 4.7.0 Too many errors on this connection, closing transmission channel")
	c.expectClosed()

	// Errors of every kind count: over-long lines, bare LF, bad sequence.
	c = h.dial(t, "127.0.0.2")
	c.send(strings.Repeat("x", 600) + "\r\nNOOP\nMAIL FROM:<a@fabrikam.example>\r\n")
	c.expect("", replyLineTooLong)
	c.expect("", replyBareCommand)
	c.expect("", replyHelloFirst)
	c.expect("", "421 4.7.0 Too many errors on this connection, closing transmission channel")
	c.expectClosed()
}

// TestNULInData: a NUL byte anywhere in the body refuses the message at
// the end of data; the session stays in step.
func TestNULInData(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	c.ehlo("client.fabrikam.example")
	for _, b := range []string{"Subject: a\x00b\r\n\r\nx", "Subject: a\r\n\r\nx\x00", "\x00"} {
		c.expect("MAIL FROM:<alice@fabrikam.example>", replySenderOK)
		c.expect("RCPT TO:<bob@contoso.com>", replyRecipientOK)
		c.expect("DATA", replyStartData)
		c.send(b + "\r\n.\r\n")
		c.expect("", "550 5.6.0 NUL characters are not permitted in message data")
		c.expect("NOOP", replyNoop)
	}
	c.quit()
	if n := h.sub.callCount(); n != 0 {
		t.Fatalf("Submitter called %d times", n)
	}
}
