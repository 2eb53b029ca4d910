package queue

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// idGen makes message ids that sort in queueing order: Unix milliseconds
// in the high 44 bits (good until the year 2527) and a sequence in the low
// 20 bits. An id is always greater than the previous one, even if the
// clock steps back, and after a restart it continues above the largest id
// recovered from the store.
type idGen struct {
	mu   sync.Mutex
	last uint64
}

func (g *idGen) next(now time.Time) string {
	ms := now.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	v := uint64(ms) << 20
	g.mu.Lock()
	if v <= g.last {
		v = g.last + 1
	}
	g.last = v
	g.mu.Unlock()
	return fmt.Sprintf("%016X", v)
}

// observe raises the generator above an existing id.
func (g *idGen) observe(id string) {
	v, err := strconv.ParseUint(id, 16, 64)
	if err != nil {
		return
	}
	g.mu.Lock()
	if v > g.last {
		g.last = v
	}
	g.mu.Unlock()
}

// skip moves the generator n ids ahead (after a collision with an id made
// by another node sharing the store).
func (g *idGen) skip(n uint64) {
	g.mu.Lock()
	g.last += n
	g.mu.Unlock()
}

func validID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
