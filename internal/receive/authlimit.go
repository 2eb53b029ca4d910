package receive

import (
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
)

// authLimiter counts failed authentications per client IP and per user
// and remembers accepted messages per user. It outlives sessions and
// configuration changes (it belongs to the Service), uses the settings'
// clock, and never sleeps itself: it says how long to wait, the session
// waits.
//
// Rules:
//   - Every failure from an IP within the window makes the next answer
//     slower (tarpit): 0, then base, 2×base, 4×base … up to 32×base.
//   - After auth_failures_per_ip failures in the window the IP is locked
//     out for auth_lockout: AUTH gets 454 4.7.0 without a password check.
//   - After auth_failures_per_user failures of one existing user, from any
//     IP, that user is locked out — except from IPs where it logged in
//     successfully in the last day, so a device that works keeps working
//     while someone elsewhere guesses its password.
type authLimiter struct {
	mu    sync.Mutex
	ips   map[netip.Addr]*failures
	users map[string]*failures   // lower-case user name
	sent  map[string][]time.Time // lower-case user name → accepted messages in the last minute
}

type failures struct {
	times  []time.Time // failures within the window, oldest first
	locked time.Time   // locked out until
	good   map[netip.Addr]time.Time
}

// maxTracked bounds the IPs remembered, so failures sprayed from many
// addresses cannot grow the table without limit: expired entries are
// dropped first, then the least telling ones (see evict).
const maxTracked = 10000

// knownGood is how long a successful login exempts an IP from its user's
// lock-out.
const knownGood = 24 * time.Hour

func newAuthLimiter() *authLimiter {
	return &authLimiter{ips: map[netip.Addr]*failures{}, users: map[string]*failures{}, sent: map[string][]time.Time{}}
}

func (f *failures) prune(now time.Time, window time.Duration) {
	i := 0
	for i < len(f.times) && now.Sub(f.times[i]) >= window {
		i++
	}
	f.times = f.times[i:]
}

// ipLocked reports until when ip is locked out (zero: not locked).
func (l *authLimiter) ipLocked(now time.Time, ip netip.Addr) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.ips[ip]; f != nil && now.Before(f.locked) {
		return f.locked
	}
	return time.Time{}
}

// userLocked reports whether user is locked out for a client at ip.
func (l *authLimiter) userLocked(now time.Time, user string, ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.users[strings.ToLower(user)]
	if f == nil || !now.Before(f.locked) {
		return false
	}
	if t, ok := f.good[ip]; ok && now.Sub(t) < knownGood {
		return false
	}
	return true
}

// fail records a failure. user is "" when the name is unknown (only real
// users are counted, so the map stays as small as the user store). It
// returns the tarpit delay and what was locked just now.
func (l *authLimiter) fail(now time.Time, ip netip.Addr, user string, lim config.Limits) (delay time.Duration, ipLockedNow, userLockedNow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	window := time.Duration(lim.AuthFailureWindow)
	f := l.ips[ip]
	if f == nil {
		if len(l.ips) >= maxTracked {
			l.dropExpired(now, window)
			if len(l.ips) >= maxTracked {
				l.evict(now, maxTracked*3/4)
			}
		}
		f = &failures{}
		l.ips[ip] = f
	}
	f.prune(now, window)
	f.times = append(f.times, now)
	if len(f.times) > lim.AuthFailuresPerIP {
		f.times = f.times[len(f.times)-lim.AuthFailuresPerIP:]
	}
	if n := len(f.times); n >= lim.AuthFailuresPerIP && !now.Before(f.locked) {
		f.locked = now.Add(time.Duration(lim.AuthLockout))
		ipLockedNow = true
	}
	delay = tarpit(len(f.times), time.Duration(lim.AuthTarpit))
	if user != "" {
		k := strings.ToLower(user)
		u := l.users[k]
		if u == nil {
			u = &failures{}
			l.users[k] = u
		}
		u.prune(now, window)
		u.times = append(u.times, now)
		if len(u.times) > lim.AuthFailuresPerUser {
			u.times = u.times[len(u.times)-lim.AuthFailuresPerUser:]
		}
		if len(u.times) >= lim.AuthFailuresPerUser && !now.Before(u.locked) {
			u.locked = now.Add(time.Duration(lim.AuthLockout))
			userLockedNow = true
		}
	}
	return delay, ipLockedNow, userLockedNow
}

// tarpit is the delay before answering the n-th failure in the window.
func tarpit(n int, base time.Duration) time.Duration {
	if n <= 1 || base <= 0 {
		return 0
	}
	shift := n - 2
	if shift > 5 {
		shift = 5
	}
	return base << shift
}

// succeed clears the IP's failures and marks ip good for user.
func (l *authLimiter) succeed(now time.Time, ip netip.Addr, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.ips[ip]; f != nil && !now.Before(f.locked) {
		delete(l.ips, ip)
	}
	k := strings.ToLower(user)
	u := l.users[k]
	if u == nil {
		u = &failures{}
		l.users[k] = u
	}
	if u.good == nil {
		u.good = map[netip.Addr]time.Time{}
	}
	if len(u.good) >= 64 {
		for a, t := range u.good {
			if now.Sub(t) >= knownGood {
				delete(u.good, a)
			}
		}
	}
	if len(u.good) < 64 {
		u.good[ip] = now
	}
}

func (l *authLimiter) dropExpired(now time.Time, window time.Duration) {
	for ip, f := range l.ips {
		f.prune(now, window)
		if len(f.times) == 0 && !now.Before(f.locked) {
			delete(l.ips, ip)
		}
	}
}

// evict shrinks the IP table to keep entries: addresses not locked out go
// first, those whose last failure is oldest before the others; locked
// addresses only when nothing else is left, the lock ending first first.
// Shrinking by a quarter at once keeps the cost of a full table (a sort)
// rare under a spray of single failures.
func (l *authLimiter) evict(now time.Time, keep int) {
	type entry struct {
		ip     netip.Addr
		locked bool
		when   time.Time // last failure, or end of the lock
	}
	all := make([]entry, 0, len(l.ips))
	for ip, f := range l.ips {
		e := entry{ip: ip, locked: now.Before(f.locked), when: f.locked}
		if !e.locked && len(f.times) > 0 {
			e.when = f.times[len(f.times)-1]
		}
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].locked != all[j].locked {
			return !all[i].locked
		}
		return all[i].when.Before(all[j].when)
	})
	for _, e := range all[:len(all)-keep] {
		delete(l.ips, e.ip)
	}
}

// rateExceeded reports whether user already had perMinute messages
// accepted in the last minute (perMinute 0: no limit).
func (l *authLimiter) rateExceeded(now time.Time, user string, perMinute int) bool {
	if perMinute <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := strings.ToLower(user)
	ts := l.sent[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= time.Minute {
		i++
	}
	l.sent[k] = ts[i:]
	return len(ts)-i >= perMinute
}

// accepted records a message accepted for user.
func (l *authLimiter) accepted(now time.Time, user string, perMinute int) {
	if perMinute <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := strings.ToLower(user)
	ts := append(l.sent[k], now)
	if len(ts) > perMinute {
		ts = ts[len(ts)-perMinute:]
	}
	l.sent[k] = ts
}
