package smtp

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultClientTimeout is the per-read and per-write limit when
// ClientOptions.Timeout is zero: RFC 5321 §4.5.3.2 asks for at least five
// minutes for most replies.
const DefaultClientTimeout = 5 * time.Minute

// ClientOptions tune a Client.
type ClientOptions struct {
	// OnSend and OnRecv see every command line sent and every reply line
	// received (without CRLF), for the SmtpSend protocol log. Message bodies
	// are not passed.
	OnSend, OnRecv func(line string)
	// Timeout bounds each network read and write (DefaultClientTimeout when
	// zero), so a stalled server cannot hold a delivery forever.
	Timeout time.Duration
}

// Client is an SMTP client session on one connection. It is used by the send
// connectors and by the probe, so both behave identically. It is not safe for
// concurrent use.
type Client struct {
	raw     net.Conn // the connection given to NewClient; closed by Close
	conn    net.Conn // what br and bw use: the timed raw conn, then TLS
	tlsConn *tls.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	opts    ClientOptions
	ext     map[string]string
}

// NewClient starts a session on conn. Call Greeting next.
func NewClient(conn net.Conn, opts ClientOptions) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultClientTimeout
	}
	timed := &timedConn{Conn: conn, timeout: opts.Timeout}
	return &Client{
		raw:  conn,
		conn: timed,
		br:   bufio.NewReaderSize(timed, 4096),
		bw:   bufio.NewWriterSize(timed, 32<<10),
		opts: opts,
	}
}

// timedConn refreshes the deadline before every read and write, so the
// timeout bounds each wait for the peer rather than a whole transfer.
type timedConn struct {
	net.Conn
	timeout time.Duration
}

func (t *timedConn) Read(p []byte) (int, error) {
	if err := t.Conn.SetReadDeadline(time.Now().Add(t.timeout)); err != nil {
		return 0, err
	}
	return t.Conn.Read(p)
}

func (t *timedConn) Write(p []byte) (int, error) {
	if err := t.Conn.SetWriteDeadline(time.Now().Add(t.timeout)); err != nil {
		return 0, err
	}
	return t.Conn.Write(p)
}

// Greeting reads the server's banner; anything but 220 is a *ReplyError.
func (c *Client) Greeting() (Reply, error) {
	r, err := c.readReply("greeting")
	if err != nil {
		return r, err
	}
	if r.Code != 220 {
		return r, &ReplyError{Reply: r, Command: "greeting"}
	}
	return r, nil
}

// Hello sends EHLO name and, when the server refuses EHLO with 5xx, HELO name.
// name is the caller's FQDN: there is no default, least of all "localhost",
// because receivers log it and some check it.
func (c *Client) Hello(name string) (Reply, error) {
	if name == "" || !isCommandText(name) || strings.ContainsRune(name, ' ') {
		return Reply{}, fmt.Errorf("smtp: invalid EHLO name %q", name)
	}
	c.ext = nil
	r, err := c.cmd("EHLO", "EHLO "+name)
	if err != nil {
		return r, err
	}
	switch {
	case r.Positive():
		c.ext = parseExtensions(r.Lines)
		return r, nil
	case r.Code >= 500:
		r, err = c.cmd("HELO", "HELO "+name)
		if err != nil {
			return r, err
		}
		if !r.Positive() {
			return r, &ReplyError{Reply: r, Command: "HELO"}
		}
		c.ext = map[string]string{}
		return r, nil
	}
	return r, &ReplyError{Reply: r, Command: "EHLO"}
}

// parseExtensions reads the EHLO keywords after the first (greeting) line.
func parseExtensions(lines []string) map[string]string {
	ext := make(map[string]string, len(lines))
	for _, line := range lines[1:] {
		keyword, params, _ := strings.Cut(strings.TrimSpace(line), " ")
		if keyword == "" {
			continue
		}
		ext[strings.ToUpper(keyword)] = strings.TrimSpace(params)
	}
	return ext
}

// Extensions returns a copy of the EHLO keywords with their parameters:
// "STARTTLS" → "", "SIZE" → "36700160". Empty before Hello and after StartTLS.
func (c *Client) Extensions() map[string]string {
	out := make(map[string]string, len(c.ext))
	for k, v := range c.ext {
		out[k] = v
	}
	return out
}

// HasExtension reports whether the last EHLO reply offered name
// (case-insensitive).
func (c *Client) HasExtension(name string) bool {
	_, ok := c.ext[strings.ToUpper(name)]
	return ok
}

