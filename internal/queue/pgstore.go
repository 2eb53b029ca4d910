package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultLease is how long a node holds a claimed message without renewing.
const DefaultLease = 30 * time.Second

// pgChannel is the LISTEN/NOTIFY channel on which a node announces work.
const pgChannel = "mailflow_queue"

// PostgresOptions configure a PostgresStore.
type PostgresOptions struct {
	// DSN is a libpq connection string or URL.
	DSN string
	// Node is this node's name (server.name), recorded as lease holder.
	Node string
	// Lease defaults to DefaultLease.
	Lease time.Duration
	// ConnectTimeout bounds each connection attempt (default 5s), so that
	// an unreachable database fails a Put quickly instead of holding the
	// client.
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

// PostgresStore is the shared Store: several mailflow nodes keep one queue
// in one PostgreSQL database. A Put commits the message and its body in one
// transaction (PostgreSQL's own commit is durable and groups concurrent
// commits); a NOTIFY in the same transaction wakes idle nodes. Deliveries
// are claimed with SELECT … FOR UPDATE SKIP LOCKED under a lease.
type PostgresStore struct {
	pool  *pgxpool.Pool
	cfg   *pgx.ConnConfig
	node  string
	lease time.Duration
	log   *slog.Logger

	wake    chan struct{}
	closing chan struct{}
	closed  sync.Once
	done    chan struct{}

	down          atomic.Bool  // the database was last seen unreachable
	lastOutageLog atomic.Int64 // Unix nanoseconds of the last "unreachable" log line
}

// outageLogEvery bounds how often an outage is logged as an error.
const outageLogEvery = 30 * time.Second

// OpenPostgresStore connects, migrates the schema and starts listening for
// other nodes' notifications.
func OpenPostgresStore(ctx context.Context, o PostgresOptions) (*PostgresStore, error) {
	if o.Node == "" {
		return nil, errors.New("open queue database: a node name is required (server.name)")
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	pcfg, err := pgxpool.ParseConfig(o.DSN)
	if err != nil {
		return nil, fmt.Errorf("queue database DSN: %w", err)
	}
	pcfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	pcfg.MaxConns = max(pcfg.MaxConns, 16)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("queue database: %w", err)
	}
	from, to, err := migrate(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s := &PostgresStore{
		pool: pool, cfg: pcfg.ConnConfig.Copy(), node: o.Node, lease: o.Lease, log: o.Logger,
		wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{}),
	}
	if from != to {
		s.log.Info("queue database schema migrated", "from", from, "to", to)
	}
	go s.listen()
	return s, nil
}

// Node is this node's name.
func (s *PostgresStore) Node() string { return s.node }

// Lease is the lease length.
func (s *PostgresStore) Lease() time.Duration { return s.lease }

// Wakeups signals notifications from any node (this one included).
func (s *PostgresStore) Wakeups() <-chan struct{} { return s.wake }

// Close stops the listener and closes the connections.
func (s *PostgresStore) Close() error {
	s.closed.Do(func() {
		close(s.closing)
		<-s.done
		s.pool.Close()
	})
	return nil
}

// pgTime is a time as PostgreSQL keeps it (microseconds), rounded down so a
// stored due time is never later than the scheduler's.
func pgTime(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// row is what a stored message is written as.
func pgRow(m *Message) (rec []byte, due *time.Time, err error) {
	c := *m
	c.Lease, c.claim = Lease{}, 0
	rec, err = encodeRecord(&c)
	if err != nil {
		return nil, nil, err
	}
	if d, ok := dueAt(m); ok {
		d = pgTime(d)
		due = &d
	}
	return rec, due, nil
}

// Put stores a new message and its body and notifies the other nodes, in
// one transaction.
func (s *PostgresStore) Put(ctx context.Context, m *Message, body Body) error {
	rec, due, err := pgRow(m)
	if err != nil {
		return err
	}
	rc, err := body.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A body of one chunk (nearly all mail) goes in one round trip
		// with its record and the notification; larger ones chunk by
		// chunk, so that at most one chunk is in memory.
		var batch pgx.Batch
		batch.Queue(`INSERT INTO queue_messages (id, record, due_at) VALUES ($1, $2, $3)`, m.ID, rec, due)
		buf := make([]byte, min(max(body.Size, 1), pgChunk))
		for seq := 0; ; seq++ {
			n, rerr := io.ReadFull(rc, buf)
			if n > 0 || seq == 0 {
				batch.Queue(`INSERT INTO queue_bodies (id, seq, chunk) VALUES ($1, $2, $3)`, m.ID, seq, buf[:n])
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				return fmt.Errorf("read body: %w", rerr)
			}
			if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
				return err
			}
			batch = pgx.Batch{}
			buf = make([]byte, len(buf)) // the sent chunk may still be referenced
		}
		batch.Queue(`SELECT pg_notify($1, $2)`, pgChannel, m.ID)
		return tx.SendBatch(ctx, &batch).Close()
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("store message %s: %w", m.ID, ErrDuplicateID)
	}
	if err = s.seen(err); err != nil {
		return fmt.Errorf("store message %s in the queue database: %w", m.ID, err)
	}
	return nil
}

