package smtp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
)

// dial connects a Client to the test server and reads the greeting.
func dial(t *testing.T, addr string, opts smtp.ClientOptions) *smtp.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn, opts)
	t.Cleanup(func() { c.Close() })
	if _, err := c.Greeting(); err != nil {
		t.Fatalf("Greeting: %v", err)
	}
	return c
}

func session(t *testing.T, s *smtptest.Server) *smtptest.Session {
	t.Helper()
	select {
	case sess := <-s.Sessions():
		return sess
	case <-time.After(10 * time.Second):
		t.Fatal("no session reported by the test server")
		return nil
	}
}

func TestClientDelivers(t *testing.T) {
	srv := &smtptest.Server{}
	srv.Start(t)
	var sent, recv []string
	c := dial(t, srv.Addr, smtp.ClientOptions{
		OnSend: func(l string) { sent = append(sent, l) },
		OnRecv: func(l string) { recv = append(recv, l) },
	})
	if _, err := c.Hello("client.contoso.com"); err != nil {
		t.Fatal(err)
	}
	ext := c.Extensions()
	if ext["SIZE"] != "10485760" || !c.HasExtension("pipelining") || c.HasExtension("STARTTLS") {
		t.Fatalf("extensions = %v", ext)
	}
	if _, err := c.Mail("sender@contoso.com", map[string]string{"SIZE": "42", "BODY": "8BITMIME"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rcpt("rcpt@fabrikam.com"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Data(strings.NewReader("Subject: t\n\n.leading dot\nbare\rCR\r\nend"))
	if err != nil || r.Code != 250 || r.Enhanced != "2.6.0" {
		t.Fatalf("Data = %+v, %v", r, err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	sess := session(t, srv)
	if sess.Helo != "client.contoso.com" {
		t.Errorf("EHLO name = %q", sess.Helo)
	}
	if len(sess.Messages) != 1 {
		t.Fatalf("messages = %+v", sess.Messages)
	}
	m := sess.Messages[0]
	want := "Subject: t\r\n\r\n.leading dot\r\nbare\r\nCR\r\nend\r\n"
	if m.From != "sender@contoso.com" || !slices.Equal(m.Rcpts, []string{"rcpt@fabrikam.com"}) || m.Body != want {
		t.Errorf("message = %+v, want body %q", m, want)
	}
	if !slices.Contains(sess.Lines, "MAIL FROM:<sender@contoso.com> BODY=8BITMIME SIZE=42") {
		t.Errorf("lines = %q", sess.Lines)
	}
	wantSent := []string{"EHLO client.contoso.com", "MAIL FROM:<sender@contoso.com> BODY=8BITMIME SIZE=42", "RCPT TO:<rcpt@fabrikam.com>", "DATA", "QUIT"}
	if !slices.Equal(sent, wantSent) {
		t.Errorf("OnSend saw %q, want %q", sent, wantSent)
	}
	if len(recv) < 8 || !strings.HasPrefix(recv[0], "220 ") || !strings.HasPrefix(recv[len(recv)-1], "221 ") {
		t.Errorf("OnRecv saw %q", recv)
	}
}

func TestClientHeloFallback(t *testing.T) {
	srv := &smtptest.Server{NoEHLO: true}
	srv.Start(t)
	c := dial(t, srv.Addr, smtp.ClientOptions{})
	r, err := c.Hello("client.contoso.com")
	if err != nil || r.Code != 250 {
		t.Fatalf("Hello = %+v, %v", r, err)
	}
	if len(c.Extensions()) != 0 {
		t.Errorf("HELO session has extensions %v", c.Extensions())
	}
	c.Quit()
	sess := session(t, srv)
	if !slices.Equal(sess.Lines[:2], []string{"EHLO client.contoso.com", "HELO client.contoso.com"}) {
		t.Errorf("lines = %q", sess.Lines)
	}
}

func TestClientHelloNameRequired(t *testing.T) {
	srv := &smtptest.Server{}
	srv.Start(t)
	c := dial(t, srv.Addr, smtp.ClientOptions{})
	for _, name := range []string{"", "a b", "x\r\nMAIL FROM:<>"} {
		if _, err := c.Hello(name); err == nil {
			t.Errorf("Hello(%q) accepted", name)
		}
	}
}

func TestClientStartTLS(t *testing.T) {
	cert := selfSigned(t, "mx.test.example")
	srv := &smtptest.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	srv.Start(t)
	c := dial(t, srv.Addr, smtp.ClientOptions{})
	if _, err := c.Hello("client.contoso.com"); err != nil {
		t.Fatal(err)
	}
	if !c.HasExtension("STARTTLS") {
		t.Fatal("STARTTLS not offered")
	}
	if _, ok := c.TLSConnectionState(); ok {
		t.Fatal("TLS state before STARTTLS")
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	st, err := c.StartTLS(&tls.Config{ServerName: "mx.test.example", RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != "mx.test.example" {
		t.Fatalf("peer = %+v", st.PeerCertificates)
	}
	if len(c.Extensions()) != 0 {
		t.Error("extensions survived STARTTLS")
	}
	if _, err := c.Hello("client.contoso.com"); err != nil {
		t.Fatal(err)
	}
	if c.HasExtension("STARTTLS") {
		t.Error("STARTTLS offered again after TLS")
	}
	if _, ok := c.TLSConnectionState(); !ok {
		t.Error("no TLS state after STARTTLS")
	}
	if _, err := c.StartTLS(&tls.Config{}); err == nil {
		t.Error("second StartTLS accepted")
	}
	if _, _, err := c.SendEnvelope("a@contoso.com", nil, []string{"b@fabrikam.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Data(strings.NewReader("hi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	sess := session(t, srv)
	if sess.TLS == nil || len(sess.Messages) != 1 || sess.Helo != "client.contoso.com" {
		t.Errorf("session = %+v", sess)
	}
}

func TestClientStartTLSRefused(t *testing.T) {
	cert := selfSigned(t, "mx.test.example")
	srv := &smtptest.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
			if cmd.Verb == "STARTTLS" {
				return smtp.Reply{Code: 454, Enhanced: "4.7.0", Lines: []string{"TLS not available"}}, true
			}
			return smtp.Reply{}, false
		},
	}
	srv.Start(t)
	c := dial(t, srv.Addr, smtp.ClientOptions{})
	c.Hello("client.contoso.com")
	_, err := c.StartTLS(&tls.Config{InsecureSkipVerify: true})
	var re *smtp.ReplyError
	if !errors.As(err, &re) || re.Command != "STARTTLS" || re.Reply.Code != 454 || !re.Temporary() || re.Permanent() {
		t.Fatalf("err = %#v", err)
	}
	// The session continues in plaintext.
	if _, err := c.Noop(); err != nil {
		t.Fatal(err)
	}
}

func TestClientStartTLSHandshakeFailure(t *testing.T) {
	cert := selfSigned(t, "mx.test.example")
	srv := &smtptest.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	srv.Start(t)
	c := dial(t, srv.Addr, smtp.ClientOptions{})
	c.Hello("client.contoso.com")
	// No roots: the self-signed server certificate fails verification.
	_, err := c.StartTLS(&tls.Config{ServerName: "mx.test.example", RootCAs: x509.NewCertPool()})
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v, want a certificate verification error", err)
	}
}

// scripted runs a raw server that writes each reply after reading one line,
// for byte-exact misbehaviour the test server will not produce.
func scripted(t *testing.T, banner string, replies ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.Write([]byte(banner))
		r := smtp.NewReader(conn)
		for _, rep := range replies {
			if _, err := r.ReadLine(0); err != nil {
				return
			}
			conn.Write([]byte(rep))
		}
		io.Copy(io.Discard, conn)
	}()
	return ln.Addr().String()
}

func TestClientRefusesInjectedResponse(t *testing.T) {
	// A man in the middle answers STARTTLS and appends a plaintext reply that
	// would be read as the first reply under TLS.
	addr := scripted(t, "220 mx ESMTP\r\n",
		"250-mx\r\n250 STARTTLS\r\n",
		"220 2.0.0 Go ahead\r\n250-mx\r\n250 AUTH PLAIN\r\n")
	c := dial(t, addr, smtp.ClientOptions{})
	if _, err := c.Hello("client.contoso.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); !errors.Is(err, smtp.ErrInjectedResponse) {
		t.Fatalf("err = %v, want ErrInjectedResponse", err)
	}
}

func TestClientBadGreeting(t *testing.T) {
	tests := []struct {
		banner string
		code   int
		err    error
	}{
		{"554 5.7.1 go away\r\n", 554, nil},
		{"421 4.3.2 busy\r\n", 421, nil},
		{"SSH-2.0-OpenSSH_9.2\r\n", 0, smtp.ErrBadReply},
	}
	for _, tt := range tests {
		addr := scripted(t, tt.banner)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := smtp.NewClient(conn, smtp.ClientOptions{})
		_, err = c.Greeting()
		c.Close()
		var re *smtp.ReplyError
		switch {
		case tt.err != nil && !errors.Is(err, tt.err):
			t.Errorf("%q: err = %v, want %v", tt.banner, err, tt.err)
		case tt.err == nil && (!errors.As(err, &re) || re.Reply.Code != tt.code || re.Command != "greeting"):
			t.Errorf("%q: err = %v, want reply %d", tt.banner, err, tt.code)
		}
	}
}

func TestClientPipelining(t *testing.T) {
	reject := func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		if cmd.Verb == "RCPT" && strings.Contains(cmd.Arg, "unknown") {
			return smtp.Reply{Code: 550, Enhanced: "5.1.1", Lines: []string{"User unknown"}}, true
		}
		return smtp.Reply{}, false
	}
	rcpts := []string{"a@fabrikam.com", "unknown@fabrikam.com", "b@fabrikam.com"}
	for _, pipelining := range []bool{true, false} {
		ext := []string{"ENHANCEDSTATUSCODES"}
		if pipelining {
			ext = append(ext, "PIPELINING")
		}
		srv := &smtptest.Server{Extensions: ext, Hook: reject}
		srv.Start(t)
		c := dial(t, srv.Addr, smtp.ClientOptions{})
		c.Hello("client.contoso.com")
		mail, rr, err := c.SendEnvelope("s@contoso.com", nil, rcpts)
		if err != nil || mail.Code != 250 || len(rr) != 3 {
			t.Fatalf("pipelining=%v: %+v %+v %v", pipelining, mail, rr, err)
		}
		if rr[0].Code != 250 || rr[1].Code != 550 || rr[1].Enhanced != "5.1.1" || rr[2].Code != 250 {
			t.Errorf("pipelining=%v: rcpt replies %+v", pipelining, rr)
		}
		c.Quit()
		sess := session(t, srv)
		// In a pipelined group every command but the last arrives with the
		// next one already buffered.
		wantPipelined := 0
		if pipelining {
			wantPipelined = 3
		}
		if len(sess.Pipelined) != wantPipelined {
			t.Errorf("pipelining=%v: pipelined lines %q", pipelining, sess.Pipelined)
		}
	}
}

func TestClientMailRefused(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		ext := []string{}
		if pipelining {
			ext = []string{"PIPELINING"}
		}
		srv := &smtptest.Server{Extensions: ext, Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
			switch cmd.Verb {
			case "MAIL":
				return smtp.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"Sender denied"}}, true
			case "RCPT":
				return smtp.Reply{Code: 503, Enhanced: "5.5.1", Lines: []string{"Need MAIL"}}, true
			}
			return smtp.Reply{}, false
		}}
		srv.Start(t)
		c := dial(t, srv.Addr, smtp.ClientOptions{})
		c.Hello("client.contoso.com")
		_, rr, err := c.SendEnvelope("s@contoso.com", nil, []string{"a@fabrikam.com"})
		var re *smtp.ReplyError
		if !errors.As(err, &re) || re.Command != "MAIL" || !re.Permanent() {
			t.Fatalf("pipelining=%v: err = %v", pipelining, err)
		}
		// Pipelined replies are all read, so the session stays usable.
		if pipelining && len(rr) != 1 {
			t.Errorf("rcpt replies %+v", rr)
		}
		if _, err := c.Noop(); err != nil {
			t.Errorf("pipelining=%v: session out of step: %v", pipelining, err)
		}
	}
}

func TestClientDataRefused(t *testing.T) {
	srv := &smtptest.Server{Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		if cmd.Verb == "DATA" {
			return smtp.Reply{Code: 452, Enhanced: "4.3.1", Lines: []string{"Insufficient system storage"}}, true
		}
		return smtp.Reply{}, false
	}}
	srv.Start(t)
	c := dial(t, srv.Addr, smtp.ClientOptions{})
	c.Hello("client.contoso.com")
	c.SendEnvelope("s@contoso.com", nil, []string{"a@fabrikam.com"})
	_, err := c.Data(strings.NewReader("x"))
	var re *smtp.ReplyError
	if !errors.As(err, &re) || re.Command != "DATA" || !re.Temporary() {
		t.Fatalf("err = %v", err)
	}
}

