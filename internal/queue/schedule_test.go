package queue

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

func TestRetryScheduleWithJitter(t *testing.T) {
	retry := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}
	tests := []struct {
		name   string
		jitter float64
		rnd    float64
		factor float64 // expected multiplier of each interval
	}{
		{"no jitter", -1, 0.9, 1},
		{"lowest draw", 0.1, 0, 0.9},
		{"middle draw", 0.1, 0.5, 1},
		{"highest draw", 0.1, 0.999999, 1 + 0.1*(2*0.999999-1)},
		{"wide jitter", 0.5, 0.25, 0.75},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := testkit.NewClock(t0)
			d := newScript(deferAll)
			o := testOptions(t.TempDir(), clock, d, nil)
			o.Retry = retry
			o.Jitter = tc.jitter
			o.Rand = func() float64 { return tc.rnd }
			o.Expiry = 48 * time.Hour
			q := mustOpen(t, o)
			id := mustPut(t, q, sampleEnv("bob@fabrikam.com"), "x")

			// Attempts 1..7: the waits follow Retry, then the last repeats.
			for attempt := 1; attempt <= 7; attempt++ {
				if n := q.ProcessDue(context.Background()); n != 1 {
					t.Fatalf("attempt %d: ProcessDue = %d, want 1", attempt, n)
				}
				m, _ := q.Get(id)
				r := m.Recipients[0]
				if r.Attempts != attempt || r.State != StateRetry {
					t.Fatalf("attempt %d: recipient %+v", attempt, r)
				}
				base := retry[min(attempt-1, len(retry)-1)]
				want := time.Duration(float64(base) * tc.factor)
				wait := r.NextAttempt.Sub(r.LastAttempt)
				if wait != want {
					t.Fatalf("attempt %d: wait %v, want %v", attempt, wait, want)
				}
				j := max(tc.jitter, 0)
				lo, hi := time.Duration(float64(base)*(1-j)), time.Duration(float64(base)*(1+j))
				if wait < lo || wait > hi {
					t.Fatalf("attempt %d: wait %v outside jitter bounds [%v, %v]", attempt, wait, lo, hi)
				}
				// Not due a moment before, due exactly at NextAttempt.
				clock.Advance(wait - time.Nanosecond)
				if n := q.ProcessDue(context.Background()); n != 0 {
					t.Fatalf("attempt %d: retried %v early", attempt, time.Nanosecond)
				}
				clock.Advance(time.Nanosecond)
			}
		})
	}
}

func TestJitterSpreadsWithRealRandom(t *testing.T) {
	clock := testkit.NewClock(t0)
	o := testOptions(t.TempDir(), clock, newScript(deferAll), nil)
	o.Jitter = 0.2
	o.Rand = nil // the default source
	q := mustOpen(t, o)
	seen := map[time.Duration]bool{}
	for range 20 {
		mustPut(t, q, sampleEnv("bob@fabrikam.com"), "x")
	}
	q.ProcessDue(context.Background())
	for _, m := range q.List() {
		r := m.Recipients[0]
		wait := r.NextAttempt.Sub(r.LastAttempt)
		if wait < 48*time.Second || wait > 72*time.Second {
			t.Fatalf("wait %v outside 1m ±20%%", wait)
		}
		seen[wait] = true
	}
	if len(seen) < 2 {
		t.Fatalf("20 deferred messages all got the same wait %v: no jitter", seen)
	}
}