// Update replaces the metadata of a message without a lease check (the
// single-node path; the shared scheduler uses Settle).
func (s *PostgresStore) Update(ctx context.Context, m *Message) error {
	rec, due, err := pgRow(m)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE queue_messages SET record = $2, due_at = $3 WHERE id = $1`, m.ID, rec, due)
	if err = s.seen(err); err != nil {
		return fmt.Errorf("update message %s in the queue database: %w", m.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update message %s: %w", m.ID, ErrNotFound)
	}
	return nil
}

// Delete removes a message and its body whoever holds its lease (an
// administrator's remove wins over a delivery in progress).
func (s *PostgresStore) Delete(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM queue_messages WHERE id = $1`, id)
	if err = s.seen(err); err != nil {
		return fmt.Errorf("delete message %s from the queue database: %w", id, err)
	}
	return nil
}

// pgChunk is the size of one stored body chunk.
const pgChunk = 1 << 20

// Body streams the stored body, one chunk per query.
func (s *PostgresStore) Body(ctx context.Context, id string) (io.ReadCloser, error) {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM queue_messages WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("body of %s: %w", id, ErrNotFound)
	}
	if err = s.seen(err); err != nil {
		return nil, fmt.Errorf("read body of %s from the queue database: %w", id, err)
	}
	return &pgBodyReader{ctx: ctx, s: s, id: id}, nil
}

// pgBodyReader reads a body chunk by chunk.
type pgBodyReader struct {
	ctx context.Context
	s   *PostgresStore
	id  string
	seq int
	buf []byte
	eof bool
}

func (r *pgBodyReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		var chunk []byte
		err := r.s.pool.QueryRow(r.ctx, `SELECT chunk FROM queue_bodies WHERE id = $1 AND seq = $2`, r.id, r.seq).Scan(&chunk)
		if errors.Is(err, pgx.ErrNoRows) {
			r.eof = true
			continue
		}
		if err = r.s.seen(err); err != nil {
			return 0, fmt.Errorf("read body of %s from the queue database: %w", r.id, err)
		}
		r.seq++
		r.buf = chunk
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *pgBodyReader) Close() error { return nil }

// Load returns every stored message; records that do not decode are moved
// to queue_quarantine and reported.
func (s *PostgresStore) Load(ctx context.Context) (msgs []*Message, bad []Quarantined, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, record FROM queue_messages ORDER BY id`)
		if err != nil {
			return err
		}
		type damaged struct{ id, reason string }
		var found []damaged
		for rows.Next() {
			var id string
			var rec []byte
			if err := rows.Scan(&id, &rec); err != nil {
				return err
			}
			m, err := decodeRecord(rec)
			if err == nil && m.ID != id {
				err = fmt.Errorf("row %q holds message %s", id, m.ID)
			}
			if err != nil {
				found = append(found, damaged{id, err.Error()})
				continue
			}
			msgs = append(msgs, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range found {
			if _, err := tx.Exec(ctx, `INSERT INTO queue_quarantine (key, reason, record, body)
				SELECT id, $2, record, (SELECT string_agg(chunk, ''::bytea ORDER BY seq) FROM queue_bodies b WHERE b.id = m.id)
				FROM queue_messages m WHERE id = $1`, d.id, d.reason); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM queue_messages WHERE id = $1`, d.id); err != nil {
				return err
			}
			bad = append(bad, Quarantined{Key: d.id, Reason: d.reason, Where: fmt.Sprintf("queue database table queue_quarantine, key %s", d.id)})
		}
		return nil
	})
	if err = s.seen(err); err != nil {
		return nil, nil, fmt.Errorf("load queue database: %w", err)
	}
	return msgs, bad, nil
}

