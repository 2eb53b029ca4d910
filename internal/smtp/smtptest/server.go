// Package smtptest owns a small scriptable SMTP server on 127.0.0.1 for tests
// of SMTP clients (internal/smtp's Client, the send connectors, the probe). It
// is built from internal/smtp's strict server primitives, records what every
// session did, and lets a test change any reply through a hook, so failure
// paths (refusals, 4xx at STARTTLS, abrupt closes) are easy to stage.
package smtptest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/mailflowhq/mailflow/internal/smtp"
)

// Close is a reply that makes the server drop the connection instead of
// answering (a "closed abruptly" peer).
var Close = smtp.Reply{Code: 0}

// Server is a test SMTP server. Set the fields, then call Start.
type Server struct {
	// Hostname appears in the banner and the EHLO reply (default
	// "mx.test.example").
	Hostname string
	// Banner replaces the default "220 <Hostname> ESMTP" greeting.
	Banner *smtp.Reply
	// Extensions are the EHLO keywords; nil gives PIPELINING, SIZE 10485760,
	// 8BITMIME, ENHANCEDSTATUSCODES. STARTTLS is added when TLSConfig is set
	// and the session is not yet encrypted.
	Extensions []string
	// TLSConfig enables STARTTLS.
	TLSConfig *tls.Config
	// NoEHLO answers EHLO with 502 so clients must fall back to HELO.
	NoEHLO bool
	// Hook sees every command line before the server handles it; when it
	// returns handled, its reply is sent instead (Close drops the connection).
	Hook func(s *Session, cmd smtp.Command) (reply smtp.Reply, handled bool)

	// Addr is "127.0.0.1:port" once started.
	Addr string

	ln       net.Listener
	sessions chan *Session
	wg       sync.WaitGroup

	mu                      sync.Mutex
	accepted, open, maxOpen int
}

// Connections reports how many connections the server accepted, how many
// are open now and the most that were open at once.
func (s *Server) Connections() (accepted, open, maxOpen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.open, s.maxOpen
}

// Session is what one client connection did, delivered on Sessions() when it
// ends.
type Session struct {
	Remote    string   // the client's address, "ip:port"
	Lines     []string // command lines received, in order
	Pipelined []string // command lines that arrived with more input already buffered
	Helo      string   // last EHLO/HELO argument
	TLS       *tls.ConnectionState
	Messages  []Message
	Err       error // the read error that ended the session, nil after QUIT

	from  string
	rcpts []string
}

// Message is one accepted message.
type Message struct {
	From  string
	Rcpts []string
	Body  string
}

// Start listens on 127.0.0.1:0 and serves until the test ends.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	if s.Hostname == "" {
		s.Hostname = "mx.test.example"
	}
	if s.Extensions == nil {
		s.Extensions = []string{"PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES"}
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	s.sessions = make(chan *Session, 64)
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
}

// Sessions delivers each finished session.
func (s *Server) Sessions() <-chan *Session { return s.sessions }

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.accepted++
		s.open++
		s.maxOpen = max(s.maxOpen, s.open)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sess := s.serve(conn)
			s.mu.Lock()
			s.open--
			s.mu.Unlock()
			select {
			case s.sessions <- sess:
			default: // nobody is reading sessions; do not block the server
			}
		}()
	}
}

func (s *Server) serve(conn net.Conn) *Session {
	defer conn.Close()
	sess := &Session{Remote: conn.RemoteAddr().String()}
	r := smtp.NewReader(conn)
	w := bufio.NewWriter(conn)
	send := func(rep smtp.Reply) error {
		if err := smtp.WriteReply(w, rep); err != nil {
			return err
		}
		return w.Flush()
	}
	banner := smtp.Reply{Code: 220, Lines: []string{s.Hostname + " ESMTP mailflow test server"}}
	if s.Banner != nil {
		banner = *s.Banner
	}
	if banner.Code == 0 {
		return sess
	}
	if err := send(banner); err != nil {
		sess.Err = err
		return sess
	}
	if banner.Code != 220 {
		return sess
	}
	for {
		line, err := r.ReadLine(0)
		if err != nil {
			if errors.Is(err, smtp.ErrLineTooLong) || errors.Is(err, smtp.ErrBareLF) || errors.Is(err, smtp.ErrBareCR) {
				if send(smtp.Reply{Code: 500, Enhanced: "5.5.2", Lines: []string{err.Error()}}) != nil {
					return sess
				}
				continue
			}
			sess.Err = err
			return sess
		}
		sess.Lines = append(sess.Lines, line)
		if r.Buffered() > 0 {
			sess.Pipelined = append(sess.Pipelined, line)
		}
		cmd, err := smtp.ParseCommand(line)
		if err != nil {
			var se *smtp.SyntaxError
			errors.As(err, &se)
			if send(se.Reply()) != nil {
				return sess
			}
			continue
		}
		if s.Hook != nil {
			if rep, ok := s.Hook(sess, cmd); ok {
				if rep.Code == 0 {
					return sess
				}
				if send(rep) != nil {
					return sess
				}
				continue
			}
		}
		rep, next := s.handle(sess, cmd)
		if err := send(rep); err != nil {
			sess.Err = err
			return sess
		}
		switch next {
		case actQuit:
			return sess
		case actData:
			if err := send(readBody(sess, r)); err != nil {
				sess.Err = err
				return sess
			}
		case actTLS:
			if r.Buffered() > 0 {
				sess.Err = errors.New("smtptest: plaintext pipelined after STARTTLS")
				return sess
			}
			tc := tls.Server(conn, s.TLSConfig)
			if err := tc.Handshake(); err != nil {
				sess.Err = fmt.Errorf("smtptest: TLS handshake: %w", err)
				return sess
			}
			st := tc.ConnectionState()
			sess.TLS = &st
			sess.Helo, sess.from, sess.rcpts = "", "", nil
			conn = tc
			r.Reset(tc)
			w.Reset(tc)
		}
	}
}

