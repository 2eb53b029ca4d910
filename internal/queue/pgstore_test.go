package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mailflowhq/mailflow/internal/clock"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// TestPostgresStore checks what only a shared store does — leases,
// fencing, notifications, schema versions, an unreachable database —
// against one real PostgreSQL, a fresh database per subtest.
func TestPostgresStore(t *testing.T) {
	pg := testkit.StartPostgres(t)
	n := 0
	newDB := func(t *testing.T) string {
		n++
		return pg.CreateDatabase(t, fmt.Sprintf("store_%d", n))
	}
	open := func(t *testing.T, dsn, node string, log *slog.Logger) *PostgresStore {
		t.Helper()
		if log == nil {
			log = testkit.Logger(t)
		}
		s, err := OpenPostgresStore(context.Background(), PostgresOptions{DSN: dsn, Node: node, Logger: log, ConnectTimeout: 2 * time.Second})
		if err != nil {
			t.Fatalf("open store for %s: %v", node, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}

	t.Run("a paused node's late outcome is not recorded", func(t *testing.T) {
		dsn := newDB(t)
		// Node A's clock stands still (the process is paused: it neither
		// renews nor notices time); node B's moves past A's lease.
		clockA, clockB := testkit.NewClock(t0), testkit.NewClock(t0)
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		a := newScript(func(string, int) Result {
			return Result{Outcome: outcome.Failed, Status: "550 5.1.1 stale answer from the paused node"}
		})
		a.invoked, a.block = started, release
		recA, recB := &recorder{}, &recorder{}
		oa := testOptions("", clockA, a, recA)
		oa.Store = open(t, dsn, "node-a", nil)
		qa := mustOpen(t, oa)
		b := newScript(deliverAll)
		ob := testOptions("", clockB, b, recB)
		ob.Store = open(t, dsn, "node-b", nil)
		qb := mustOpen(t, ob)

		id := mustPut(t, qa, sampleEnv("bob@fabrikam.com"), sampleBody("fencing"))
		doneA := make(chan int)
		go func() { doneA <- qa.ProcessDue(context.Background()) }()
		<-started
		m, ok := qb.Get(id)
		if !ok || m.Lease.Holder != "node-a" {
			t.Fatalf("lease while A delivers = %+v (found %v), want holder node-a", m.Lease, ok)
		}
		if n := qb.ProcessDue(context.Background()); n != 0 {
			t.Fatalf("B attempted %d deliveries while A's lease was valid", n)
		}
		clockB.Advance(DefaultLease + time.Second)
		if n := qb.ProcessDue(context.Background()); n != 1 {
			t.Fatalf("B attempted %d deliveries after A's lease expired, want 1 (takeover)", n)
		}
		close(release)
		<-doneA
		if _, ok := qb.Get(id); ok {
			t.Fatal("message still queued: B's delivery was overwritten by A's stale outcome")
		}
		if got := recA.Kinds(); len(got) != 0 {
			t.Fatalf("paused node reported %v for an outcome it did not record", got)
		}
		if got := recB.Kinds(); len(got) != 1 || got[0] != "SEND bob@fabrikam.com" {
			t.Fatalf("B events = %v, want one SEND", got)
		}
		for _, ev := range recB.Of(EventSend) {
			if ev.Node != "node-b" {
				t.Fatalf("event node = %q, want node-b", ev.Node)
			}
		}
		if left := qb.List(); len(left) != 0 {
			t.Fatalf("queue not empty (a DSN from the stale failure?): %+v", left)
		}
	})

	t.Run("an idle node wakes on another node's message", func(t *testing.T) {
		dsn := newDB(t)
		delivered := make(chan string, 1)
		b := DelivererFunc(func(_ context.Context, m *Message, _ func() (ioReadCloser, error), rcpts []string) []Result {
			delivered <- m.ID
			return []Result{{Rcpt: rcpts[0], Outcome: outcome.Delivered, Status: "250 OK"}}
		})
		ob := testOptions("", nil, b, nil)
		ob.Clock = clock.System()
		ob.Store = open(t, dsn, "node-b", nil)
		qb := mustOpen(t, ob)
		ctx, cancel := context.WithCancel(context.Background())
		runDone := make(chan error)
		go func() { runDone <- qb.Run(ctx) }()
		defer func() { cancel(); <-runDone }()

		oa := testOptions("", nil, nil, nil)
		oa.Clock = clock.System()
		oa.Store = open(t, dsn, "node-a", nil)
		qa := mustOpen(t, oa) // never runs: only B can deliver
		start := time.Now()
		id := mustPut(t, qa, sampleEnv("bob@fabrikam.com"), "x")
		select {
		case got := <-delivered:
			if got != id {
				t.Fatalf("B delivered %s, want %s", got, id)
			}
		case <-time.After(DefaultLease / 2):
			t.Fatal("B did not pick up A's message before half a lease: the notification did not wake it")
		}
		t.Logf("B delivered A's message %v after the Put", time.Since(start))
	})

	t.Run("a spooled body is stored and read back in chunks", func(t *testing.T) {
		dsn := newDB(t)
		o := testOptions("", testkit.NewClock(t0), nil, nil)
		o.Store = open(t, dsn, "node-a", nil)
		o.SpoolDir = t.TempDir()
		q := mustOpen(t, o)
		content := bytes.Repeat([]byte("0123456789abcdef\r\n"), 150000) // 2.7 MB: three chunks
		body := spoolBody(t, q, content)
		id, err := q.PutBody(context.Background(), sampleEnv("bob@fabrikam.com"), body)
		if err != nil {
			t.Fatal(err)
		}
		if err := body.RemoveSpool(); err != nil {
			t.Fatal(err)
		}
		r, err := o.Store.Body(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("body read back: %d bytes (%v), want %d identical", len(got), err, len(content))
		}
		if err := q.Remove(id); err != nil {
			t.Fatal(err)
		}
		var chunks int
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM queue_bodies`).Scan(&chunks); err != nil || chunks != 0 {
			t.Fatalf("%d body chunks left after the message was removed (%v)", chunks, err)
		}
	})

	t.Run("a DSN that cannot be queued leaves the failure unrecorded until it can", func(t *testing.T) {
		dsn := newDB(t)
		clock := testkit.NewClock(t0)
		store := &dsnFaultStore{PostgresStore: open(t, dsn, "node-a", nil)}
		rec := &recorder{}
		d := newScript(func(string, int) Result { return Result{Outcome: outcome.Failed, Status: "550 5.1.1 no such user"} })
		o := testOptions("", clock, d, rec)
		o.Store = store
		q := mustOpen(t, o)
		id := mustPut(t, q, sampleEnv("bob@fabrikam.com"), sampleBody("dsn"))
		store.failPut.Store(true) // the DSN's Put will fail
		if n := q.ProcessDue(context.Background()); n != 1 {
			t.Fatalf("attempts = %d, want 1", n)
		}
		if got := rec.Kinds(); len(got) != 0 {
			t.Fatalf("events %v reported for a failure whose DSN was not queued", got)
		}
		m, ok := q.Get(id)
		if !ok || m.Recipients[0].State != StateReady || len(q.List()) != 1 {
			t.Fatalf("message after the failed DSN: %+v (found %v); want it pending, alone in the queue", m, ok)
		}
		store.failPut.Store(false)
		clock.Advance(DefaultLease + time.Second) // the lease lapses
		if n := q.ProcessDue(context.Background()); n != 1 {
			t.Fatalf("attempts after the lease lapsed = %d, want 1", n)
		}
		if got := rec.Kinds(); len(got) != 2 || got[0] != "FAIL bob@fabrikam.com" || !strings.HasPrefix(got[1], "DSN ") {
			t.Fatalf("events = %v, want FAIL then DSN", got)
		}
	})

	t.Run("a newer schema is refused", func(t *testing.T) {
		dsn := newDB(t)
		open(t, dsn, "node-a", nil).Close()
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(context.Background(), `UPDATE mailflow_schema SET version = version + 1 WHERE component = 'queue'`); err != nil {
			t.Fatal(err)
		}
		conn.Close(context.Background())
		_, err = OpenPostgresStore(context.Background(), PostgresOptions{DSN: dsn, Node: "old"})
		if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "Fix: upgrade mailflow") {
			t.Fatalf("open on a newer schema: %v, want ErrSchemaTooNew with a fix", err)
		}
	})

	t.Run("database down: temporary failures, one log line each way, outcomes recorded on return", func(t *testing.T) {
		dsn := newDB(t)
		var logs logBuffer
		clock := testkit.NewClock(t0)
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		d := newScript(deliverAll)
		d.invoked, d.block = started, release
		o := testOptions("", clock, d, nil)
		o.Store = open(t, dsn, "node-a", logs.Logger())
		q := mustOpen(t, o)
		inflight := mustPut(t, q, sampleEnv("bob@fabrikam.com"), "in flight")
		done := make(chan int)
		go func() { done <- q.ProcessDue(context.Background()) }()
		<-started

		if err := pg.Stop("immediate"); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			_, err := q.Put(context.Background(), sampleEnv("carol@fabrikam.com"), []byte("refused"))
			if !errors.Is(err, ErrStorage) || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Put %d with the database down: %v, want ErrStorage and ErrUnavailable (a temporary failure)", i, err)
			}
		}
		close(release) // the delivery finishes while the database is down
		var settled atomic.Bool
		go func() { <-done; settled.Store(true) }()
		if got := strings.Count(logs.String(), "queue database unreachable"); got != 1 {
			t.Fatalf("%d 'unreachable' log lines, want exactly 1:\n%s", got, logs.String())
		}
		if err := pg.Start(); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 30*time.Second, "the in-flight outcome recorded after the database returned", settled.Load)
		if _, ok := q.Get(inflight); ok {
			t.Fatal("delivered message still queued after the database returned")
		}
		testkit.Eventually(t, 30*time.Second, "Put accepted again", func() bool {
			_, err := q.Put(context.Background(), sampleEnv("dave@fabrikam.com"), []byte("after"))
			return err == nil
		})
		if got := strings.Count(logs.String(), "queue database unreachable"); got != 1 {
			t.Fatalf("%d 'unreachable' log lines over the whole outage, want 1:\n%s", got, logs.String())
		}
		if got := strings.Count(logs.String(), "queue database reachable again"); got != 1 {
			t.Fatalf("%d 'reachable again' log lines, want 1:\n%s", got, logs.String())
		}
		if left := q.List(); len(left) != 1 || left[0].Env.To[0] != "dave@fabrikam.com" {
			t.Fatalf("queue after the outage = %+v, want only the message accepted after it", left)
		}
	})
}

// dsnFaultStore fails Put (as an unreachable database would) while failPut
// is set.
type dsnFaultStore struct {
	*PostgresStore
	failPut atomic.Bool
}

func (s *dsnFaultStore) Put(ctx context.Context, m *Message, body Body) error {
	if s.failPut.Load() {
		return fmt.Errorf("store message %s: %w", m.ID, ErrUnavailable)
	}
	return s.PostgresStore.Put(ctx, m, body)
}