func TestClientClosedAbruptly(t *testing.T) {
	srv := &smtptest.Server{Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		if cmd.Verb == "MAIL" {
			return smtptest.Close, true
		}
		return smtp.Reply{}, false
	}}
	srv.Start(t)
	c := dial(t, srv.Addr, smtp.ClientOptions{})
	c.Hello("client.contoso.com")
	_, err := c.Mail("s@contoso.com", nil)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want io.EOF", err)
	}
}

func TestClientTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			accepted <- conn // never write a banner
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn, smtp.ClientOptions{Timeout: 50 * time.Millisecond})
	defer c.Close()
	_, err = c.Greeting()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if sc := <-accepted; sc != nil {
		sc.Close()
	}
}

func TestClientRefusesInjectionInArguments(t *testing.T) {
	srv := &smtptest.Server{}
	srv.Start(t)
	c := dial(t, srv.Addr, smtp.ClientOptions{})
	c.Hello("client.contoso.com")
	if _, err := c.Mail("a@b\r\nRCPT TO:<x@y>", nil); err == nil {
		t.Error("CRLF in MAIL address accepted")
	}
	if _, err := c.Mail("a@b", map[string]string{"SIZE": "1 X=2"}); err == nil {
		t.Error("space in parameter value accepted")
	}
	if _, err := c.Rcpt("x@y\n"); err == nil {
		t.Error("LF in RCPT address accepted")
	}
	if _, err := c.Rcpt(""); err == nil {
		t.Error("empty recipient accepted")
	}
	if _, err := c.Mail("", nil); err != nil {
		t.Errorf("null reverse-path refused: %v", err)
	}
}

func selfSigned(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