func TestPartialDelivery(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(t0)
	answers := map[string]Result{
		"ann@fabrikam.com": {Outcome: outcome.Delivered, Status: "250 2.0.0 Queued as 1234", Route: "Fabrikam", RemoteHost: "mx.fabrikam.com", RemoteIP: "127.0.0.2"},
		"ben@tailspin.com": {Outcome: outcome.Deferred, LastError: lasterror.New("451 4.4.0 Connection refused"), Route: "Internet"},
		"cat@fabrikam.com": {Outcome: outcome.Failed, LastError: lasterror.New("550 5.1.1 User unknown"), Route: "Fabrikam"},
	}
	d := newScript(func(rcpt string, _ int) Result { return answers[rcpt] })
	rec := &recorder{}
	q := mustOpen(t, testOptions(dir, clock, d, rec))
	id := mustPut(t, q, sampleEnv("ann@fabrikam.com", "ben@tailspin.com", "cat@fabrikam.com"), sampleBody("partial"))

	if n := q.ProcessDue(context.Background()); n != 1 {
		t.Fatalf("ProcessDue = %d", n)
	}
	m, ok := q.Get(id)
	if !ok {
		t.Fatal("message with a deferred recipient left the queue")
	}
	states := map[string]State{}
	for _, r := range m.Recipients {
		states[r.Addr] = r.State
	}
	want := map[string]State{"ann@fabrikam.com": StateDelivered, "ben@tailspin.com": StateRetry, "cat@fabrikam.com": StateFailed}
	if !reflect.DeepEqual(states, want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	if got := m.Recipients[2].LastError.String(); got != "550 5.1.1 User unknown" {
		t.Fatalf("LastError = %q", got)
	}
	if m.Recipients[0].Route != "Fabrikam" || m.Recipients[1].Route != "Internet" {
		t.Fatalf("routes not recorded: %+v", m.Recipients)
	}
	kinds := rec.Kinds()
	for _, k := range []string{"SEND ann@fabrikam.com", "DEFER ben@tailspin.com", "FAIL cat@fabrikam.com", "DSN alice@contoso.com"} {
		if !contains(kinds, k) {
			t.Errorf("events %v lack %q", kinds, k)
		}
	}

	// One DSN, about the failed recipient only.
	var dsnMsg *Message
	for _, x := range q.List() {
		if x.Env.IsDSN() {
			dsnMsg = &x
		}
	}
	if dsnMsg == nil || !reflect.DeepEqual(dsnMsg.Env.To, []string{"alice@contoso.com"}) {
		t.Fatalf("DSN to the sender not queued: %+v", q.List())
	}
	if ev := rec.Of(EventDSN); len(ev) != 1 || ev[0].RelatedID != id || ev[0].Msg.ID != dsnMsg.ID {
		t.Fatalf("DSN event %+v", ev)
	}
	report := parseDSN(t, dsnBody(t, q, dsnMsg.ID))
	if len(report.recipients) != 1 || report.recipients[0]["Final-Recipient"] != "rfc822; cat@fabrikam.com" {
		t.Fatalf("DSN recipients %v, want only cat@fabrikam.com", report.recipients)
	}
	if report.recipients[0]["Status"] != "5.1.1" {
		t.Fatalf("DSN status %q", report.recipients[0]["Status"])
	}

	// The state is durable: after a restart only ben is attempted.
	q.Close()
	d2 := newScript(deliverAll)
	q2 := mustOpen(t, testOptions(dir, clock, d2, nil))
	q2.Remove(dsnMsg.ID)
	clock.Advance(time.Minute)
	if n := q2.ProcessDue(context.Background()); n != 1 {
		t.Fatalf("ProcessDue after restart = %d", n)
	}
	if calls := d2.Calls(); !reflect.DeepEqual(calls, [][]string{{"ben@tailspin.com"}}) {
		t.Fatalf("after restart the deliverer got %v, want only ben", calls)
	}
	if _, ok := q2.Get(id); ok {
		t.Fatal("message with every recipient final is still queued")
	}
}

func TestLocalDeliveryIsReportedAsDeliver(t *testing.T) {
	rec := &recorder{}
	d := newScript(func(string, int) Result {
		return Result{Outcome: outcome.Delivered, Status: "250 2.0.0 stored", Local: true, Route: "Local"}
	})
	q := mustOpen(t, testOptions(t.TempDir(), testkit.NewClock(t0), d, rec))
	mustPut(t, q, sampleEnv("alice@contoso.com"), "x")
	q.ProcessDue(context.Background())
	if k := rec.Kinds(); !reflect.DeepEqual(k, []string{"DELIVER alice@contoso.com"}) {
		t.Fatalf("events %v", k)
	}
}

func TestNoDSNForNullSender(t *testing.T) {
	for _, from := range []string{"", "<>", " <> "} {
		t.Run("from="+from, func(t *testing.T) {
			rec := &recorder{}
			d := newScript(func(string, int) Result {
				return Result{Outcome: outcome.Failed, LastError: lasterror.New("550 5.1.1 User unknown")}
			})
			q := mustOpen(t, testOptions(t.TempDir(), testkit.NewClock(t0), d, rec))
			env := sampleEnv("bob@fabrikam.com")
			env.From = from
			mustPut(t, q, env, "bounce")
			q.ProcessDue(context.Background())
			if l := q.List(); len(l) != 0 {
				t.Fatalf("queue after a failed null-sender message: %+v (a DSN about a DSN?)", l)
			}
			if len(rec.Of(EventDSN)) != 0 || len(rec.Of(EventFail)) != 1 {
				t.Fatalf("events %v, want one FAIL and no DSN", rec.Kinds())
			}
		})
	}
}

func TestDSNForADSNFailureIsNeverSent(t *testing.T) {
	// The original fails, its DSN fails too: no third message.
	rec := &recorder{}
	d := newScript(func(string, int) Result {
		return Result{Outcome: outcome.Failed, LastError: lasterror.New("550 5.4.4 Unable to route")}
	})
	q := mustOpen(t, testOptions(t.TempDir(), testkit.NewClock(t0), d, rec))
	mustPut(t, q, sampleEnv("bob@fabrikam.com"), sampleBody("x"))
	q.ProcessDue(context.Background()) // original fails → DSN queued
	if len(q.List()) != 1 {
		t.Fatalf("want the DSN queued, got %v", q.List())
	}
	q.ProcessDue(context.Background()) // the DSN fails
	if l := q.List(); len(l) != 0 {
		t.Fatalf("queue not empty after the DSN failed: %+v", l)
	}
	if n := len(rec.Of(EventDSN)); n != 1 {
		t.Fatalf("%d DSN events, want 1", n)
	}
}

func TestRetryAndRemove(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(t0)
	rec := &recorder{}
	d := newScript(deferAll)
	q := mustOpen(t, testOptions(dir, clock, d, rec))
	a := mustPut(t, q, sampleEnv("bob@fabrikam.com"), "a")
	b := mustPut(t, q, sampleEnv("carol@fabrikam.com", "dan@fabrikam.com"), "b")
	if n := q.ProcessDue(context.Background()); n != 2 {
		t.Fatalf("first pass %d", n)
	}
	if n := q.ProcessDue(context.Background()); n != 0 {
		t.Fatalf("deferred messages retried at once: %d", n)
	}
	if err := q.Retry(a); err != nil {
		t.Fatal(err)
	}
	if n := q.ProcessDue(context.Background()); n != 1 {
		t.Fatalf("Retry(a): ProcessDue = %d, want 1", n)
	}
	if err := q.Retry(""); err != nil {
		t.Fatal(err)
	}
	if n := q.ProcessDue(context.Background()); n != 2 {
		t.Fatalf(`Retry(""): ProcessDue = %d, want 2`, n)
	}
	if err := q.Retry("0000000000000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Retry(unknown) = %v", err)
	}

	if err := q.Remove(b); err != nil {
		t.Fatal(err)
	}
	if _, ok := q.Get(b); ok {
		t.Fatal("removed message still listed")
	}
	if err := q.Remove(b); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove = %v", err)
	}
	rm := rec.Of(EventRemove)
	if len(rm) != 2 || rm[0].Rcpt != "carol@fabrikam.com" || rm[1].Rcpt != "dan@fabrikam.com" {
		t.Fatalf("REMOVE events %+v", rm)
	}
	if len(rec.Of(EventDSN)) != 0 {
		t.Fatal("Remove sent a DSN")
	}
	q.Close()
	q2 := mustOpen(t, testOptions(dir, clock, d, nil))
	if _, ok := q2.Get(b); ok {
		t.Fatal("removed message came back after restart")
	}
	if _, ok := q2.Get(a); !ok {
		t.Fatal("the other message was lost")
	}
}

