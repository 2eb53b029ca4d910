package smtp

import (
	"errors"
	"fmt"
)

// Errors of the server-side readers. Sessions map them to replies; the reader
// has always consumed the offending input so the next read is in step.
var (
	// ErrLineTooLong: a command line exceeded the limit; the rest of the line
	// was read and discarded.
	ErrLineTooLong = errors.New("smtp: command line too long")
	// ErrBareLF: a command line ended with LF alone.
	ErrBareLF = errors.New("smtp: command line ended with bare LF")
	// ErrBareCR: a command line held a CR not followed by LF.
	ErrBareCR = errors.New("smtp: bare CR in command line")

	// ErrBareLineEnding: the DATA body held a bare CR or LF (SMTP smuggling
	// defence). The body was read to the real <CRLF>.<CRLF> and discarded.
	ErrBareLineEnding = errors.New("smtp: bare CR or LF in message data")
	// ErrTooLarge: the DATA body exceeded the size limit; it was read to the
	// end and discarded.
	ErrTooLarge = errors.New("smtp: message exceeds the size limit")
	// ErrDataLineTooLong: a line of the DATA body exceeded the line limit; the
	// body was read to the end and discarded.
	ErrDataLineTooLong = errors.New("smtp: message line too long")
	// ErrNUL: the DATA body held a NUL byte; it was read to the end and
	// discarded.
	ErrNUL = errors.New("smtp: NUL byte in message data")

	// ErrBadReply: the peer's reply was not a well-formed SMTP reply.
	ErrBadReply = errors.New("smtp: malformed reply")
	// ErrInjectedResponse: the server sent bytes after its 220 to STARTTLS and
	// before the TLS handshake; they would be read as if protected by TLS.
	ErrInjectedResponse = errors.New("smtp: server sent data after 220 to STARTTLS (response injection)")
)

// SyntaxError is a command or path that cannot be accepted, with the reply a
// server gives for it.
type SyntaxError struct {
	Code     int    // 500 or 501
	Enhanced string // e.g. "5.5.2", "5.1.3"
	Msg      string // reply text
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Msg)
}

// Reply is the reply a server sends for this error.
func (e *SyntaxError) Reply() Reply {
	return Reply{Code: e.Code, Enhanced: e.Enhanced, Lines: []string{e.Msg}}
}

// ReplyError is an unexpected reply to a client command: the server refused
// (4xx/5xx) or answered with a code that does not fit the command.
type ReplyError struct {
	Reply   Reply
	Command string // the verb that was answered: "EHLO", "MAIL", "RCPT", "DATA", "STARTTLS", …
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("smtp: %s: %s", e.Command, e.Reply.Text())
}

// Temporary reports a 4xx reply (retry later).
func (e *ReplyError) Temporary() bool { return e.Reply.Code >= 400 && e.Reply.Code < 500 }

// Permanent reports a 5xx reply.
func (e *ReplyError) Permanent() bool { return e.Reply.Code >= 500 && e.Reply.Code < 600 }
