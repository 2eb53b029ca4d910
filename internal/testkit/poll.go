package testkit

import (
	"testing"
	"time"
)

// PollInterval is how often Poll and Eventually look again.
const PollInterval = 20 * time.Millisecond

// Poll calls check until it reports done and fails the test with check's
// last observation once within has passed. Every wait in a test is on
// observable state (an API answer, a file, a log line), bounded, and never
// a fixed sleep.
func Poll(t testing.TB, within time.Duration, what string, check func() (done bool, last string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		done, last := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			if last == "" {
				t.Fatalf("waited %v for %s", within, what)
			}
			t.Fatalf("waited %v for %s; last observation: %s", within, what, last)
		}
		<-tick.C
	}
}

// Eventually is Poll for a condition with nothing to report while it
// does not hold.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	Poll(t, within, what, func() (bool, string) { return cond(), "" })
}
