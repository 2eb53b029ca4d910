package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailflowhq/mailflow/internal/clock"
	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
)

// Run is the scheduler loop: it starts deliveries of due messages, up to
// Concurrency at a time, then sleeps on the clock's timer until the next
// due time, a new message, a Retry or a finished delivery. It returns nil
// when ctx ends, after the deliveries in flight have returned (they see
// the cancelled ctx and should come back Deferred).
func (q *Queue) Run(ctx context.Context) error {
	if q.deliverer == nil {
		return errors.New("run queue: no Deliverer configured")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		now := q.clock.Now()
		var batch []*entry
		var next time.Time
		if q.shared != nil {
			free := q.workers - q.running
			q.mu.Unlock()
			batch, next = q.claimDue(ctx, now, free)
		} else {
			batch = q.takeDue(now, q.workers-q.running)
			if q.running < q.workers && len(q.due) > 0 {
				next = q.due[0].dueAt
			}
			q.mu.Unlock()
		}

		for _, e := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q.attempt(ctx, e)
				q.wake()
			}()
		}

		var timer clock.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = q.clock.NewTimer(next.Sub(now))
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case <-q.kick:
		case <-fire:
		case <-q.wakeups():
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// ProcessDue synchronously attempts every message due now, Concurrency at
// a time, and returns the number of delivery attempts made (calls to the
// Deliverer; expiries are processed but not counted). No goroutine
// outlives the call. DSNs queued during the call are due at once but are
// left for the next call. Do not run it concurrently with Run.
func (q *Queue) ProcessDue(ctx context.Context) int {
	if q.deliverer == nil {
		q.log.Error("process queue: no Deliverer configured")
		return 0
	}
	var batch []*entry
	if q.shared != nil {
		batch, _ = q.claimDue(ctx, q.clock.Now(), maxClaim)
	} else {
		q.mu.Lock()
		batch = q.takeDue(q.clock.Now(), len(q.due))
		q.mu.Unlock()
	}

	var attempts atomic.Int64
	work := make(chan *entry)
	var wg sync.WaitGroup
	for range min(q.workers, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				if q.attempt(ctx, e) {
					attempts.Add(1)
				}
			}
		}()
	}
	for _, e := range batch {
		work <- e
	}
	close(work)
	wg.Wait()
	return int(attempts.Load())
}

// takeDue pops up to limit entries due at now and marks them in flight.
// Caller holds q.mu.
func (q *Queue) takeDue(now time.Time, limit int) []*entry {
	var out []*entry
	for len(out) < limit && len(q.due) > 0 && !q.due[0].dueAt.After(now) {
		e := q.due[0]
		q.unschedule(e)
		e.inflight = true
		q.running++
		out = append(out, e)
	}
	return out
}