// Claim leases up to n due messages to this node.
func (s *PostgresStore) Claim(ctx context.Context, now time.Time, n int) ([]*Message, error) {
	if n <= 0 {
		return nil, nil
	}
	now = pgTime(now)
	rows, err := s.pool.Query(ctx, `
		UPDATE queue_messages SET lease_owner = $1, lease_claim = nextval('queue_lease_claim'), lease_expires = $3
		WHERE id IN (
			SELECT id FROM queue_messages
			WHERE due_at <= $2 AND (lease_expires IS NULL OR lease_expires <= $2)
			ORDER BY due_at, id LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING id, record, lease_claim, lease_expires`, s.node, now, pgTime(now.Add(s.lease)), n)
	if err = s.seen(err); err != nil {
		return nil, fmt.Errorf("claim due messages in the queue database: %w", err)
	}
	var out []*Message
	var bad []string
	for rows.Next() {
		var id string
		var rec []byte
		var claim int64
		var exp time.Time
		if err := rows.Scan(&id, &rec, &claim, &exp); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim due messages: %w", err)
		}
		m, err := decodeRecord(rec)
		if err != nil {
			s.log.Error("queue record cannot be decoded; it is left for quarantine at the next load", "id", id, "err", err)
			bad = append(bad, id)
			continue
		}
		m.claim = claim
		m.Lease = Lease{Holder: s.node, Expires: exp}
		out = append(out, m)
	}
	if err := s.seen(rows.Err()); err != nil {
		return nil, fmt.Errorf("claim due messages: %w", err)
	}
	for _, id := range bad {
		// Keep the undecodable row out of the schedule without deleting it.
		if _, err := s.pool.Exec(ctx, `UPDATE queue_messages SET due_at = NULL, lease_owner = NULL, lease_expires = NULL WHERE id = $1`, id); err != nil {
			s.log.Error("park undecodable queue record", "id", id, "err", err)
		}
	}
	return out, nil
}

// Renew extends the lease of a claimed message.
func (s *PostgresStore) Renew(ctx context.Context, m *Message, until time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE queue_messages SET lease_expires = $3 WHERE id = $1 AND lease_claim = $2`, m.ID, m.claim, pgTime(until))
	if err = s.seen(err); err != nil {
		return fmt.Errorf("renew lease of %s: %w", m.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return s.lostOrGone(ctx, m.ID)
	}
	return nil
}

// Settle records the outcome of a claimed message, fenced by its claim, and
// releases the lease. While the database is unreachable it retries (one
// error logged when it goes away, one line when it returns) until ctx ends
// or the store is closed: the outcome of a delivery in flight is recorded
// when the database comes back.
func (s *PostgresStore) Settle(ctx context.Context, m *Message, final bool) error {
	// Short waits: once the database is back, this outcome should be
	// written before another node claims the message (its lease may have
	// lapsed during the outage) and delivers it a second time.
	wait := 100 * time.Millisecond
	for {
		err := s.settleOnce(ctx, m, final)
		if err == nil || !unreachable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-s.closing:
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

func (s *PostgresStore) settleOnce(ctx context.Context, m *Message, final bool) error {
	var tag pgconn.CommandTag
	var err error
	if final {
		tag, err = s.pool.Exec(ctx, `DELETE FROM queue_messages WHERE id = $1 AND lease_claim = $2`, m.ID, m.claim)
	} else {
		rec, due, encErr := pgRow(m)
		if encErr != nil {
			return encErr
		}
		tag, err = s.pool.Exec(ctx, `UPDATE queue_messages SET record = $3, due_at = $4, lease_owner = NULL, lease_expires = NULL
			WHERE id = $1 AND lease_claim = $2`, m.ID, m.claim, rec, due)
	}
	if err = s.seen(err); err != nil {
		return fmt.Errorf("record outcome of %s in the queue database: %w", m.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return s.lostOrGone(ctx, m.ID)
	}
	return nil
}

// lostOrGone tells a fenced write that matched no row apart: the message
// was removed (ErrNotFound) or claimed by another node (ErrLeaseLost).
func (s *PostgresStore) lostOrGone(ctx context.Context, id string) error {
	var holder *string
	err := s.pool.QueryRow(ctx, `SELECT lease_owner FROM queue_messages WHERE id = $1`, id).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	if err = s.seen(err); err != nil {
		return fmt.Errorf("message %s: %w", id, err)
	}
	by := "another claim"
	if holder != nil {
		by = "node " + *holder
	}
	return fmt.Errorf("message %s is now held by %s: %w", id, by, ErrLeaseLost)
}

const pgSelectListed = `SELECT id, record, lease_owner, lease_expires FROM queue_messages`

// Get returns one message with its lease.
func (s *PostgresStore) Get(ctx context.Context, id string) (*Message, error) {
	msgs, err := s.query(ctx, pgSelectListed+` WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	return msgs[0], nil
}

// List returns every message with its lease, oldest first.
func (s *PostgresStore) List(ctx context.Context) ([]*Message, error) {
	return s.query(ctx, pgSelectListed+` ORDER BY id`)
}