func TestRemoveWhileInFlight(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(t0)
	d := newScript(deferAll)
	d.invoked = make(chan struct{}, 1)
	d.block = make(chan struct{})
	q := mustOpen(t, testOptions(dir, clock, d, nil))
	id := mustPut(t, q, sampleEnv("bob@fabrikam.com"), "x")
	done := make(chan int)
	go func() { done <- q.ProcessDue(context.Background()) }()
	<-d.invoked
	if err := q.Remove(id); err != nil {
		t.Fatal(err)
	}
	if _, ok := q.Get(id); ok {
		t.Fatal("message still visible after Remove")
	}
	close(d.block)
	<-done
	if _, ok := q.Get(id); ok {
		t.Fatal("the attempt put a removed message back")
	}
	q.Close()
	q2 := mustOpen(t, testOptions(dir, clock, d, nil))
	if len(q2.List()) != 0 {
		t.Fatalf("removed message recovered: %+v", q2.List())
	}
}

func TestDelivererMisbehaviour(t *testing.T) {
	tests := []struct {
		name    string
		d       Deliverer
		wantErr string
	}{
		{"panic", DelivererFunc(func(context.Context, *Message, func() (ioReadCloser, error), []string) []Result {
			panic("boom")
		}), "451 4.3.0 internal error in the delivery agent: boom"},
		{"no result", DelivererFunc(func(context.Context, *Message, func() (ioReadCloser, error), []string) []Result {
			return nil
		}), "451 4.4.0 the delivery agent returned no result for this recipient"},
		{"empty status", DelivererFunc(func(_ context.Context, _ *Message, _ func() (ioReadCloser, error), r []string) []Result {
			return []Result{{Rcpt: strings.ToUpper(r[0]), Outcome: outcome.Deferred}}
		}), "451 4.4.0 delivery deferred without a reason"},
		{"failure", DelivererFunc(func(_ context.Context, _ *Message, _ func() (ioReadCloser, error), r []string) []Result {
			return []Result{{Rcpt: r[0], Outcome: outcome.Deferred, LastError: lasterror.New("451 4.3.0 Local delivery failed")}}
		}), "451 4.3.0 Local delivery failed"},
		{"status only", DelivererFunc(func(_ context.Context, _ *Message, _ func() (ioReadCloser, error), r []string) []Result {
			return []Result{{Rcpt: r[0], Outcome: outcome.Deferred, Status: "452 4.2.2 Mailbox full"}}
		}), "452 4.2.2 Mailbox full"},
		{"multi-line reply", DelivererFunc(func(_ context.Context, _ *Message, _ func() (ioReadCloser, error), r []string) []Result {
			return []Result{{Rcpt: r[0], Outcome: outcome.Deferred, LastError: lasterror.New("421 4.3.2 Service\r\nnot available\n")}}
		}), "421 4.3.2 Service not available"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := mustOpen(t, testOptions(t.TempDir(), testkit.NewClock(t0), tc.d, nil))
			id := mustPut(t, q, sampleEnv("bob@fabrikam.com"), "x")
			q.ProcessDue(context.Background())
			m, ok := q.Get(id)
			if !ok {
				t.Fatal("message lost")
			}
			if r := m.Recipients[0]; r.State != StateRetry || r.LastError.String() != tc.wantErr {
				t.Fatalf("recipient %+v, want Retry with %q", r, tc.wantErr)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
