package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bucketMessages   = []byte("messages")
	bucketBodies     = []byte("bodies")
	bucketQuarantine = []byte("quarantine")
	// bucketBodyFiles marks messages whose body is a file in the bodies
	// directory (bodies streamed to a spool file by the receiver) instead
	// of a value in bucketBodies.
	bucketBodyFiles = []byte("bodyfiles")
)

// maxBatch bounds one group commit so a burst of large bodies does not
// build one enormous transaction.
const maxBatch = 256

// BoltStore is the embedded Store: one bbolt file holding metadata and
// bodies. Writes from concurrent callers are coalesced by a single
// committer goroutine into one transaction and one fsync (group commit);
// each caller returns only after that commit is on disk.
type BoltStore struct {
	path string
	log  *slog.Logger
	db   *bolt.DB

	ops     chan *writeOp
	mu      sync.RWMutex // held for reading while sending to ops; Close takes it to stop senders
	closed  bool
	done    chan struct{}
	commits atomic.Uint64

	// Test hooks, set before the first write.
	beforeCommit func(ops int) // called in the committer before each transaction
	enqueued     func()        // called after a write is handed to the committer
}

type writeOp struct {
	fn  func(tx *bolt.Tx) error
	err chan error
}

// OpenBoltStore opens or creates the store file at path. A file that is not
// a readable bbolt database is renamed aside (path.corrupt-<time>), logged
// and replaced by an empty store, so start-up never fails on it and its
// bytes are kept for recovery. A file locked by another process is an
// error: two servers must not share a queue.
func OpenBoltStore(path string, log *slog.Logger) (*BoltStore, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &BoltStore{path: path, log: log, ops: make(chan *writeOp, maxBatch), done: make(chan struct{})}
	db, err := s.openDB()
	if err != nil {
		return nil, err
	}
	s.db = db
	go s.committer()
	return s, nil
}

