package protolog

import (
	"strconv"

	"github.com/mailflowhq/mailflow/internal/logfile"
	"github.com/mailflowhq/mailflow/internal/smtp"
)

// Session logs the lines of one SMTP session. It is for one goroutine:
// sequence numbers count from 0 and the line buffer is reused. All methods of
// a nil *Session do nothing.
type Session struct {
	w    *Writer
	id   string
	head []byte // ",connector-id,session-id,"
	ends []byte // ",local,remote,"
	seq  int
	buf  []byte
}

// ID returns the session id ("" for a nil Session).
func (s *Session) ID() string {
	if s == nil {
		return ""
	}
	return s.id
}

// Connect logs the '+' event.
func (s *Session) Connect() { s.line('+', "", "") }

// Disconnect logs the '-' event; context is "Local", "Remote(SocketError)", …
func (s *Session) Disconnect(context string) { s.line('-', "", context) }

// Sent logs a '>' line: our replies on a receive log, our commands on a send log.
// An AUTH command is logged without its initial response (smtp.RedactAuth).
func (s *Session) Sent(data string) { s.line('>', smtp.RedactAuth(data), "") }

// Received logs a '<' line. An AUTH command is logged with its mechanism
// only, never the SASL initial response that follows it (credentials): the
// one place every received line passes, so no caller can forget. SASL
// responses on their own lines are never given to Received (see
// AuthResponse).
func (s *Session) Received(data string) { s.line('<', smtp.RedactAuth(data), "") }

// AuthResponse logs that a SASL response line arrived, without its content,
// so the sequence numbers still show every line the client sent.
func (s *Session) AuthResponse() { s.line('<', "<authentication response>", "") }

// Info logs a '*' information line.
func (s *Session) Info(data, context string) { s.line('*', data, context) }

// Certificate logs a certificate in the older per-field form Exchange writes:
//
//	*,,Sending certificate
//	*,CN=SERVER1,Certificate subject
//	*,CN=SERVER1,Certificate issuer name
//	*,<serial>,Certificate serial number
//	*,<thumbprint>,Certificate thumbprint
//	*,SERVER1;SERVER1.contoso.com;,Certificate alternate names
//
// event is "Sending certificate", "Remote certificate" or "Received
// certificate". Every SAN is followed by ';' as in Exchange's own lines. For
// "Received certificate" Exchange logs only the thumbprint, so field lines
// whose value is empty are left out for that event; pass only the thumbprint
// to get Exchange's exact two lines.
func (s *Session) Certificate(event string, subject, issuer, serial, thumbprint string, sans []string) {
	if s == nil {
		return
	}
	sparse := event == "Received certificate"
	s.line('*', "", event)
	for _, f := range [...]struct{ value, context string }{
		{subject, "Certificate subject"},
		{issuer, "Certificate issuer name"},
		{serial, "Certificate serial number"},
		{thumbprint, "Certificate thumbprint"},
	} {
		if sparse && f.value == "" {
			continue
		}
		s.line('*', f.value, f.context)
	}
	if sparse && len(sans) == 0 {
		return
	}
	n := 0
	for _, san := range sans {
		n += len(san) + 1
	}
	joined := make([]byte, 0, n)
	for _, san := range sans {
		joined = append(joined, san...)
		joined = append(joined, ';')
	}
	s.line('*', string(joined), "Certificate alternate names")
}

// line formats one record into the session's buffer and queues it: the one
// formatted append the hot path pays for.
func (s *Session) line(event byte, data, context string) {
	if s == nil {
		return
	}
	now := s.w.now()
	b := logfile.AppendTime(s.buf[:0], now)
	b = append(b, s.head...)
	b = strconv.AppendInt(b, int64(s.seq), 10)
	b = append(b, s.ends...)
	b = append(b, event, ',')
	b = logfile.AppendField(b, data)
	b = append(b, ',')
	b = logfile.AppendField(b, context)
	b = append(b, '\r', '\n')
	s.buf = b
	s.seq++
	s.w.log.Write(now, b)
}
