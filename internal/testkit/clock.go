package testkit

import (
	"context"
	"sync"
	"time"

	"github.com/mailflowhq/mailflow/internal/clock"
)

// Clock is the fake clock for tests: a clock.Clock that is moved by hand
// (Set, Advance) and safe to read from other goroutines (a log flusher, a
// server, a scheduler), so tests inject time instead of sleeping. Its timers
// fire when the clock is moved to or past their deadline; a timer created
// with a non-positive duration fires at once.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*fakeTimer]struct{}
	changed chan struct{} // closed and replaced whenever the set of timers changes
}

var _ clock.Clock = (*Clock)(nil)

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock {
	return &Clock{now: t, timers: map[*fakeTimer]struct{}{}, changed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, forwards or back, and fires every timer due by
// then.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.moveLocked(t)
}

// Advance moves the clock forward by d and fires every timer due by then.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.moveLocked(c.now.Add(d))
}

func (c *Clock) moveLocked(t time.Time) {
	c.now = t
	fired := false
	for tm := range c.timers {
		if !tm.deadline.After(c.now) {
			tm.ch <- c.now
			delete(c.timers, tm)
			fired = true
		}
	}
	if fired {
		c.notifyLocked()
	}
}

// NewTimer returns a timer firing when the clock reaches Now()+d.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, deadline: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers[t] = struct{}{}
	c.notifyLocked()
	return t
}

// Timers returns the number of timers waiting to fire.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitForTimers blocks until at least n timers are waiting, so a test can
// Advance only once the code under test sleeps. It returns ctx's error if
// ctx ends first.
func (c *Clock) WaitForTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		count, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if count >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type fakeTimer struct {
	clock    *Clock
	deadline time.Time
	ch       chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// Stop reports whether the call stopped the timer before it fired.
func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.timers[t]; !ok {
		return false
	}
	delete(c.timers, t)
	c.notifyLocked()
	return true
}
