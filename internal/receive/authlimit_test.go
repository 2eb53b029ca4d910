package receive

import (
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// TestLogSafe: a client-chosen name is logged on one line, bounded, and as
// valid UTF-8 even when the bound falls inside a character.
func TestLogSafe(t *testing.T) {
	long := "a" + strings.Repeat("é", 40)
	for in, want := range map[string]string{
		"scanner01":         "scanner01",
		"evil\r\nremote_ip": "evil??remote_ip",
		long:                "a" + strings.Repeat("é", 31) + "…",
	} {
		got := logSafe(in)
		if got != want || !utf8.ValidString(got) {
			t.Errorf("logSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