func (s *BoltStore) openDB() (*bolt.DB, error) {
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create queue directory %s: %w", dir, err)
	}
	_, statErr := os.Stat(s.path)
	created := errors.Is(statErr, os.ErrNotExist)

	db, err := openBolt(s.path)
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, errBoltPanic) {
		aside, mvErr := s.moveAside(err)
		if mvErr != nil {
			return nil, mvErr
		}
		s.log.Error("queue store is not a readable database; it was set aside and an empty queue started",
			"path", s.path, "set_aside", aside, "err", err)
		created = true
		db, err = openBolt(s.path)
	}
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open queue store %s: locked by another process (is another mailflow server running on this data directory?)", s.path)
	}
	if err != nil {
		return nil, fmt.Errorf("open queue store %s: %w", s.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMessages, bucketBodies, bucketQuarantine, bucketBodyFiles, bucketHops} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise queue store %s: %w", s.path, err)
	}
	if created {
		// A new file's directory entry must be durable too, or the first
		// accepted messages could vanish with it after a crash.
		if err := syncDir(dir); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

var errBoltPanic = errors.New("storage engine panicked on the file")

func openBolt(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", errBoltPanic, r)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 2 * time.Second,
		// The free list is rebuilt at open instead of written at every
		// commit: fewer pages per commit on a write-heavy queue.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
}

func (s *BoltStore) moveAside(cause error) (string, error) {
	aside := fmt.Sprintf("%s.corrupt-%s", s.path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.Rename(s.path, aside); err != nil {
		return "", fmt.Errorf("set aside unreadable queue store %s (%v): %w", s.path, cause, err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return "", err
	}
	return aside, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// Path is the database file.
func (s *BoltStore) Path() string { return s.path }

// Commits returns how many write transactions have been committed; with N
// concurrent writers it grows by less than N (group commit).
func (s *BoltStore) Commits() uint64 { return s.commits.Load() }

// Put stores the message and its body in one transaction. A body in
// memory is stored in the database file; a spooled body's file is renamed
// into the bodies directory (fsynced) and only a marker goes into the
// transaction, so a large body is never read into memory.
func (s *BoltStore) Put(ctx context.Context, m *Message, body Body) error {
	rec, err := encodeRecord(m)
	if err != nil {
		return err
	}
	key := []byte(m.ID)
	if !body.InMemory() {
		return s.putFile(ctx, m, key, rec, body)
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketBodies).Put(key, body.Bytes); err != nil {
			return fmt.Errorf("store body of %s (%d bytes): %w", m.ID, len(body.Bytes), err)
		}
		if err := tx.Bucket(bucketMessages).Put(key, rec); err != nil {
			return fmt.Errorf("store message %s: %w", m.ID, err)
		}
		return nil
	})
}

func (s *BoltStore) putFile(ctx context.Context, m *Message, key, rec []byte, body Body) error {
	dir := s.bodiesDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create bodies directory %s: %w", dir, err)
	}
	target := filepath.Join(dir, m.ID)
	if err := os.Rename(body.Path, target); err != nil {
		return fmt.Errorf("move spooled body of %s into the queue: %w", m.ID, err)
	}
	if err := syncDir(dir); err != nil {
		os.Remove(target)
		return err
	}
	err := s.write(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketBodyFiles).Put(key, []byte{1}); err != nil {
			return fmt.Errorf("store body marker of %s: %w", m.ID, err)
		}
		if err := tx.Bucket(bucketMessages).Put(key, rec); err != nil {
			return fmt.Errorf("store message %s: %w", m.ID, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(target)
	}
	return err
}

// bodiesDir holds the bodies that were spooled to files.
func (s *BoltStore) bodiesDir() string { return filepath.Join(filepath.Dir(s.path), "bodies") }

// Update rewrites the metadata of a message.
func (s *BoltStore) Update(ctx context.Context, m *Message) error {
	rec, err := encodeRecord(m)
	if err != nil {
		return err
	}
	key := []byte(m.ID)
	return s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMessages)
		if b.Get(key) == nil {
			// Never resurrect a message that was deleted.
			return fmt.Errorf("update message %s: %w", m.ID, ErrNotFound)
		}
		if err := b.Put(key, rec); err != nil {
			return fmt.Errorf("update message %s: %w", m.ID, err)
		}
		return nil
	})
}

// Delete removes the message and its body.
func (s *BoltStore) Delete(ctx context.Context, id string) error {
	key := []byte(id)
	var file bool
	err := s.write(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMessages).Delete(key); err != nil {
			return fmt.Errorf("delete message %s: %w", id, err)
		}
		if err := tx.Bucket(bucketBodies).Delete(key); err != nil {
			return fmt.Errorf("delete body of %s: %w", id, err)
		}
		bf := tx.Bucket(bucketBodyFiles)
		file = bf.Get(key) != nil
		if err := bf.Delete(key); err != nil {
			return fmt.Errorf("delete body marker of %s: %w", id, err)
		}
		return nil
	})
	if err == nil && file {
		// After the commit: a crash in between leaves a file without a
		// marker, which Load removes.
		if rmErr := os.Remove(filepath.Join(s.bodiesDir(), id)); rmErr != nil && !os.IsNotExist(rmErr) {
			s.log.Warn("remove body file of a deleted message", "id", id, "err", rmErr)
		}
	}
	return err
}

// Body returns a copy of a body stored in the database file (bbolt's
// slices are only valid inside the transaction), or the open body file of
// a spooled body, read as it is sent.
func (s *BoltStore) Body(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var body []byte
	var file bool
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketBodies).Get([]byte(id)); v != nil {
			body = bytes.Clone(v)
			return nil
		}
		if tx.Bucket(bucketBodyFiles).Get([]byte(id)) != nil {
			file = true
			return nil
		}
		return fmt.Errorf("body of %s: %w", id, ErrNotFound)
	})
	if err != nil {
		return nil, err
	}
	if file {
		f, err := os.Open(filepath.Join(s.bodiesDir(), id))
		if err != nil {
			return nil, fmt.Errorf("body of %s: %w", id, err)
		}
		return f, nil
	}
	return io.NopCloser(bytes.NewReader(body)), nil
}

