package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"
)

// sinkCounter follows how many messages a sink has received, from the
// sink's own progress output: smtp-sink -c prints "sess=3 quit=2 mesg=2"
// after every "." (separated by carriage returns), our Go sink prints the
// same form one per line. End-to-end relay time is the moment the sink has
// seen every message the relay accepted.
type sinkCounter struct {
	mu      sync.Mutex
	n       int64
	sess    int64 // sessions (connections) the sink accepted
	closed  bool
	waiters []counterWaiter
}

type counterWaiter struct {
	target int64
	ch     chan struct{}
}

var (
	mesgField = regexp.MustCompile(`mesg=(\d+)`)
	sessField = regexp.MustCompile(`sess=(\d+)`)
)

// feed takes one token of the sink's progress output.
func (c *sinkCounter) feed(tok []byte) {
	if m := sessField.FindSubmatch(tok); m != nil {
		if n, err := strconv.ParseInt(string(m[1]), 10, 64); err == nil {
			c.mu.Lock()
			c.sess = max(c.sess, n)
			c.mu.Unlock()
		}
	}
	if m := mesgField.FindSubmatch(tok); m != nil {
		if n, err := strconv.ParseInt(string(m[1]), 10, 64); err == nil {
			c.set(n)
		}
	}
}

// close says the sink's output ended: waiters still short are released
// with an error.
func (c *sinkCounter) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, w := range c.waiters {
		close(w.ch)
	}
	c.waiters = nil
}

func (c *sinkCounter) set(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n <= c.n {
		return
	}
	c.n = n
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if n >= w.target {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// sessions is the number of connections the sink accepted so far, as of
// its last progress line (both sinks print it with every message).
func (c *sinkCounter) sessions() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// count is the number of messages received so far.
func (c *sinkCounter) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// wait returns once the sink has received target messages in all.
func (c *sinkCounter) wait(ctx context.Context, target int64) error {
	c.mu.Lock()
	if c.n >= target {
		c.mu.Unlock()
		return nil
	}
	if c.closed {
		n := c.n
		c.mu.Unlock()
		return fmt.Errorf("sink exited after %d of %d messages", n, target)
	}
	w := counterWaiter{target: target, ch: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	select {
	case <-w.ch:
		if n := c.count(); n < target {
			return fmt.Errorf("sink exited after %d of %d messages", n, target)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sink received %d of %d messages: %w", c.count(), target, ctx.Err())
	}
}

// splitCRLF splits on either CR or LF, so that smtp-sink's in-place
// counter updates ("…\r…\r") arrive as separate tokens.
func splitCRLF(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
