package queue

import (
	"context"
	"errors"
	"time"
)

// SharedStore is a Store that several nodes use at once (PostgreSQL). With
// one, the queue keeps no index of its own: the store is the schedule. A
// node claims due messages with a lease (Claim), renews the lease while the
// delivery runs (Renew) and records the outcome with Settle, which is
// fenced: it succeeds only while the claim it was made under is still the
// latest, so a node that was paused past its lease and whose message was
// taken over cannot overwrite the newer outcome (ErrLeaseLost).
type SharedStore interface {
	Store
	// Node is this node's name, recorded as the lease holder.
	Node() string
	// Claim leases up to n messages due at now whose lease is free or
	// expired, until now+lease, and returns them with their claim.
	Claim(ctx context.Context, now time.Time, n int) ([]*Message, error)
	// Renew extends the lease of a claimed message to until.
	Renew(ctx context.Context, m *Message, until time.Time) error
	// Settle records the state of a claimed message (or deletes it when
	// final) and releases its lease. It retries while the database is
	// unreachable, until ctx ends.
	Settle(ctx context.Context, m *Message, final bool) error
	// Get returns one message with its lease holder.
	Get(ctx context.Context, id string) (*Message, error)
	// List returns every message with its lease holder, oldest first.
	List(ctx context.Context) ([]*Message, error)
	// Retry makes the pending recipients of message id ("" = every
	// message) due at now, except for messages leased at the moment (their
	// attempt is in progress); it returns how many messages it found.
	Retry(ctx context.Context, id string, now time.Time) (int, error)
	// NextDue is the earliest time a message becomes claimable (due, and
	// its lease free or expired); ok is false when the queue is empty.
	NextDue(ctx context.Context) (next time.Time, ok bool, err error)
	// Wakeups signals when another node queued or released work.
	Wakeups() <-chan struct{}
	// Lease is the lease length.
	Lease() time.Duration
}

// ErrLeaseLost is returned by Settle and Renew when another node has
// claimed the message since: the outcome held by this node is stale and is
// not recorded.
var ErrLeaseLost = errors.New("queue lease lost to another node")

// Lease says which node is delivering a message and until when it holds it;
// only a shared store fills it in.
type Lease struct {
	Holder  string    `json:"holder,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// dueAt is when a message next needs the scheduler: the earliest next
// attempt of a pending recipient, or its expiry if that comes first; ok is
// false when no recipient is pending.
func dueAt(m *Message) (due time.Time, ok bool) {
	for _, r := range m.Recipients {
		if r.State.Pending() && (!ok || r.NextAttempt.Before(due)) {
			due, ok = r.NextAttempt, true
		}
	}
	if ok && m.Expires.Before(due) {
		due = m.Expires
	}
	return due, ok
}
