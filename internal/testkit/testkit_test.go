package testkit_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2017, 4, 14, 17, 0, 0, 0, time.UTC)
	c := testkit.NewClock(t0)
	if !c.Now().Equal(t0) {
		t.Fatalf("Now = %v, want %v", c.Now(), t0)
	}
	c.Advance(90 * time.Minute)
	if want := t0.Add(90 * time.Minute); !c.Now().Equal(want) {
		t.Fatalf("after Advance Now = %v, want %v", c.Now(), want)
	}
	c.Set(t0.Add(-time.Hour))
	if want := t0.Add(-time.Hour); !c.Now().Equal(want) {
		t.Fatalf("after Set Now = %v, want %v", c.Now(), want)
	}
}

// Timers fire when the clock is moved to or past their deadline, at once
// for a non-positive duration, and never once stopped.
func TestClockTimers(t *testing.T) {
	t0 := time.Date(2017, 4, 14, 17, 0, 0, 0, time.UTC)
	c := testkit.NewClock(t0)
	a := c.NewTimer(time.Minute)
	b := c.NewTimer(time.Hour)
	now := c.NewTimer(0)
	select {
	case <-now.C():
	default:
		t.Fatal("a zero-duration timer did not fire at once")
	}
	if c.Timers() != 2 {
		t.Fatalf("Timers() = %d", c.Timers())
	}
	c.Advance(59 * time.Second)
	select {
	case <-a.C():
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Second)
	if got := <-a.C(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("fired with %v", got)
	}
	if a.Stop() {
		t.Fatal("Stop of a fired timer reported true")
	}
	if !b.Stop() || c.Timers() != 0 {
		t.Fatal("Stop of a pending timer failed")
	}
	c.Set(t0.Add(2 * time.Hour))
	select {
	case <-b.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WaitForTimers(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitForTimers = %v", err)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the calling goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// poll runs Poll on a recorder and returns what it reported (empty when
// Poll returned).
func poll(within time.Duration, check func() (bool, string)) string {
	r := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testkit.Poll(r, within, "the thing", check)
	}()
	<-done
	return r.msg
}

func TestPoll(t *testing.T) {
	tests := []struct {
		name    string
		within  time.Duration
		doneAt  int // the call that reports done; 0: never
		wantMsg string
	}{
		{"done at once", 0, 1, ""},
		{"done on the third look", time.Minute, 3, ""},
		{"deadline with the last observation", 0, 0, "waited 0s for the thing; last observation: look 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			msg := poll(tc.within, func() (bool, string) {
				calls++
				return calls == tc.doneAt, fmt.Sprintf("look %d", calls)
			})
			if msg != tc.wantMsg {
				t.Fatalf("Poll reported %q, want %q", msg, tc.wantMsg)
			}
			if tc.doneAt > 0 && calls != tc.doneAt {
				t.Fatalf("check called %d times, want %d", calls, tc.doneAt)
			}
		})
	}
}

func TestEventuallyReportsWhatItWaitedFor(t *testing.T) {
	r := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testkit.Eventually(r, 0, "the queue to empty", func() bool { return false })
	}()
	<-done
	if r.msg != "waited 0s for the queue to empty" {
		t.Fatalf("Eventually reported %q", r.msg)
	}
}

// The session does STARTTLS, records the presented certificate and runs a
// transaction the server receives as sent.
func TestSessionOverSTARTTLS(t *testing.T) {
	cert, err := certs.Generate(certs.Template{Subject: "CN=mx.test.example", SANs: []string{"mx.test.example"}, KeyType: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	srv := &smtptest.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert.TLS()}}}
	srv.Start(t)

	if tp := testkit.Presented(t, srv.Addr); tp != cert.Thumbprint {
		t.Fatalf("Presented = %s, want %s", tp, cert.Thumbprint)
	}
	s, err := testkit.DialTLS(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if s.Thumbprint != cert.Thumbprint {
		t.Fatalf("Thumbprint = %s, want %s", s.Thumbprint, cert.Thumbprint)
	}
	code, err := s.Send("a@test.example", "b@test.example", "Subject: hi\r\n\r\nhello\r\n")
	if err != nil || code != 250 {
		t.Fatalf("Send = %d %v, want 250", code, err)
	}
	s.Quit()

	// Both sessions end; the one that carried the message is checked.
	var sent *smtptest.Session
	for range 2 {
		select {
		case sess := <-srv.Sessions():
			if sess.TLS == nil || sess.Helo != testkit.ClientName {
				t.Fatalf("server saw a session with TLS %v and EHLO %q", sess.TLS != nil, sess.Helo)
			}
			if len(sess.Messages) > 0 {
				sent = sess
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not report both sessions")
		}
	}
	if sent == nil || len(sent.Messages) != 1 {
		t.Fatal("the server received no message")
	}
	m := sent.Messages[0]
	if m.From != "a@test.example" || len(m.Rcpts) != 1 || m.Rcpts[0] != "b@test.example" || !strings.Contains(m.Body, "hello") {
		t.Fatalf("server received %+v", m)
	}
}

func TestDialReportsARefusedGreeting(t *testing.T) {
	srv := &smtptest.Server{Banner: &smtp.Reply{Code: 554, Lines: []string{"no service here"}}}
	srv.Start(t)
	if _, err := testkit.Dial(srv.Addr); err == nil || !strings.Contains(err.Error(), "greeting") {
		t.Fatalf("Dial = %v, want a greeting error", err)
	}
}
