package queue

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// script is a Deliverer whose answer per recipient is set by the test; it
// records every call.
type script struct {
	mu      sync.Mutex
	answer  func(rcpt string, attempt int) Result
	calls   [][]string
	bodies  map[string][]byte // last body read, by message id
	counts  map[string]int
	invoked chan struct{} // optional: signalled at the start of each call
	block   chan struct{} // optional: Deliver waits on it (or ctx)
}

func newScript(answer func(rcpt string, attempt int) Result) *script {
	return &script{answer: answer, bodies: map[string][]byte{}, counts: map[string]int{}}
}

func (s *script) Deliver(ctx context.Context, m *Message, body func() (io.ReadCloser, error), rcpts []string) []Result {
	if s.invoked != nil {
		s.invoked <- struct{}{}
	}
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
		}
	}
	rc, err := body()
	var b []byte
	if err == nil {
		b, _ = io.ReadAll(rc)
		rc.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, append([]string(nil), rcpts...))
	s.bodies[m.ID] = b
	var out []Result
	for _, r := range rcpts {
		s.counts[r]++
		res := s.answer(r, s.counts[r])
		res.Rcpt = r
		out = append(out, res)
	}
	return out
}

func (s *script) Calls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.calls...)
}

func (s *script) Body(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[id]
}

func deferAll(string, int) Result {
	return Result{Outcome: outcome.Deferred, LastError: lasterror.New("450 4.7.320 Certificate validation failed [Message=SubjectMismatch]")}
}

func deliverAll(string, int) Result {
	return Result{Outcome: outcome.Delivered, Status: "250 2.0.0 OK"}
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []Event
	ch     chan Event // optional
}

func (r *recorder) Observe(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	if r.ch != nil {
		r.ch <- ev
	}
}

func (r *recorder) Kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Kind+" "+e.Rcpt)
	}
	return out
}

func (r *recorder) Of(kind string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// logBuffer is a goroutine-safe slog sink for assertions on logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testOptions(dir string, clock *testkit.Clock, d Deliverer, obs Observer) Options {
	var store Store
	if pgSuiteDSN != "" && dir != "" {
		store = openSuiteStore(dir)
	}
	return Options{
		Store:      store,
		CloseStore: store != nil,
		Dir:        dir,
		Clock:      clock,
		Jitter:     -1,
		Deliverer:  d,
		Observer:   obs,
		ServerFQDN: "mail.contoso.com",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func mustOpen(t *testing.T, o Options) *Queue {
	t.Helper()
	q, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func mustPut(t *testing.T, q *Queue, env Envelope, body string) string {
	t.Helper()
	id, err := q.Put(context.Background(), env, []byte(body))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return id
}

func sampleBody(subject string) string {
	return strings.Join([]string{
		"From: Alice <alice@contoso.com>",
		"To: bob@fabrikam.com",
		"Subject: " + subject,
		"Message-ID: <orig-1@contoso.com>",
		"Date: Mon, 02 Mar 2026 09:00:00 +0000",
		"",
		"Hello Bob.",
		"",
	}, "\r\n")
}

func sampleEnv(to ...string) Envelope {
	return Envelope{
		From:        "alice@contoso.com",
		To:          to,
		ReceivedAt:  t0,
		RemoteAddr:  "127.0.0.1:40000",
		HeloName:    "client.contoso.com",
		ConnectorID: `SERVER1\Default Frontend SERVER1`,
		TLS:         true,
		MessageID:   "<orig-1@contoso.com>",
		Subject:     "Quarterly report",
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

type ioReadCloser = io.ReadCloser