type action int

const (
	actNone action = iota
	actQuit
	actTLS
	actData
)

func ok(enhanced, text string) smtp.Reply {
	return smtp.Reply{Code: 250, Enhanced: enhanced, Lines: []string{text}}
}

func (s *Server) handle(sess *Session, cmd smtp.Command) (smtp.Reply, action) {
	switch cmd.Verb {
	case "EHLO":
		if s.NoEHLO {
			return smtp.Reply{Code: 502, Enhanced: "5.5.1", Lines: []string{"Command not implemented"}}, actNone
		}
		sess.Helo = cmd.Arg
		lines := []string{s.Hostname + " Hello " + cmd.Arg}
		lines = append(lines, s.Extensions...)
		if s.TLSConfig != nil && sess.TLS == nil {
			lines = append(lines, "STARTTLS")
		}
		return smtp.Reply{Code: 250, Lines: lines}, actNone
	case "HELO":
		sess.Helo = cmd.Arg
		return smtp.Reply{Code: 250, Lines: []string{s.Hostname + " Hello " + cmd.Arg}}, actNone
	case "STARTTLS":
		if s.TLSConfig == nil || sess.TLS != nil {
			return smtp.Reply{Code: 502, Enhanced: "5.5.1", Lines: []string{"Command not implemented"}}, actNone
		}
		return smtp.Reply{Code: 220, Enhanced: "2.0.0", Lines: []string{"SMTP server ready"}}, actTLS
	case "MAIL":
		if sess.Helo == "" {
			return smtp.Reply{Code: 503, Enhanced: "5.5.1", Lines: []string{"Send hello first"}}, actNone
		}
		p, _, err := smtp.ParseMailFrom(cmd.Arg)
		if err != nil {
			return err.(*smtp.SyntaxError).Reply(), actNone
		}
		sess.from, sess.rcpts = p.String(), nil
		return ok("2.1.0", "Sender OK"), actNone
	case "RCPT":
		p, _, err := smtp.ParseRcptTo(cmd.Arg)
		if err != nil {
			return err.(*smtp.SyntaxError).Reply(), actNone
		}
		sess.rcpts = append(sess.rcpts, p.String())
		return ok("2.1.5", "Recipient OK"), actNone
	case "DATA":
		if len(sess.rcpts) == 0 {
			return smtp.Reply{Code: 554, Enhanced: "5.5.1", Lines: []string{"No valid recipients"}}, actNone
		}
		return smtp.Reply{Code: 354, Lines: []string{"Start mail input; end with <CRLF>.<CRLF>"}}, actData
	case "RSET":
		sess.from, sess.rcpts = "", nil
		return ok("2.0.0", "Resetting"), actNone
	case "NOOP":
		return ok("2.0.0", "OK"), actNone
	case "QUIT":
		return smtp.Reply{Code: 221, Enhanced: "2.0.0", Lines: []string{"Service closing transmission channel"}}, actQuit
	}
	return smtp.Reply{Code: 500, Enhanced: "5.3.3", Lines: []string{"Unrecognized command"}}, actNone
}

// readBody reads the body after 354 and records the message.
func readBody(sess *Session, r *smtp.Reader) smtp.Reply {
	var body strings.Builder
	if _, err := r.ReadData(&body, 0, 0); err != nil {
		return smtp.Reply{Code: 550, Enhanced: "5.6.0", Lines: []string{err.Error()}}
	}
	sess.Messages = append(sess.Messages, Message{From: sess.from, Rcpts: sess.rcpts, Body: body.String()})
	sess.from, sess.rcpts = "", nil
	return ok("2.6.0", "Queued mail for delivery")
}
