package queue

import (
	"context"
	"errors"
	"time"
)

// maxClaim bounds one claim by ProcessDue.
const maxClaim = 10000

// claimRetry is how soon the scheduler tries again after a claim failed
// (the database unreachable) or found due work it could not take (rows
// locked by another node's claim at that instant).
const claimRetry = time.Second

// claimDue leases up to free due messages from the shared store and returns
// them in flight, with the time the loop should look again: the store's
// next due time, but at least once per lease, so that leases of a node that
// died are taken over without a notification.
func (q *Queue) claimDue(ctx context.Context, now time.Time, free int) (batch []*entry, next time.Time) {
	next = now.Add(q.shared.Lease())
	if free <= 0 {
		return nil, time.Time{} // a finished delivery kicks the loop
	}
	msgs, err := q.shared.Claim(ctx, now, free)
	if err != nil {
		if ctx.Err() == nil {
			q.log.Debug("claim due messages", "err", err)
		}
		return nil, now.Add(claimRetry)
	}
	q.mu.Lock()
	for _, m := range msgs {
		e := &entry{m: m, inflight: true, index: -1}
		q.msgs[m.ID] = e
		q.running++
		batch = append(batch, e)
	}
	q.mu.Unlock()
	if len(msgs) == free {
		return batch, time.Time{} // at capacity
	}
	if due, ok, err := q.shared.NextDue(ctx); err == nil && ok {
		if !due.After(now) {
			due = now.Add(claimRetry)
		}
		if due.Before(next) {
			next = due
		}
	}
	return batch, next
}

// wakeups is the shared store's notification channel, or nil (never ready).
func (q *Queue) wakeups() <-chan struct{} {
	if q.shared == nil {
		return nil
	}
	return q.shared.Wakeups()
}

// keepLease renews the lease of a claimed message every third of the lease
// while its delivery runs; the returned function stops it.
func (q *Queue) keepLease(m *Message) (stop func()) {
	if q.shared == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		lease := q.shared.Lease()
		for {
			t := q.clock.NewTimer(lease / 3)
			select {
			case <-done:
				t.Stop()
				return
			case <-t.C():
			}
			err := q.shared.Renew(context.Background(), m, q.clock.Now().Add(lease))
			if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrNotFound) {
				q.log.Warn("lease lost during delivery; its outcome will not be recorded", "id", m.ID, "err", err)
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// stillHeld checks, before a DSN is queued for an outcome, that this node
// still holds the message's lease, so that a node paused past its lease
// does not send a DSN for an outcome another node has replaced. The final
// write (Settle) is fenced again.
func (q *Queue) stillHeld(ctx context.Context, m *Message) bool {
	err := q.shared.Renew(ctx, m, q.clock.Now().Add(q.shared.Lease()))
	if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrNotFound) {
		q.log.Warn("outcome not recorded: the message was taken over or removed meanwhile", "id", m.ID, "err", err)
		return false
	}
	// Unreachable database: go on; Settle waits for it and is fenced.
	return true
}