// Load decodes every message. A record that fails its checksum or
// validation, or lacks its body, and a body without a record, are moved to
// the quarantine bucket (key "<id>.<unix nanos>.meta|body|reason") in the
// same transaction and reported. If the engine panics on a damaged file,
// the file is set aside and an empty store started.
func (s *BoltStore) Load(ctx context.Context) (msgs []*Message, bad []Quarantined, err error) {
	msgs, bad, err = s.load(ctx)
	if errors.Is(err, errBoltPanic) {
		s.db.Close()
		aside, mvErr := s.moveAside(err)
		if mvErr != nil {
			return nil, nil, mvErr
		}
		s.log.Error("queue store is damaged; it was set aside and an empty queue started",
			"path", s.path, "set_aside", aside, "err", err)
		db, openErr := s.openDB()
		if openErr != nil {
			return nil, nil, openErr
		}
		s.db = db
		return nil, []Quarantined{{Key: "*", Reason: err.Error(), Where: aside}}, nil
	}
	return msgs, bad, err
}

func (s *BoltStore) load(ctx context.Context) (msgs []*Message, bad []Quarantined, err error) {
	defer func() {
		if r := recover(); r != nil {
			msgs, bad, err = nil, nil, fmt.Errorf("load queue store %s: %w: %v", s.path, errBoltPanic, r)
		}
	}()
	type damaged struct {
		key, meta, body []byte
		reason          string
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		mb, bb, qb, fb := tx.Bucket(bucketMessages), tx.Bucket(bucketBodies), tx.Bucket(bucketQuarantine), tx.Bucket(bucketBodyFiles)
		var found []damaged
		c := mb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			m, err := decodeRecord(v)
			switch {
			case err != nil:
			case m.ID != string(k):
				err = fmt.Errorf("record under key %q holds message %s", k, m.ID)
			case bb.Get(k) == nil && fb.Get(k) == nil:
				err = errors.New("message body is missing")
			case bb.Get(k) == nil && !s.bodyFileExists(string(k)):
				err = fmt.Errorf("message body file %s is missing", filepath.Join(s.bodiesDir(), string(k)))
			}
			if err != nil {
				found = append(found, damaged{key: bytes.Clone(k), meta: bytes.Clone(v), body: bytes.Clone(bb.Get(k)), reason: err.Error()})
				continue
			}
			msgs = append(msgs, m)
		}
		bc := bb.Cursor()
		for k, v := bc.First(); k != nil; k, v = bc.Next() {
			if mb.Get(k) == nil {
				found = append(found, damaged{key: bytes.Clone(k), body: bytes.Clone(v), reason: "body without a message record"})
			}
		}
		fc := fb.Cursor()
		for k, _ := fc.First(); k != nil; k, _ = fc.Next() {
			if mb.Get(k) == nil {
				// Kept where it is under a name Load does not remove.
				found = append(found, damaged{key: bytes.Clone(k), reason: "body file without a message record"})
			}
		}
		stamp := time.Now().UnixNano()
		for _, d := range found {
			prefix := fmt.Sprintf("%s.%d.", d.key, stamp)
			for _, kv := range [][2][]byte{{[]byte(prefix + "meta"), d.meta}, {[]byte(prefix + "body"), d.body}, {[]byte(prefix + "reason"), []byte(d.reason)}} {
				if kv[1] == nil {
					continue
				}
				if err := qb.Put(kv[0], kv[1]); err != nil {
					return fmt.Errorf("quarantine %q: %w", d.key, err)
				}
			}
			if err := mb.Delete(d.key); err != nil {
				return err
			}
			if err := bb.Delete(d.key); err != nil {
				return err
			}
			where := fmt.Sprintf("%s bucket %q keys %s*", s.path, bucketQuarantine, prefix)
			if fb.Get(d.key) != nil {
				if err := fb.Delete(d.key); err != nil {
					return err
				}
				aside := filepath.Join(s.bodiesDir(), "quarantine-"+prefix+"body")
				if err := os.Rename(filepath.Join(s.bodiesDir(), string(d.key)), aside); err == nil {
					where += " and " + aside
				}
			}
			bad = append(bad, Quarantined{Key: string(d.key), Reason: d.reason, Where: where})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("load queue store %s: %w", s.path, err)
	}
	if err := s.removeOrphanBodyFiles(); err != nil {
		return nil, nil, err
	}
	return msgs, bad, nil
}

