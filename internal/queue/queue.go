package queue

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailflowhq/mailflow/internal/clock"
	"github.com/mailflowhq/mailflow/internal/outcome"
)

// Defaults applied by Open to zero Options fields.
var DefaultRetry = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}

const (
	DefaultExpiry      = 24 * time.Hour
	DefaultConcurrency = 20
	DefaultJitter      = 0.1
)

// Options configure a Queue.
type Options struct {
	// Dir holds the embedded store (queue.db). Ignored when Store is set.
	Dir string
	// SpoolDir is where the receiver streams bodies above its in-memory
	// threshold before Put; Open removes half-written files left in it.
	// Default <Dir>/spool; with Store set and SpoolDir empty, bodies are
	// kept in memory until queued.
	SpoolDir string
	// Store replaces the embedded store (another backend, or a fake in
	// tests). The queue does not close a store it did not open.
	Store Store
	// CloseStore makes Close close Store too (the queue then owns it).
	CloseStore bool
	// Clock defaults to clock.System().
	Clock clock.Clock
	// Retry lists the waits after the 1st, 2nd, … deferral; the last one
	// repeats. Default 1m, 5m, 15m, 30m, 1h.
	Retry []time.Duration
	// Jitter spreads each wait by up to ±Jitter of itself so that
	// messages deferred together do not retry in lock-step. 0 means
	// DefaultJitter (0.1); a negative value disables jitter; at most 1.
	Jitter float64
	// Rand returns numbers in [0, 1) for jitter; default math/rand/v2.
	// It is called with the queue's lock held, so it need not be safe for
	// concurrent use.
	Rand func() float64
	// Expiry is how long a message may stay queued (from Created) before
	// its pending recipients fail with 4.4.7. Default 24h, as Exchange.
	Expiry time.Duration
	// Concurrency is the number of messages delivered in parallel by Run.
	// Default 20.
	Concurrency int
	// Deliverer performs deliveries; required by Run and ProcessDue.
	Deliverer Deliverer
	// Observer receives tracking events; optional.
	Observer Observer
	// ServerFQDN names the reporting MTA in DSNs (From postmaster@…).
	// Default: the host name.
	ServerFQDN string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Queue is the durable message queue and its delivery scheduler.
type Queue struct {
	store     Store
	shared    SharedStore // non-nil when several nodes share the store
	ownsStore bool
	clock     clock.Clock
	retry     []time.Duration
	jitter    float64
	rand      func() float64
	expiry    time.Duration
	workers   int
	deliverer Deliverer
	observer  Observer
	fqdn      string
	log       *slog.Logger
	spoolDir  string

	ids  idGen
	kick chan struct{}

	mu      sync.Mutex
	msgs    map[string]*entry
	due     dueHeap // entries with pending recipients that are not in flight
	running int     // attempts in flight
	closed  bool
}

// entry is the scheduler's view of a message. m is only touched with q.mu
// held; deliveries work on clones.
type entry struct {
	m        *Message
	inflight bool
	removed  bool      // removed while in flight: the attempt's owner deletes it
	dueAt    time.Time // earliest NextAttempt of a pending recipient, or Expires
	index    int       // position in the heap, -1 when not scheduled
}

// Open opens the queue and recovers every message that still has pending
// recipients. Messages in flight when the process stopped are due at once
// (a duplicate delivery is possible, a loss is not). Damaged records are
// logged and quarantined by the store; start-up goes on without them.
func Open(o Options) (*Queue, error) {
	q := &Queue{
		store:     o.Store,
		clock:     o.Clock,
		retry:     slices.Clone(o.Retry),
		jitter:    o.Jitter,
		rand:      o.Rand,
		expiry:    o.Expiry,
		workers:   o.Concurrency,
		deliverer: o.Deliverer,
		observer:  o.Observer,
		fqdn:      o.ServerFQDN,
		log:       o.Logger,
		kick:      make(chan struct{}, 1),
		msgs:      map[string]*entry{},
		ownsStore: o.Store != nil && o.CloseStore,
		spoolDir:  o.SpoolDir,
	}
	if err := q.applyDefaults(); err != nil {
		return nil, err
	}
	if q.store == nil {
		if o.Dir == "" {
			return nil, errors.New("open queue: Options.Dir or Options.Store is required")
		}
		bs, err := OpenBoltStore(filepath.Join(o.Dir, "queue.db"), q.log)
		if err != nil {
			return nil, err
		}
		q.store, q.ownsStore = bs, true
		if q.spoolDir == "" {
			q.spoolDir = filepath.Join(o.Dir, "spool")
		}
	}
	if q.spoolDir != "" {
		n, err := cleanSpool(q.spoolDir)
		if err != nil {
			if q.ownsStore {
				q.store.Close()
			}
			return nil, fmt.Errorf("open queue: %w", err)
		}
		if n > 0 {
			q.log.Info("removed half-written spool files of messages that were never acknowledged", "dir", q.spoolDir, "files", n)
		}
	}
	if ss, ok := q.store.(SharedStore); ok {
		// The shared store is the schedule: nothing to recover into
		// memory; whatever is due is claimed by Run.
		q.shared = ss
		msgs, bad, err := ss.Load(context.Background())
		if err != nil {
			return nil, fmt.Errorf("open shared queue: %w", err)
		}
		for _, b := range bad {
			q.log.Error("queue record quarantined at start-up", "key", b.Key, "reason", b.Reason, "kept_in", b.Where)
		}
		for _, m := range msgs {
			q.ids.observe(m.ID)
		}
		q.log.Info("queue shared with other nodes", "node", ss.Node(), "lease", ss.Lease(), "messages", len(msgs))
		return q, nil
	}
	if err := q.recover(); err != nil {
		if q.ownsStore {
			q.store.Close()
		}
		return nil, err
	}
	return q, nil
}

func (q *Queue) applyDefaults() error {
	if q.clock == nil {
		q.clock = clock.System()
	}
	if len(q.retry) == 0 {
		q.retry = slices.Clone(DefaultRetry)
	}
	for _, d := range q.retry {
		if d <= 0 {
			return fmt.Errorf("open queue: retry interval %v must be positive", d)
		}
	}
	switch {
	case q.jitter == 0:
		q.jitter = DefaultJitter
	case q.jitter < 0:
		q.jitter = 0
	case q.jitter > 1:
		return fmt.Errorf("open queue: jitter %v must be at most 1", q.jitter)
	}
	if q.rand == nil {
		q.rand = rand.Float64
	}
	if q.expiry <= 0 {
		q.expiry = DefaultExpiry
	}
	if q.workers <= 0 {
		q.workers = DefaultConcurrency
	}
	if q.log == nil {
		q.log = slog.Default()
	}
	if q.fqdn == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		q.fqdn = h
	}
	return nil
}

