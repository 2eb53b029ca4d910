package logfile

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by New when an Options field is zero. They are Exchange's
// protocol-log defaults; callers with other defaults (message tracking) set
// their own.
const (
	DefaultMaxFileSize   = 10 << 20
	DefaultMaxDirSize    = 250 << 20
	DefaultMaxAge        = 30 * 24 * time.Hour
	DefaultFlushInterval = time.Second
	DefaultMaxPending    = 32 << 20
)

// Options configures a File.
type Options struct {
	Dir    string // created if missing
	Prefix string // file name prefix: "RECV", "SEND", "MSGTRK"
	// Header returns the header lines written at the top of every new file;
	// created is the file's creation time (for #Date).
	Header func(created time.Time) []byte

	MaxFileSize   int64         // rotate before a file exceeds this; default 10 MB
	MaxDirSize    int64         // total of this prefix's files; default 250 MB
	MaxAge        time.Duration // remove files whose hour is older; default 30 days
	FlushInterval time.Duration // background flush period; default 1 s
	MaxPending    int64         // buffered bytes before lines are dropped; default 32 MB
	Now           func() time.Time
	Logger        *slog.Logger // background flush failures; default slog.Default()

	// ticks replaces the flush ticker and afterFlush observes background
	// flushes; both exist for tests in this package only.
	ticks      <-chan time.Time
	afterFlush func(error)
}

// blockSize is the unit the pending buffer grows by. Lines are copied into
// fixed-size blocks (not one growing slice) so that a burst never pays for
// re-copying everything queued so far, and blocks are recycled after flushes.
const blockSize = 128 << 10

// maxPooledBlocks bounds the recycled blocks, so one burst does not pin its
// memory for the life of the process.
const maxPooledBlocks = 32

// block is a run of lines that belong to one UTC hour.
type block struct {
	hour int64 // Unix seconds / 3600
	buf  []byte
}

// File is a rotating, buffered log file set. Write may be called from any
// number of goroutines; it never touches the disk.
type File struct {
	o Options

	mu           sync.Mutex // guards the fields below; held only to copy a line
	pending      []block
	spare        []block
	pendingBytes int64
	lastHour     int64 // hour of the latest line queued
	free         [][]byte
	closed       bool

	dropped atomic.Int64

	ioMu sync.Mutex // serialises flushes so lines reach disk in order
	cur  *current   // the open file, nil before the first write or after an error

	stop     chan struct{}
	finished chan struct{}
	once     sync.Once
	closeErr error
}

// New validates o, creates the directory, applies retention once and starts
// the background flusher. No file is created until the first line is flushed.
func New(o Options) (*File, error) {
	if o.Dir == "" {
		return nil, errors.New("log directory is empty")
	}
	if o.Prefix == "" {
		return nil, errors.New("log file prefix is empty")
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	if o.MaxDirSize <= 0 {
		o.MaxDirSize = DefaultMaxDirSize
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Header == nil {
		o.Header = func(time.Time) []byte { return nil }
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create log directory %s: %w", o.Dir, err)
	}
	f := &File{o: o, stop: make(chan struct{}), finished: make(chan struct{})}
	if err := f.purge(""); err != nil {
		// Retention is housekeeping: a failure must not stop the server.
		o.Logger.Warn("log retention failed", "dir", o.Dir, "err", err)
	}
	go f.run()
	return f, nil
}

// Write queues one complete line (including its line end) stamped at t; t
// picks the hourly file. It copies line, so the caller may reuse it. Write
// reports false when the line was not queued: the buffer is full (counted by
// Dropped) or the File is closed (not counted).
//
// Lines are filed by hour. A line stamped in the hour just before the latest
// one seen (it lost the race to the mutex across an hour boundary) goes into
// the newer hour's file rather than reopening the old one; a larger step back
// (the clock was really set back) starts files for the earlier hour.
func (f *File) Write(t time.Time, line []byte) bool {
	hour := hourOf(t)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return false
	}
	switch {
	case hour == f.lastHour-1:
		hour = f.lastHour // late by a hair: keep appending to the newer file
	case hour != f.lastHour:
		f.lastHour = hour // moving on, or the clock was stepped back for real
	}
	if f.pendingBytes+int64(len(line)) > f.o.MaxPending {
		f.mu.Unlock()
		f.dropped.Add(1)
		return false
	}
	n := len(f.pending)
	if n == 0 || hour != f.pending[n-1].hour || len(f.pending[n-1].buf)+len(line) > cap(f.pending[n-1].buf) {
		f.pending = append(f.pending, block{hour: hour, buf: f.newBlock(len(line))})
		n++
	}
	b := &f.pending[n-1]
	b.buf = append(b.buf, line...)
	f.pendingBytes += int64(len(line))
	f.mu.Unlock()
	return true
}

// hourOf returns t's hour as Unix seconds / 3600, rounded down.
func hourOf(t time.Time) int64 {
	s := t.Unix()
	h := s / 3600
	if s < 0 && s%3600 != 0 {
		h--
	}
	return h
}

// newBlock returns an empty buffer for at least size bytes. Called with mu held.
func (f *File) newBlock(size int) []byte {
	if size > blockSize {
		return make([]byte, 0, size) // one oversized line, not recycled
	}
	if k := len(f.free); k > 0 {
		b := f.free[k-1]
		f.free = f.free[:k-1]
		return b
	}
	return make([]byte, 0, blockSize)
}

// Dropped returns how many lines were dropped because the buffer was full.
func (f *File) Dropped() int64 { return f.dropped.Load() }

// Flush writes everything queued so far to disk.
func (f *File) Flush() error {
	f.ioMu.Lock()
	defer f.ioMu.Unlock()
	return f.flushLocked()
}

func (f *File) flushLocked() error {
	f.mu.Lock()
	blocks := f.pending
	f.pending = f.spare[:0]
	f.pendingBytes = 0
	f.mu.Unlock()

	var firstErr error
	for i := range blocks {
		if err := f.writeChunk(blocks[i].hour, blocks[i].buf); err != nil && firstErr == nil {
			firstErr = err
		}
	}

	f.mu.Lock()
	for i := range blocks {
		if b := blocks[i].buf; cap(b) == blockSize && len(f.free) < maxPooledBlocks {
			f.free = append(f.free, b[:0])
		}
		blocks[i].buf = nil
	}
	f.spare = blocks[:0]
	f.mu.Unlock()
	return firstErr
}

// Close stops the flusher, writes what is queued and closes the file. Writes
// after Close are discarded. Close is idempotent.
func (f *File) Close() error {
	f.once.Do(func() {
		f.mu.Lock()
		f.closed = true
		f.mu.Unlock()
		close(f.stop)
		<-f.finished
		f.ioMu.Lock()
		defer f.ioMu.Unlock()
		err := f.flushLocked()
		if f.cur != nil {
			if cerr := f.cur.f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close log file %s: %w", f.cur.name, cerr)
			}
			f.cur = nil
		}
		f.closeErr = err
	})
	return f.closeErr
}

// run is the background flusher.
func (f *File) run() {
	defer close(f.finished)
	ticks := f.o.ticks
	if ticks == nil {
		t := time.NewTicker(f.o.FlushInterval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-f.stop:
			return
		case <-ticks:
			err := f.Flush()
			if err != nil {
				f.o.Logger.Warn("log flush failed", "dir", f.o.Dir, "prefix", f.o.Prefix, "err", err)
			}
			if f.o.afterFlush != nil {
				f.o.afterFlush(err)
			}
		}
	}
}