// StartTLS sends STARTTLS and, on 220, performs the TLS handshake with cfg.
// Any other reply is a *ReplyError and the session stays in plaintext. Bytes
// the server sent after its 220 are refused (ErrInjectedResponse): they were
// not protected by TLS but would be read as if they were. After success the
// caller must send Hello again (RFC 3207 §4.2): the extensions are forgotten.
func (c *Client) StartTLS(cfg *tls.Config) (tls.ConnectionState, error) {
	if c.tlsConn != nil {
		return tls.ConnectionState{}, errors.New("smtp: STARTTLS: TLS already active")
	}
	r, err := c.cmd("STARTTLS", "STARTTLS")
	if err != nil {
		return tls.ConnectionState{}, err
	}
	if r.Code != 220 {
		return tls.ConnectionState{}, &ReplyError{Reply: r, Command: "STARTTLS"}
	}
	if c.br.Buffered() > 0 {
		return tls.ConnectionState{}, ErrInjectedResponse
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		return tls.ConnectionState{}, fmt.Errorf("smtp: TLS handshake: %w", err)
	}
	c.tlsConn = tc
	c.br.Reset(tc)
	c.bw.Reset(tc)
	c.ext = nil
	return tc.ConnectionState(), nil
}

// TLSConnectionState returns the TLS state once StartTLS succeeded.
func (c *Client) TLSConnectionState() (tls.ConnectionState, bool) {
	if c.tlsConn == nil {
		return tls.ConnectionState{}, false
	}
	return c.tlsConn.ConnectionState(), true
}

// Mail sends MAIL FROM:<from> with params (sorted, "KEY=VALUE" or "KEY" when
// the value is empty). from "" is the null reverse-path.
func (c *Client) Mail(from string, params map[string]string) (Reply, error) {
	line, err := mailLine(from, params)
	if err != nil {
		return Reply{}, err
	}
	r, err := c.cmd("MAIL", line)
	if err != nil {
		return r, err
	}
	if !r.Positive() {
		return r, &ReplyError{Reply: r, Command: "MAIL"}
	}
	return r, nil
}

// Rcpt sends RCPT TO:<to>.
func (c *Client) Rcpt(to string) (Reply, error) {
	line, err := rcptLine(to)
	if err != nil {
		return Reply{}, err
	}
	r, err := c.cmd("RCPT", line)
	if err != nil {
		return r, err
	}
	if !r.Positive() {
		return r, &ReplyError{Reply: r, Command: "RCPT"}
	}
	return r, nil
}

// SendEnvelope sends MAIL and one RCPT per recipient, as one PIPELINING group
// when the server offers it (RFC 2920), one command at a time otherwise. err
// is a transport error or a *ReplyError for MAIL; refused recipients are not
// errors: check each rcpt reply. Without PIPELINING a refused MAIL stops
// before the recipients (rcpt is nil).
func (c *Client) SendEnvelope(from string, params map[string]string, rcpts []string) (mail Reply, rcpt []Reply, err error) {
	if !c.HasExtension("PIPELINING") {
		mail, err = c.Mail(from, params)
		if err != nil {
			return mail, nil, err
		}
		for _, to := range rcpts {
			r, err := c.Rcpt(to)
			var re *ReplyError
			if err != nil && !errors.As(err, &re) {
				return mail, rcpt, err
			}
			rcpt = append(rcpt, r)
		}
		return mail, rcpt, nil
	}
	first, err := mailLine(from, params)
	if err != nil {
		return Reply{}, nil, err
	}
	lines := []string{first}
	for _, to := range rcpts {
		l, err := rcptLine(to)
		if err != nil {
			return Reply{}, nil, err
		}
		lines = append(lines, l)
	}
	for _, l := range lines {
		if err := c.writeLine(l); err != nil {
			return Reply{}, nil, err
		}
	}
	if err := c.flush("MAIL"); err != nil {
		return Reply{}, nil, err
	}
	mail, err = c.readReply("MAIL")
	if err != nil {
		return mail, nil, err
	}
	for range rcpts {
		r, err := c.readReply("RCPT")
		if err != nil {
			return mail, rcpt, err
		}
		rcpt = append(rcpt, r)
	}
	if !mail.Positive() {
		return mail, rcpt, &ReplyError{Reply: mail, Command: "MAIL"}
	}
	return mail, rcpt, nil
}

