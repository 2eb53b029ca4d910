package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// client is the load generator's SMTP client: one command at a time, no
// pipelining (mailflow, like Postfix, drops a client that pipelines past
// STARTTLS), every step under a deadline so a stuck server fails the run
// instead of hanging it.
type client struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
	tls     bool
}

func newClient(conn net.Conn, timeout time.Duration) *client {
	return &client{conn: conn, r: bufio.NewReaderSize(conn, 4096), w: bufio.NewWriterSize(conn, 4096), timeout: timeout}
}

// reply reads one (possibly multi-line) reply and returns its code and
// text lines.
func (c *client) reply() (int, []string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	var lines []string
	for range 100 { // a reply longer than 100 lines is a broken server
		line, err := c.r.ReadString('\n')
		if err != nil {
			return 0, lines, fmt.Errorf("read reply: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return 0, lines, fmt.Errorf("malformed reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			return 0, lines, fmt.Errorf("malformed reply line %q", line)
		}
		lines = append(lines, line)
		if len(line) == 3 || line[3] == ' ' {
			return code, lines, nil
		}
	}
	return 0, lines, fmt.Errorf("reply of more than 100 lines")
}

// expect reads a reply and fails unless it has the wanted code.
func (c *client) expect(want int, step string) ([]string, error) {
	code, lines, err := c.reply()
	if err != nil {
		return lines, fmt.Errorf("%s: %w", step, err)
	}
	if code != want {
		return lines, fmt.Errorf("%s: got %q, want %d", step, strings.Join(lines, " / "), want)
	}
	return lines, nil
}

// cmd sends one command line and checks the reply code.
func (c *client) cmd(want int, line string) ([]string, error) {
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return nil, fmt.Errorf("%s: %w", firstWord(line), err)
	}
	return c.expect(want, firstWord(line))
}

// hello sends EHLO and reports whether STARTTLS was offered.
func (c *client) hello(name string) (startTLS bool, err error) {
	lines, err := c.cmd(250, "EHLO "+name)
	if err != nil {
		return false, err
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l[min(4, len(l)):]); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
			startTLS = true
		}
	}
	return startTLS, nil
}

// startTLS runs STARTTLS and the handshake; the session continues over
// TLS (the caller sends EHLO again, RFC 3207).
func (c *client) startTLS(cfg *tls.Config) error {
	if _, err := c.cmd(220, "STARTTLS"); err != nil {
		return err
	}
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	c.conn = tc
	c.r.Reset(tc)
	c.w.Reset(tc)
	c.tls = true
	return nil
}

// data sends the message body (already dot-stuffed, CRLF lines, without
// the final dot) and returns how long the server took to answer the final
// dot: the wait for the durable 250.
func (c *client) data(body []byte) (time.Duration, error) {
	if _, err := c.cmd(354, "DATA"); err != nil {
		return 0, err
	}
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	c.w.Write(body)
	c.w.WriteString(".\r\n")
	if err := c.w.Flush(); err != nil {
		return 0, fmt.Errorf("message body: %w", err)
	}
	start := time.Now()
	if _, err := c.expect(250, "end of data"); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// quit ends the session politely; errors do not matter any more.
func (c *client) quit() {
	c.cmd(221, "QUIT")
	c.conn.Close()
}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

// messageBody builds a message of about size bytes of payload (headers
// extra, as smtp-source -l counts), CRLF lines of 78 characters that never
// start with a dot.
func messageBody(size int, from, to string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: mailflow bench\r\nDate: Mon, 2 Jun 2025 09:00:00 +0000\r\n\r\n", from, to)
	const line = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnop"
	for n := 0; n < size; {
		l := line
		if rest := size - n - 2; rest < len(l) {
			l = l[:max(rest, 1)]
		}
		b.WriteString(l)
		b.WriteString("\r\n")
		n += len(l) + 2
	}
	return []byte(b.String())
}