// attempt runs one delivery attempt (or the expiry) of a message taken by
// takeDue, persists the outcome, queues a DSN for new permanent failures
// and reports events once all of that is durable. It reports whether the
// Deliverer was called.
func (q *Queue) attempt(ctx context.Context, e *entry) (called bool) {
	// Durable bookkeeping must finish even when ctx is being cancelled.
	persistCtx := context.WithoutCancel(ctx)
	if q.shared != nil {
		// A shared store's Settle waits for an unreachable database; at
		// shutdown it waits one lease more, then gives up (the lease
		// lapses and another node repeats the attempt).
		var cancel context.CancelFunc
		persistCtx, cancel = context.WithCancel(persistCtx)
		defer cancel()
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(q.shared.Lease(), cancel) })
		defer stop()
	}

	q.mu.Lock()
	now := q.clock.Now()
	if e.removed {
		q.mu.Unlock()
		q.finish(persistCtx, e, true)
		return false
	}
	snap := e.m.Clone()
	expired := !now.Before(e.m.Expires)
	var rcpts []string
	if !expired {
		for _, r := range e.m.Recipients {
			if r.State.Pending() && !r.NextAttempt.After(now) {
				rcpts = append(rcpts, r.Addr)
			}
		}
	}
	q.mu.Unlock()

	var results []Result
	if !expired && len(rcpts) > 0 {
		called = true
		stop := q.keepLease(snap)
		results = q.deliver(ctx, snap, rcpts)
		stop()
	}

	q.mu.Lock()
	now = q.clock.Now()
	var events []Event
	var failed []Recipient
	if expired {
		events, failed = q.expireLocked(e.m, now)
	} else {
		events, failed = q.applyLocked(e.m, rcpts, results, now)
	}
	final := len(e.m.Pending()) == 0
	after := e.m.Clone()
	q.mu.Unlock()

	if q.shared != nil && len(failed) > 0 && !q.stillHeld(persistCtx, after) {
		q.finish(persistCtx, e, true)
		return called
	}

	var related []Event
	if len(failed) > 0 {
		ev, ok := q.queueDSN(persistCtx, after, failed, now)
		if ok {
			related = append(related, ev)
		}
		if !ok && q.shared != nil && !after.Env.IsDSN() {
			// The DSN could not be queued (database unreachable): leave
			// the outcome unrecorded; the lease lapses and the attempt
			// is repeated — a duplicate attempt, never a lost notice.
			q.log.Error("outcome not recorded: its DSN could not be queued; the message will be attempted again", "id", after.ID)
			q.finish(persistCtx, e, true)
			return called
		}
	}

	var err error
	switch {
	case q.shared != nil:
		err = q.shared.Settle(persistCtx, after, final)
		if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrNotFound) {
			q.log.Warn("outcome not recorded: the message was taken over or removed meanwhile", "id", after.ID, "err", err)
			q.finish(persistCtx, e, true)
			return called
		}
	case final:
		err = q.store.Delete(persistCtx, after.ID)
	case len(events) > 0:
		err = q.store.Update(persistCtx, after)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		// Memory is ahead of disk: after a restart the older state is
		// recovered and the attempt repeated (a duplicate, not a loss).
		q.log.Error("persist queue state", "id", after.ID, "final", final, "err", err)
	}
	q.finish(persistCtx, e, final)

	for _, ev := range events {
		ev.Msg = after
		q.emit(ev)
	}
	for _, ev := range related {
		q.emit(ev)
	}
	return called
}

// finish ends an attempt: the entry leaves flight and is rescheduled, or
// dropped when it is final or was removed meanwhile.
func (q *Queue) finish(ctx context.Context, e *entry, final bool) {
	q.mu.Lock()
	e.inflight = false
	q.running--
	removed := e.removed
	if q.shared != nil {
		// The shared store keeps the schedule; Remove already deleted it.
		delete(q.msgs, e.m.ID)
		q.mu.Unlock()
		return
	}
	if final || removed {
		delete(q.msgs, e.m.ID)
	} else {
		q.schedule(e)
	}
	q.mu.Unlock()
	if removed {
		if err := q.store.Delete(ctx, e.m.ID); err != nil {
			q.log.Error("delete removed message", "id", e.m.ID, "err", err)
		}
	}
}

// deliver calls the Deliverer, turning a panic into a deferral so that one
// bad message cannot stop the scheduler.
func (q *Queue) deliver(ctx context.Context, m *Message, rcpts []string) (results []Result) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("delivery agent panicked; recipients deferred", "id", m.ID, "panic", r)
			results = nil
			for _, rcpt := range rcpts {
				results = append(results, Result{Rcpt: rcpt, Outcome: outcome.Deferred,
					LastError: lasterror.Local(451, "4.3.0", fmt.Sprintf("internal error in the delivery agent: %v", r))})
			}
		}
	}()
	body := func() (io.ReadCloser, error) { return q.store.Body(ctx, m.ID) }
	return q.deliverer.Deliver(ctx, m, body, rcpts)
}