func (s *PostgresStore) query(ctx context.Context, sql string, args ...any) ([]*Message, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err = s.seen(err); err != nil {
		return nil, fmt.Errorf("read the queue database: %w", err)
	}
	defer rows.Close()
	var out []*Message
	for rows.Next() {
		var id string
		var rec []byte
		var owner *string
		var exp *time.Time
		if err := rows.Scan(&id, &rec, &owner, &exp); err != nil {
			return nil, fmt.Errorf("read the queue database: %w", err)
		}
		m, err := decodeRecord(rec)
		if err != nil {
			continue // Load quarantines it
		}
		if owner != nil && exp != nil {
			m.Lease = Lease{Holder: *owner, Expires: *exp}
		}
		out = append(out, m)
	}
	if err := s.seen(rows.Err()); err != nil {
		return nil, fmt.Errorf("read the queue database: %w", err)
	}
	return out, nil
}

// Retry makes pending recipients due now, skipping leased messages.
func (s *PostgresStore) Retry(ctx context.Context, id string, now time.Time) (found int, err error) {
	now = pgTime(now)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, record, lease_expires IS NOT NULL AND lease_expires > $2 FROM queue_messages
			WHERE ($1 = '' OR id = $1) AND due_at IS NOT NULL FOR UPDATE`, id, now)
		if err != nil {
			return err
		}
		var due []*Message
		for rows.Next() {
			var mid string
			var rec []byte
			var leased bool
			if err := rows.Scan(&mid, &rec, &leased); err != nil {
				return err
			}
			found++
			m, err := decodeRecord(rec)
			if err != nil || leased {
				continue
			}
			for i := range m.Recipients {
				if r := &m.Recipients[i]; r.State.Pending() {
					r.NextAttempt = now
				}
			}
			due = append(due, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range due {
			rec, d, err := pgRow(m)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE queue_messages SET record = $2, due_at = $3 WHERE id = $1`, m.ID, rec, d); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, pgChannel)
		return err
	})
	if err = s.seen(err); err != nil {
		return 0, fmt.Errorf("retry in the queue database: %w", err)
	}
	return found, nil
}

// NextDue is the earliest time a message becomes claimable.
func (s *PostgresStore) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next *time.Time
	err := s.pool.QueryRow(ctx, `SELECT min(GREATEST(due_at, COALESCE(lease_expires, due_at))) FROM queue_messages WHERE due_at IS NOT NULL`).Scan(&next)
	if err = s.seen(err); err != nil {
		return time.Time{}, false, fmt.Errorf("read next due time from the queue database: %w", err)
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return *next, true, nil
}

// listen keeps a LISTEN connection and turns notifications into wakeups,
// reconnecting after a failure (and waking once then, since notifications
// sent meanwhile are lost).
func (s *PostgresStore) listen() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.closing
		cancel()
	}()
	wait := 200 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, s.cfg)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+pgChannel)
		}
		if err == nil {
			wait = 200 * time.Millisecond
			s.signal()
			for err == nil {
				_, err = conn.WaitForNotification(ctx)
				if err == nil {
					s.signal()
				}
			}
		}
		if conn != nil {
			conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return
		}
		s.seen(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (s *PostgresStore) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// seen notes whether the database answered, logging only the changes: one
// error when it becomes unreachable, one line when it is back.
//
// Only a successful statement counts as "back", and while a database shuts
// down or starts up the two can alternate for a moment: the error is logged
// at most once per outageLogEvery, so a flapping database still gives one
// line, not a flood.
func (s *PostgresStore) seen(err error) error {
	if err == nil || !unreachable(err) {
		if err == nil && s.down.CompareAndSwap(true, false) {
			s.log.Info("queue database reachable again; accepting mail and recording outcomes", "node", s.node)
		}
		return err
	}
	if s.down.CompareAndSwap(false, true) {
		now := time.Now().UnixNano()
		if last := s.lastOutageLog.Load(); last == 0 || time.Duration(now-last) >= outageLogEvery {
			s.lastOutageLog.Store(now)
			s.log.Error("queue database unreachable: new mail gets temporary failures and delivery outcomes wait in memory until it returns",
				"node", s.node, "err", err)
		}
	}
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// unreachable reports whether err means the database could not be used at
// all (connection refused or lost, server shutting down), as opposed to a
// statement it refused.
func unreachable(err error) bool {
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrLeaseLost) || errors.Is(err, pgx.ErrNoRows) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		class := pgErr.Code[:2]
		return class == "08" || class == "57" || class == "53"
	}
	return true
}