func (q *Queue) recover() error {
	msgs, bad, err := q.store.Load(context.Background())
	if err != nil {
		return fmt.Errorf("recover queue: %w", err)
	}
	for _, b := range bad {
		q.log.Error("queue record quarantined at start-up", "key", b.Key, "reason", b.Reason, "kept_in", b.Where)
	}
	var finished []string
	for _, m := range msgs {
		q.ids.observe(m.ID)
		if len(m.Pending()) == 0 {
			// Every recipient was final but the delete did not happen
			// before a stop: finish the job now.
			finished = append(finished, m.ID)
			continue
		}
		e := &entry{m: m, index: -1}
		q.msgs[m.ID] = e
		q.schedule(e)
	}
	for _, id := range finished {
		if err := q.store.Delete(context.Background(), id); err != nil {
			q.log.Warn("remove finished message at start-up", "id", id, "err", err)
		}
	}
	q.log.Info("queue recovered", "messages", len(q.msgs), "quarantined", len(bad))
	return nil
}

// Put queues a message and returns its id once the message and its body are
// durable. An error wraps ErrStorage when the store could not make it
// durable: the receiver then answers "452 4.3.1 Insufficient system
// storage" and must not acknowledge the message.
func (q *Queue) Put(ctx context.Context, env Envelope, body []byte) (string, error) {
	return q.PutBody(ctx, env, BytesBody(body))
}

