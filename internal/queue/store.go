package queue

import (
	"context"
	"errors"
	"io"
)

// Store is the durable part of the queue. It is deliberately narrow —
// whole-message put, metadata update, delete, body read, recovery scan —
// so that another backend can implement it. The embedded BoltStore is one
// node's; PostgresStore also implements SharedStore (claims, leases,
// fenced outcomes) so that several nodes share it. With a plain Store the
// scheduler keeps its own in-memory index, so the store never needs range
// queries by due time; with a SharedStore the store is the schedule.
//
// Every write method returns only when the change is durable. Methods are
// called concurrently; the store is expected to coalesce concurrent writes
// into one commit (group commit).
type Store interface {
	// Put stores a new message and its body atomically. A spooled body
	// (body.Path set) must be streamed, never read whole into memory; the
	// store may rename the file into its own keeping (see Body).
	Put(ctx context.Context, m *Message, body Body) error
	// Update replaces the metadata of a stored message (recipient states).
	Update(ctx context.Context, m *Message) error
	// Delete removes a message and its body. Deleting a missing message is
	// not an error.
	Delete(ctx context.Context, id string) error
	// Body opens the stored body of a message. The reader is read as the
	// message is sent, so a large body should be streamed from storage.
	Body(ctx context.Context, id string) (io.ReadCloser, error)
	// Load returns every stored message, at start-up, before any write.
	// Records it cannot decode are set aside (never deleted) and reported.
	Load(ctx context.Context) ([]*Message, []Quarantined, error)
	Close() error
}

// Quarantined describes a record that Load set aside instead of loading.
type Quarantined struct {
	// Key is the stored key (normally the message id); "*" when the whole
	// store file was set aside.
	Key string
	// Reason says what was wrong.
	Reason string
	// Where says where the bytes were kept, for an administrator.
	Where string
}

var (
	// ErrStorage marks a failure to make a message durable. The receiver
	// answers "452 4.3.1 Insufficient system storage" and the client
	// retries later.
	ErrStorage = errors.New("queue storage failure")
	// ErrUnavailable marks a shared store that cannot be reached (database
	// down or unreachable). The receiver answers "451 4.3.0" and the store
	// logs the outage once, not once per message.
	ErrUnavailable = errors.New("queue database unavailable")
	// ErrNotFound is returned for an unknown message id.
	ErrNotFound = errors.New("message not found in queue")
	// ErrDuplicateID is returned by a shared store's Put when another node
	// already stored a message with that id; the queue picks another id.
	ErrDuplicateID = errors.New("message id already in the queue")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("queue closed")
)
