package web

import (
	"sync"
	"time"
)

// Login throttling: after maxLoginFailures wrong secrets from one address
// within loginWindow, that address is refused (429) before any secret is
// checked, until its oldest failure leaves the window. The token is 256
// random bits, but a password is chosen by a person.
const (
	maxLoginFailures = 10
	loginWindow      = 15 * time.Minute
)

type throttle struct {
	mu    sync.Mutex
	fails map[string][]time.Time // by remote address, oldest first
}

func (t *throttle) recent(addr string, now time.Time) []time.Time {
	list := t.fails[addr]
	for len(list) > 0 && now.Sub(list[0]) > loginWindow {
		list = list[1:]
	}
	if len(list) == 0 {
		delete(t.fails, addr)
		return nil
	}
	t.fails[addr] = list
	return list
}

// blocked reports whether addr may not try now, and until when.
func (t *throttle) blocked(addr string, now time.Time) (bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.recent(addr, now)
	if len(list) < maxLoginFailures {
		return false, time.Time{}
	}
	return true, list[0].Add(loginWindow)
}

func (t *throttle) fail(addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fails == nil {
		t.fails = map[string][]time.Time{}
	}
	t.fails[addr] = append(t.recent(addr, now), now)
}

func (t *throttle) reset(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, addr)
}