// PutBody is Put for a body that may be in a spool file (see Body). The
// caller removes the spool file afterwards (Body.RemoveSpool) if the store
// did not take it over.
func (q *Queue) PutBody(ctx context.Context, env Envelope, body Body) (string, error) {
	if len(env.To) == 0 {
		return "", errors.New("queue message: no recipients")
	}
	return q.put(ctx, env, body)
}

// SpoolDir is where bodies above the receiver's in-memory threshold are
// streamed before PutBody; "" when large bodies are not spooled.
func (q *Queue) SpoolDir() string { return q.spoolDir }

func (q *Queue) put(ctx context.Context, env Envelope, body Body) (string, error) {
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	now := q.clock.Now()
	if env.ReceivedAt.IsZero() {
		env.ReceivedAt = now
	}
	if env.Size == 0 {
		env.Size = body.Size
	}
	m := &Message{
		ID:      q.ids.next(now),
		Env:     env,
		Created: now,
		Expires: now.Add(q.expiry),
	}
	m.Env.To = slices.Clone(env.To)
	seen := map[string]bool{}
	for _, to := range env.To {
		key := strings.ToLower(strings.TrimSpace(to))
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		m.Recipients = append(m.Recipients, Recipient{Addr: strings.TrimSpace(to), State: StateReady, NextAttempt: now})
	}
	if len(m.Recipients) == 0 {
		return "", errors.New("queue message: no recipients")
	}
	err := q.store.Put(ctx, m, body)
	for try := 0; errors.Is(err, ErrDuplicateID) && try < 8; try++ {
		// Another node made the same id in the same millisecond.
		q.ids.skip(1 + uint64(rand.IntN(4096)))
		m.ID = q.ids.next(now)
		err = q.store.Put(ctx, m, body)
	}
	if err != nil {
		return "", fmt.Errorf("queue message %s: %w: %w", m.ID, ErrStorage, err)
	}
	if q.shared != nil {
		q.wake()
		return m.ID, nil
	}
	q.mu.Lock()
	e := &entry{m: m, index: -1}
	q.msgs[m.ID] = e
	q.schedule(e)
	q.mu.Unlock()
	q.wake()
	return m.ID, nil
}

