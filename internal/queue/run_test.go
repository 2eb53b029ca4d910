package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// waitEvent returns the next event, failing the test if none comes.
func waitEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s: the scheduler is stuck")
		return Event{}
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRunLoopFollowsTheInjectedClock(t *testing.T) {
	clock := testkit.NewClock(t0)
	events := make(chan Event, 16)
	d := newScript(func(_ string, attempt int) Result {
		if attempt < 3 {
			return deferAll("", attempt)
		}
		return deliverAll("", attempt)
	})
	q := mustOpen(t, testOptions(t.TempDir(), clock, d, &recorder{ch: events}))

	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- q.Run(ctx) }()

	id := mustPut(t, q, sampleEnv("bob@fabrikam.com"), "x") // the Put kicks the loop
	if ev := waitEvent(t, events); ev.Kind != EventDefer || ev.Msg.ID != id {
		t.Fatalf("first event %s for %s", ev.Kind, ev.Msg.ID)
	}
	for _, wait := range []time.Duration{time.Minute, 5 * time.Minute} {
		// The loop now sleeps on a timer for the retry.
		if err := clock.WaitForTimers(testCtx(t), 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(wait - time.Second)
		select {
		case ev := <-events:
			t.Fatalf("%s %v before the retry was due", ev.Kind, time.Second)
		default:
		}
		clock.Advance(time.Second)
		ev := waitEvent(t, events)
		want := EventDefer
		if wait == 5*time.Minute {
			want = EventSend
		}
		if ev.Kind != want {
			t.Fatalf("after %v: event %s, want %s", wait, ev.Kind, want)
		}
		if !ev.Time.Equal(clock.Now()) {
			t.Fatalf("attempt at %v, want %v", ev.Time, clock.Now())
		}
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(q.List()) != 0 {
		t.Fatal("delivered message still queued")
	}
}

func TestRunRetryKicksLoop(t *testing.T) {
	clock := testkit.NewClock(t0)
	events := make(chan Event, 16)
	q := mustOpen(t, testOptions(t.TempDir(), clock, newScript(deferAll), &recorder{ch: events}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- q.Run(ctx) }()
	id := mustPut(t, q, sampleEnv("bob@fabrikam.com"), "x")
	waitEvent(t, events)
	if err := q.Retry(id); err != nil {
		t.Fatal(err)
	}
	// No clock movement: the kick alone makes the loop retry.
	if ev := waitEvent(t, events); ev.Kind != EventDefer {
		t.Fatalf("event %s", ev.Kind)
	}
	m, _ := q.Get(id)
	if m.Recipients[0].Attempts != 2 {
		t.Fatalf("attempts %d, want 2", m.Recipients[0].Attempts)
	}
	cancel()
	<-runErr
}

func TestRunRespectsConcurrency(t *testing.T) {
	const workers, msgs = 3, 7
	clock := testkit.NewClock(t0)
	d := newScript(deliverAll)
	d.invoked = make(chan struct{}, msgs)
	d.block = make(chan struct{})
	var inFlight, peak atomic.Int32
	counting := DelivererFunc(func(ctx context.Context, m *Message, body func() (ioReadCloser, error), r []string) []Result {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer inFlight.Add(-1)
		return d.Deliver(ctx, m, body, r)
	})
	events := make(chan Event, msgs)
	o := testOptions(t.TempDir(), clock, counting, &recorder{ch: events})
	o.Concurrency = workers
	q := mustOpen(t, o)
	for range msgs {
		mustPut(t, q, sampleEnv("bob@fabrikam.com"), "x")
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- q.Run(ctx) }()
	for range workers {
		<-d.invoked
	}
	select {
	case <-d.invoked:
		t.Fatalf("more than %d deliveries started at once", workers)
	default:
	}
	close(d.block)
	for range msgs {
		waitEvent(t, events)
	}
	cancel()
	<-runErr
	if p := peak.Load(); p != workers {
		t.Fatalf("peak concurrency %d, want %d", p, workers)
	}
}

func TestRunWaitsForInFlightOnShutdown(t *testing.T) {
	clock := testkit.NewClock(t0)
	var finished atomic.Bool
	started := make(chan struct{})
	d := DelivererFunc(func(ctx context.Context, m *Message, _ func() (ioReadCloser, error), r []string) []Result {
		close(started)
		<-ctx.Done() // a delivery that only ends on shutdown
		finished.Store(true)
		return []Result{{Rcpt: r[0], Outcome: outcome.Deferred, LastError: lasterror.New("451 4.4.0 shutting down")}}
	})
	dir := t.TempDir()
	q := mustOpen(t, testOptions(dir, clock, d, nil))
	id := mustPut(t, q, sampleEnv("bob@fabrikam.com"), "x")
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- q.Run(ctx) }()
	<-started
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if !finished.Load() {
		t.Fatal("Run returned while a delivery was still in flight")
	}
	// The interrupted attempt was recorded as a deferral.
	m, ok := q.Get(id)
	if !ok || m.Recipients[0].State != StateRetry || m.Recipients[0].LastError.String() != "451 4.4.0 shutting down" {
		t.Fatalf("after shutdown: %+v", m)
	}
}

func TestRunWithoutDeliverer(t *testing.T) {
	q := mustOpen(t, testOptions(t.TempDir(), testkit.NewClock(t0), nil, nil))
	if err := q.Run(context.Background()); err == nil {
		t.Fatal("Run without a Deliverer succeeded")
	}
	q.Close()
	q2 := mustOpen(t, testOptions(t.TempDir(), testkit.NewClock(t0), newScript(deliverAll), nil))
	q2.Close()
	if err := q2.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v", err)
	}
}

func TestOpenValidatesOptions(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
	}{
		{"no dir and no store", func(o *Options) {
			if o.Store != nil { // the PostgreSQL run
				o.Store.Close()
			}
			o.Dir, o.Store = "", nil
		}},
		{"jitter over 1", func(o *Options) { o.Jitter = 1.5 }},
		{"non-positive retry", func(o *Options) { o.Retry = []time.Duration{time.Minute, 0} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t.TempDir(), testkit.NewClock(t0), nil, nil)
			tc.edit(&o)
			if q, err := Open(o); err == nil {
				q.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}