// applyLocked records the results of an attempt on m. Caller holds q.mu.
func (q *Queue) applyLocked(m *Message, rcpts []string, results []Result, now time.Time) (events []Event, failed []Recipient) {
	byRcpt := make(map[string]Result, len(results))
	for _, r := range results {
		byRcpt[strings.ToLower(strings.TrimSpace(r.Rcpt))] = r
	}
	attempted := make(map[string]bool, len(rcpts))
	for _, a := range rcpts {
		attempted[a] = true
	}
	// One jitter sample per attempt keeps recipients deferred together on
	// the same schedule (they are retried in one connection).
	spread := q.spread()
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if !attempted[r.Addr] {
			continue
		}
		res, ok := byRcpt[strings.ToLower(r.Addr)]
		if !ok {
			res = Result{Outcome: outcome.Deferred, LastError: lasterror.Local(451, "4.4.0", "the delivery agent returned no result for this recipient")}
		}
		res.Rcpt = r.Addr
		r.Attempts++
		r.LastAttempt = now
		if res.Route != "" {
			r.Route = res.Route
		}
		ev := Event{Rcpt: r.Addr, Result: res, Time: now}
		switch res.Outcome {
		case outcome.Delivered:
			r.State = StateDelivered
			r.LastError = nil
			ev.Kind = EventSend
			if res.Local {
				ev.Kind = EventDeliver
			}
		case outcome.Failed:
			r.State = StateFailed
			r.LastError = lastError(res, 550, "5.0.0", "delivery failed without a reason")
			ev.Result.LastError = r.LastError
			ev.Kind = EventFail
			failed = append(failed, *r)
			q.log.Warn("delivery failed", "id", m.ID, "rcpt", r.Addr, "error", r.LastError)
		default:
			r.State = StateRetry
			r.LastError = lastError(res, 451, "4.4.0", "delivery deferred without a reason")
			ev.Result.LastError = r.LastError
			r.NextAttempt = now.Add(q.backoff(r.Attempts, spread))
			ev.Kind = EventDefer
			q.log.Info("delivery deferred", "id", m.ID, "rcpt", r.Addr, "error", r.LastError, "next_attempt", r.NextAttempt)
		}
		events = append(events, ev)
	}
	return events, failed
}

// The status of a recipient whose message expired, as Exchange words it:
// 550 4.4.7 QUEUE.Expired; message expired.
const (
	expiredCode     = 550
	expiredEnhanced = "4.4.7"
	ExpiredText     = "QUEUE.Expired; message expired"
)

// expireLocked fails every pending recipient of an expired message,
// keeping the last error inside the new one as its cause. Caller holds q.mu.
func (q *Queue) expireLocked(m *Message, now time.Time) (events []Event, failed []Recipient) {
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if !r.State.Pending() {
			continue
		}
		exp := lasterror.Local(expiredCode, expiredEnhanced, ExpiredText)
		if r.LastError != nil {
			cause := *r.LastError
			if cause.Time.IsZero() {
				cause.Time = r.LastAttempt
			}
			exp.Cause = &cause
		}
		r.State = StateFailed
		r.LastError = exp
		failed = append(failed, *r)
		events = append(events, Event{Kind: EventExpire, Rcpt: r.Addr, Time: now,
			Result: Result{Rcpt: r.Addr, Outcome: outcome.Failed, LastError: exp, Route: r.Route}})
		q.log.Warn("message expired", "id", m.ID, "rcpt", r.Addr, "error", r.LastError)
	}
	return events, failed
}

// spread draws the jitter factor for one attempt, in [1-J, 1+J].
func (q *Queue) spread() float64 {
	if q.jitter == 0 {
		return 1
	}
	return 1 + q.jitter*(2*q.rand()-1)
}

// backoff is the wait after the n-th attempt (n ≥ 1): Retry[n-1], the last
// interval repeating, scaled by the jitter factor.
func (q *Queue) backoff(n int, spread float64) time.Duration {
	i := min(max(n-1, 0), len(q.retry)-1)
	return time.Duration(float64(q.retry[i]) * spread)
}

// lastError is the failure the queue keeps for a recipient: the result's
// own (or, without one, the reply in Status) with each field on one line
// (multi-line replies folded, control characters dropped), or
// code/enhanced/text when the deliverer gave neither (its codes go in front
// of a failure that has none).
func lastError(r Result, code int, enhanced, text string) *lasterror.Record {
	var f lasterror.Record
	switch {
	case r.LastError != nil:
		f = *r.LastError
	case r.Status != "":
		f = *lasterror.New(oneLine(r.Status)) // a bare reply line
	default:
		return lasterror.Local(code, enhanced, text)
	}
	f.Status, f.Message, f.Reason, f.Host, f.IP = oneLine(f.Status), oneLine(f.Message), oneLine(f.Reason), oneLine(f.Host), oneLine(f.IP)
	f.Text = oneLine(f.Text)
	if f.Code == 0 && f.Text == "" {
		if f.Status == "" {
			f.Status = text
		}
		local := lasterror.Local(code, enhanced, f.Status)
		f.Code, f.Enhanced, f.Status = local.Code, local.Enhanced, local.Status
	}
	return &f
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
}
