package receive

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
)

// TestAuthLimiterBoundedUnderSpray: one failure from each of many more
// addresses than maxTracked, all inside the window (nothing expires), keeps
// the per-address table at maxTracked at most; a locked address survives
// the eviction while unlocked ones with a single failure remain.
func TestAuthLimiterBoundedUnderSpray(t *testing.T) {
	lim := config.Limits{AuthFailuresPerIP: 3, AuthFailuresPerUser: 20,
		AuthFailureWindow: config.Duration(time.Hour), AuthLockout: config.Duration(time.Hour), AuthTarpit: config.Duration(time.Second)}
	l := newAuthLimiter()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	locked := netip.MustParseAddr("127.0.0.9")
	for i := 0; i < 3; i++ {
		l.fail(now, locked, "", lim)
	}
	if l.ipLocked(now, locked).IsZero() {
		t.Fatal("127.0.0.9 not locked after 3 failures")
	}
	base := netip.MustParseAddr("2001:db8::")
	a := base
	for i := 0; i < maxTracked+maxTracked/2; i++ {
		a = a.Next()
		now = now.Add(time.Millisecond)
		l.fail(now, a, "", lim)
		if n := len(l.ips); n > maxTracked {
			t.Fatalf("after %d addresses the table holds %d entries, more than %d", i+1, n, maxTracked)
		}
	}
	if l.ipLocked(now, locked).IsZero() {
		t.Fatal("the locked address was evicted by a spray of single failures")
	}
	if _, ok := l.ips[a]; !ok {
		t.Fatal("the latest address is not tracked")
	}
}