func (s *BoltStore) bodyFileExists(id string) bool {
	st, err := os.Stat(filepath.Join(s.bodiesDir(), id))
	return err == nil && st.Mode().IsRegular()
}

// removeOrphanBodyFiles deletes body files that have no marker: a Put that
// renamed its file but did not commit (never acknowledged), or a Delete
// that committed but stopped before removing the file.
func (s *BoltStore) removeOrphanBodyFiles() error {
	entries, err := os.ReadDir(s.bodiesDir())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read bodies directory: %w", err)
	}
	return s.db.View(func(tx *bolt.Tx) error {
		fb := tx.Bucket(bucketBodyFiles)
		for _, e := range entries {
			if !validID(e.Name()) || fb.Get([]byte(e.Name())) != nil {
				continue
			}
			if err := os.Remove(filepath.Join(s.bodiesDir(), e.Name())); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("remove orphan body file: %w", err)
			}
		}
		return nil
	})
}

// Close waits for queued writes to commit, then closes the file.
func (s *BoltStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.mu.Unlock()
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close queue store %s: %w", s.path, err)
	}
	return nil
}

// write hands fn to the committer and waits for its commit. Once handed
// over, the wait ignores ctx: the write may already be in a commit, and the
// caller must learn whether it is durable.
func (s *BoltStore) write(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	op := &writeOp{fn: fn, err: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.ops <- op:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	if s.enqueued != nil {
		s.enqueued()
	}
	return <-op.err
}

// committer takes whatever writes are waiting — everything that arrived
// while the previous commit was syncing — and commits them together. A
// lone writer is committed at once (no batching delay); under load the
// batch grows by itself.
func (s *BoltStore) committer() {
	defer close(s.done)
	for op := range s.ops {
		batch := []*writeOp{op}
	drain:
		for len(batch) < maxBatch {
			select {
			case next, ok := <-s.ops:
				if !ok {
					break drain
				}
				batch = append(batch, next)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

type opError struct {
	index int
	err   error
}

func (e *opError) Error() string { return e.err.Error() }

// commit runs the batch in one transaction. If one write fails on its own
// (a value too large, say), it alone gets the error and the rest are
// committed without it; a failed commit (I/O error, disk full) fails them
// all, and none of them is acknowledged.
func (s *BoltStore) commit(batch []*writeOp) {
	for len(batch) > 0 {
		if s.beforeCommit != nil {
			s.beforeCommit(len(batch))
		}
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, op := range batch {
				if err := op.fn(tx); err != nil {
					return &opError{index: i, err: err}
				}
			}
			return nil
		})
		if err == nil {
			s.commits.Add(1)
			for _, op := range batch {
				op.err <- nil
			}
			return
		}
		var oe *opError
		if !errors.As(err, &oe) {
			err = fmt.Errorf("commit queue store %s: %w", s.path, err)
			for _, op := range batch {
				op.err <- err
			}
			return
		}
		batch[oe.index].err <- oe.err
		batch = append(batch[:oe.index:oe.index], batch[oe.index+1:]...)
	}
}