// List returns snapshots of every queued message, oldest first.
func (q *Queue) List() []Message {
	if q.shared != nil {
		msgs, err := q.shared.List(context.Background())
		if err != nil {
			q.log.Error("list the shared queue", "err", err)
		}
		out := make([]Message, 0, len(msgs))
		for _, m := range msgs {
			out = append(out, *m)
		}
		return out
	}
	q.mu.Lock()
	out := make([]Message, 0, len(q.msgs))
	for _, e := range q.msgs {
		if !e.removed {
			out = append(out, *e.m.Clone())
		}
	}
	q.mu.Unlock()
	slices.SortFunc(out, func(a, b Message) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Get returns a snapshot of one message.
func (q *Queue) Get(id string) (*Message, bool) {
	if q.shared != nil {
		m, err := q.shared.Get(context.Background(), id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			q.log.Error("read the shared queue", "id", id, "err", err)
		}
		return m, err == nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.msgs[id]
	if !ok || e.removed {
		return nil, false
	}
	return e.m.Clone(), true
}

// Retry makes the pending recipients of message id due now ("" = every
// message) and wakes the scheduler. A message whose attempt is in flight
// is already being retried; its next attempt follows the normal schedule.
// With the embedded store the new due time is not persisted (after a
// restart the stored schedule applies); with a shared store it is stored,
// so that whichever node is free delivers the message.
func (q *Queue) Retry(id string) error {
	if q.shared != nil {
		found, err := q.shared.Retry(context.Background(), id, q.clock.Now())
		if err != nil {
			return fmt.Errorf("retry %s: %w", id, err)
		}
		if id != "" && found == 0 {
			return fmt.Errorf("retry %s: %w", id, ErrNotFound)
		}
		q.wake()
		return nil
	}
	q.mu.Lock()
	now := q.clock.Now()
	found := false
	for mid, e := range q.msgs {
		if (id != "" && mid != id) || e.removed {
			continue
		}
		found = true
		for i := range e.m.Recipients {
			if r := &e.m.Recipients[i]; r.State.Pending() {
				r.NextAttempt = now
			}
		}
		if !e.inflight {
			q.schedule(e)
		}
	}
	q.mu.Unlock()
	if id != "" && !found {
		return fmt.Errorf("retry %s: %w", id, ErrNotFound)
	}
	q.wake()
	return nil
}

// Remove drops a message without a DSN and reports REMOVE for each pending
// recipient. If an attempt is in flight the message disappears from List
// at once and is deleted from the store when the attempt ends.
func (q *Queue) Remove(id string) error {
	if q.shared != nil {
		return q.removeShared(id)
	}
	q.mu.Lock()
	e, ok := q.msgs[id]
	if !ok || e.removed {
		q.mu.Unlock()
		return fmt.Errorf("remove %s: %w", id, ErrNotFound)
	}
	e.removed = true
	snap := e.m.Clone()
	inflight := e.inflight
	q.unschedule(e)
	q.mu.Unlock()

	if !inflight {
		if err := q.store.Delete(context.Background(), id); err != nil {
			q.mu.Lock()
			e.removed = false
			q.schedule(e)
			q.mu.Unlock()
			return fmt.Errorf("remove %s: %w", id, err)
		}
		q.mu.Lock()
		delete(q.msgs, id)
		q.mu.Unlock()
	}
	q.reportRemoved(snap)
	return nil
}

// removeShared deletes a message from the shared store whichever node holds
// its lease; that node's outcome then finds the message gone.
func (q *Queue) removeShared(id string) error {
	ctx := context.Background()
	snap, err := q.shared.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	if err := q.store.Delete(ctx, id); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	q.reportRemoved(snap)
	return nil
}

func (q *Queue) reportRemoved(snap *Message) {
	now := q.clock.Now()
	id := snap.ID
	q.log.Info("message removed from queue", "id", id, "pending", len(snap.Pending()))
	for _, rcpt := range snap.Pending() {
		q.emit(Event{Kind: EventRemove, Msg: snap, Rcpt: rcpt, Time: now,
			Result: Result{Rcpt: rcpt, Outcome: outcome.Failed, Status: "removed by an administrator"}})
	}
}

// Close stops accepting messages and closes the store if the queue opened
// it. Stop Run first (cancel its context and wait for it to return).
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	if q.ownsStore {
		return q.store.Close()
	}
	return nil
}

func (q *Queue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

func (q *Queue) emit(ev Event) {
	if q.shared != nil {
		ev.Node = q.shared.Node()
	}
	if q.observer != nil {
		q.observer.Observe(ev)
	}
}

// schedule (re)places e in the due heap at its earliest pending time, or
// takes it out when nothing is pending. Caller holds q.mu.
func (q *Queue) schedule(e *entry) {
	due, pending := dueAt(e.m)
	if !pending {
		q.unschedule(e)
		return
	}
	e.dueAt = due
	if e.index >= 0 {
		heap.Fix(&q.due, e.index)
	} else {
		heap.Push(&q.due, e)
	}
}

func (q *Queue) unschedule(e *entry) {
	if e.index >= 0 {
		heap.Remove(&q.due, e.index)
	}
}

// dueHeap orders scheduled entries by due time, then id (age).
type dueHeap []*entry

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if !h[i].dueAt.Equal(h[j].dueAt) {
		return h[i].dueAt.Before(h[j].dueAt)
	}
	return h[i].m.ID < h[j].m.ID
}
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
