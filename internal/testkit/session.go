package testkit

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/smtp"
)

// ClientName is the EHLO name test sessions give.
const ClientName = "client.test"

// Session is an SMTP client session against a server under test, built on
// mailflow's own client (its methods are promoted).
type Session struct {
	*smtp.Client
	// Thumbprint is that of the certificate the server presented at
	// STARTTLS; empty before Secure.
	Thumbprint string
}

// Dial connects to addr, reads the greeting and says EHLO, in plaintext.
func Dial(addr string) (*Session, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClient(conn, smtp.ClientOptions{Timeout: 20 * time.Second})
	if _, err := c.Greeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if _, err := c.Hello(ClientName); err != nil {
		c.Close()
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	return &Session{Client: c}, nil
}

// Secure runs STARTTLS, says EHLO again and records the server's
// certificate. The client judges nothing: tests compare thumbprints.
func (s *Session) Secure() error {
	cs, err := s.StartTLS(&tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	if _, err := s.Hello(ClientName); err != nil {
		return fmt.Errorf("EHLO after STARTTLS: %w", err)
	}
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("STARTTLS: the server presented no certificate")
	}
	s.Thumbprint = certs.Thumbprint(cs.PeerCertificates[0].Raw)
	return nil
}

// DialTLS is Dial and Secure: a session ready for MAIL over TLS.
func DialTLS(addr string) (*Session, error) {
	s, err := Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := s.Secure(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Send runs one transaction and returns the last reply code it got.
func (s *Session) Send(from, rcpt, body string) (int, error) {
	if r, err := s.Mail(from, nil); err != nil {
		return r.Code, fmt.Errorf("MAIL: %w", err)
	}
	return s.Finish(rcpt, body)
}

// Finish completes a transaction begun with MAIL: RCPT and DATA.
func (s *Session) Finish(rcpt, body string) (int, error) {
	if r, err := s.Rcpt(rcpt); err != nil {
		return r.Code, fmt.Errorf("RCPT: %w", err)
	}
	r, err := s.Data(strings.NewReader(body))
	if err != nil {
		return r.Code, fmt.Errorf("DATA: %w", err)
	}
	return r.Code, nil
}

// PresentedThumbprint opens a new session to addr, runs STARTTLS and
// returns the thumbprint of the certificate a new client is shown.
func PresentedThumbprint(addr string) (string, error) {
	s, err := DialTLS(addr)
	if err != nil {
		return "", err
	}
	s.Quit()
	return s.Thumbprint, nil
}

// Presented is PresentedThumbprint that fails the test on error.
func Presented(t testing.TB, addr string) string {
	t.Helper()
	tp, err := PresentedThumbprint(addr)
	if err != nil {
		t.Fatalf("new session to %s: %v", addr, err)
	}
	return tp
}