// Data sends DATA, expects 354, sends body with line endings normalised to
// CRLF (bare CR and bare LF alike, so we never smuggle), dot-stuffing and a
// final CRLF when missing, then <CRLF>.<CRLF>, and returns the final reply.
func (c *Client) Data(body io.Reader) (Reply, error) {
	r, err := c.cmd("DATA", "DATA")
	if err != nil {
		return r, err
	}
	if r.Code != 354 {
		return r, &ReplyError{Reply: r, Command: "DATA"}
	}
	if err := writeDotStuffed(c.bw, body); err != nil {
		return Reply{}, fmt.Errorf("smtp: DATA: %w", err)
	}
	if err := c.flush("DATA"); err != nil {
		return Reply{}, err
	}
	r, err = c.readReply("DATA")
	if err != nil {
		return r, err
	}
	if !r.Positive() {
		return r, &ReplyError{Reply: r, Command: "DATA"}
	}
	return r, nil
}

// Reset sends RSET, ending the current transaction.
func (c *Client) Reset() (Reply, error) {
	r, err := c.cmd("RSET", "RSET")
	if err == nil && !r.Positive() {
		err = &ReplyError{Reply: r, Command: "RSET"}
	}
	return r, err
}

// Noop sends NOOP.
func (c *Client) Noop() (Reply, error) {
	r, err := c.cmd("NOOP", "NOOP")
	if err == nil && !r.Positive() {
		err = &ReplyError{Reply: r, Command: "NOOP"}
	}
	return r, err
}

// Quit sends QUIT, reads the reply and closes the connection. The connection
// is closed even when QUIT fails.
func (c *Client) Quit() error {
	_, err := c.cmd("QUIT", "QUIT")
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the connection without QUIT.
func (c *Client) Close() error {
	if err := c.raw.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("smtp: close: %w", err)
	}
	return nil
}

// cmd sends one line and reads one reply; verb names the command in errors.
func (c *Client) cmd(verb, line string) (Reply, error) {
	if err := c.writeLine(line); err != nil {
		return Reply{}, err
	}
	if err := c.flush(verb); err != nil {
		return Reply{}, err
	}
	return c.readReply(verb)
}

func (c *Client) writeLine(line string) error {
	if c.opts.OnSend != nil {
		c.opts.OnSend(line)
	}
	c.bw.WriteString(line)
	_, err := c.bw.WriteString("\r\n")
	if err != nil {
		return fmt.Errorf("smtp: send %s: %w", firstWord(line), err)
	}
	return nil
}

func (c *Client) flush(verb string) error {
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("smtp: send %s: %w", verb, err)
	}
	return nil
}

func (c *Client) readReply(verb string) (Reply, error) {
	r, err := ReadReply(c.br, c.opts.OnRecv)
	if err != nil {
		return r, fmt.Errorf("smtp: reply to %s: %w", verb, err)
	}
	return r, nil
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

func mailLine(from string, params map[string]string) (string, error) {
	if err := checkClientAddress(from); err != nil {
		return "", fmt.Errorf("smtp: MAIL: %w", err)
	}
	var b strings.Builder
	b.WriteString("MAIL FROM:<")
	b.WriteString(from)
	b.WriteString(">")
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic lines for logs and tests
	for _, k := range keys {
		v := params[k]
		if !isParamKeyword(k) || v != "" && !isParamValue(v) {
			return "", fmt.Errorf("smtp: MAIL: invalid parameter %q=%q", k, v)
		}
		b.WriteByte(' ')
		b.WriteString(strings.ToUpper(k))
		if v != "" {
			b.WriteByte('=')
			b.WriteString(v)
		}
	}
	return b.String(), nil
}

func rcptLine(to string) (string, error) {
	if to == "" {
		return "", errors.New("smtp: RCPT: empty recipient")
	}
	if err := checkClientAddress(to); err != nil {
		return "", fmt.Errorf("smtp: RCPT: %w", err)
	}
	return "RCPT TO:<" + to + ">", nil
}

// checkClientAddress keeps caller data from breaking the command framing
// (command injection through CR or LF). Syntax is otherwise the caller's
// business: the probe sends odd forms on purpose (relay tests).
func checkClientAddress(a string) error {
	if !isCommandText(a) {
		return fmt.Errorf("invalid address %q", a)
	}
	return nil
}

// isCommandText: valid UTF-8 without control characters.
func isCommandText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}
