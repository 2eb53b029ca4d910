package acme

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/acmelab"
	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/clock"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

type installed struct {
	mu    sync.Mutex
	certs []*certs.Certificate
	steps []string
}

func (in *installed) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.certs)
}

func newManager(t *testing.T, p *acmelab.CA, clk clock.Clock, reuse bool) (*Manager, *installed, *testkit.LogBuffer) {
	t.Helper()
	dir := t.TempDir()
	logger, logs := testkit.RecordLogs(t)
	in := &installed{}
	file := filepath.Join(dir, "mail.contoso.com.pem")
	m, err := New(Options{
		Entry: "certificates[1]",
		ACME: config.ACME{Domains: []string{"mail.contoso.com", "autodiscover.contoso.com"}, Directory: p.Directory,
			Email: "postmaster@contoso.com", Challenge: config.ChallengeTLSALPN, ChallengeListen: "127.0.0.1:0", ReuseKey: reuse, KeyType: "ecdsa-p256"},
		File: file, StateDir: filepath.Join(dir, "acme"), Roots: p.Roots, Clock: clk, Logger: logger,
		Install: func(c *certs.Certificate) error {
			if err := certs.WritePEM(file, c); err != nil {
				return err
			}
			in.mu.Lock()
			in.certs = append(in.certs, c)
			in.mu.Unlock()
			return nil
		},
		Record: func(step, entry string, c *certs.Certificate, detail string) {
			in.mu.Lock()
			in.steps = append(in.steps, step)
			in.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, in, logs
}

func samePublicKey(a, b *certs.Certificate) bool {
	pa, ok := a.Leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pa.Equal(b.Leaf.PublicKey)
}

// Issuance, then a renewal once the injected clock passes the renewal
// time (two thirds of a one-hour certificate, or Pebble's ARI window), with
// the key kept (reuse_key) or replaced.
func TestObtainAndRenew(t *testing.T) {
	p := testkit.StartPebble(t, 3600)
	for _, reuse := range []bool{true, false} {
		name := "new key"
		if reuse {
			name = "reuse_key"
		}
		t.Run(name, func(t *testing.T) {
			clock := testkit.NewClock(time.Now())
			m, in, logs := newManager(t, p, clock, reuse)
			ctx := context.Background()
			next := m.Step(ctx)
			if in.count() != 1 {
				t.Fatalf("first step installed %d certificates: %v", in.count(), m.LastError())
			}
			first := m.Current()
			if first == nil || !certs.MatchesName(first.Leaf, "mail.contoso.com") || !certs.MatchesName(first.Leaf, "autodiscover.contoso.com") {
				t.Fatalf("obtained %+v", first)
			}
			life := first.Leaf.NotAfter.Sub(first.Leaf.NotBefore)
			if life > 2*time.Hour {
				t.Fatalf("certificate lives %s, want Pebble's one-hour profile", life)
			}
			if !next.After(clock.Now()) || !next.Before(first.Leaf.NotAfter) {
				t.Fatalf("renewal at %s, not within the certificate's life (%s – %s)", next, first.Leaf.NotBefore, first.Leaf.NotAfter)
			}
			if again := m.Step(ctx); in.count() != 1 || !again.Equal(next) {
				t.Fatalf("a step before the renewal time renewed (%d) or moved the time (%s → %s)", in.count(), next, again)
			}
			clock.Advance(next.Sub(clock.Now()) + time.Second)
			m.Step(ctx)
			if in.count() != 2 {
				t.Fatalf("no renewal after the renewal time: %v", m.LastError())
			}
			second := m.Current()
			if second.Thumbprint == first.Thumbprint {
				t.Fatal("renewal kept the same certificate")
			}
			if samePublicKey(first, second) != reuse {
				t.Fatalf("reuse_key %v but same key %v", reuse, samePublicKey(first, second))
			}
			if !strings.Contains(logs.String(), "ACME certificate renewed and applied live") {
				t.Fatalf("renewal not logged:\n%s", logs)
			}
			if got := strings.Join(in.steps, ","); got != "obtained,renewed" {
				t.Fatalf("recorded steps %s", got)
			}
			// "Renew now" does not wait for the renewal time.
			if err := m.RenewNow(ctx); err != nil || in.count() != 3 || m.Current().Thumbprint == second.Thumbprint {
				t.Fatalf("RenewNow: %v, %d installed", err, in.count())
			}
		})
	}
}

// The CA is unreachable at renewal time: the current certificate stays,
// a warning says so, and attempts are retried with growing backoff until
// the CA is back.
func TestRenewalWhileCAUnreachable(t *testing.T) {
	p := testkit.StartPebble(t, 3600)
	clock := testkit.NewClock(time.Now())
	m, in, logs := newManager(t, p, clock, true)
	ctx := context.Background()
	next := m.Step(ctx)
	first := m.Current()
	if first == nil {
		t.Fatalf("no certificate: %v", m.LastError())
	}
	p.Stop()
	clock.Advance(next.Sub(clock.Now()) + time.Second)
	var waits []time.Duration
	for range 3 {
		at := m.Step(ctx)
		waits = append(waits, at.Sub(clock.Now()))
		clock.Advance(at.Sub(clock.Now()))
	}
	if waits[0] != time.Minute || waits[1] != 5*time.Minute || waits[2] != 15*time.Minute {
		t.Fatalf("backoff %v, want 1m 5m 15m", waits)
	}
	if cur := m.Current(); cur == nil || cur.Thumbprint != first.Thumbprint || in.count() != 1 {
		t.Fatal("the current certificate was not kept while the CA was unreachable")
	}
	if !strings.Contains(logs.String(), "keeping the current certificate "+first.Thumbprint) || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no warning:\n%s", logs)
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	m.Step(ctx)
	if in.count() != 2 || m.LastError() != nil {
		t.Fatalf("after the CA came back: installed %d, error %v", in.count(), m.LastError())
	}
}

// A rate-limit answer is surfaced with the CA's detail and waits at least
// RateLimitBackoff.
func TestRateLimitIsSurfaced(t *testing.T) {
	p := testkit.StartPebble(t, 3600)
	p.RateLimited.Store(true)
	clock := testkit.NewClock(time.Now())
	m, in, logs := newManager(t, p, clock, false)
	at := m.Step(context.Background())
	err := m.LastError()
	if err == nil || in.count() != 0 || !strings.Contains(err.Error(), "rate-limits") || !strings.Contains(err.Error(), "too many certificates") {
		t.Fatalf("rate limited: %v", err)
	}
	if at.Sub(clock.Now()) < RateLimitBackoff {
		t.Fatalf("retry after %s, want at least %s", at.Sub(clock.Now()), RateLimitBackoff)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "rateLimited") {
		t.Fatalf("not logged as an error:\n%s", logs)
	}
	if p.Orders.Load() == 0 {
		t.Fatal("no order reached the CA")
	}
}

// A directory whose HTTPS certificate is not trusted is refused with the
// fix (trust.ca_files).
func TestDirectoryMustBeTrusted(t *testing.T) {
	p := testkit.StartPebble(t, 3600)
	p.Roots = nil // system roots only: the loopback test CA is not among them
	m, _, _ := newManager(t, p, testkit.NewClock(time.Now()), false)
	m.Step(context.Background())
	if err := m.LastError(); err == nil || !strings.Contains(err.Error(), "trust.ca_files") {
		t.Fatalf("untrusted directory: %v", err)
	}
}

// Run obtains at once and renews when the injected clock reaches the
// renewal time, without waiting.
func TestRunRenewsOnTheInjectedClock(t *testing.T) {
	p := testkit.StartPebble(t, 3600)
	clock := testkit.NewClock(time.Now())
	m, in, _ := newManager(t, p, clock, true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wait, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	if err := clock.WaitForTimers(wait, 1); err != nil || in.count() != 1 {
		t.Fatalf("Run did not obtain and wait: %v, %d", err, in.count())
	}
	clock.Advance(time.Hour)
	testkit.Eventually(t, time.Minute, "Run renews after the clock passes the renewal time", func() bool { return in.count() >= 2 })
}

// A real http-01 validation: the CA resolves the names to 127.0.0.1 and
// fetches the key authorisations from the challenge listener.
func TestHTTP01ValidatedForReal(t *testing.T) {
	port := testkit.FreePort(t)
	p := testkit.StartACME(t, acmelab.Options{Validity: 3600, HTTPPort: port})
	m, in, _ := newManager(t, p, testkit.NewClock(time.Now()), false)
	m.o.ACME.Challenge = config.ChallengeHTTP
	m2, err := New(Options{Entry: m.o.Entry, ACME: config.ACME{Domains: m.o.ACME.Domains, Directory: p.Directory, Challenge: config.ChallengeHTTP,
		ChallengeListen: fmt.Sprintf("127.0.0.1:%d", port), KeyType: "ecdsa-p256"},
		File: m.o.File, StateDir: m.o.StateDir, Roots: p.Roots, Clock: m.o.Clock, Logger: m.o.Logger, Install: m.o.Install})
	if err != nil {
		t.Fatal(err)
	}
	m2.Step(context.Background())
	if in.count() != 1 || m2.LastError() != nil {
		t.Fatalf("http-01: installed %d, error %v", in.count(), m2.LastError())
	}
}

// A challenge the CA cannot validate (nothing answers on its port) fails
// with the CA's reason, and the attempt is retried later.
func TestChallengeFailureIsReported(t *testing.T) {
	port := testkit.FreePort(t)
	p := testkit.StartACME(t, acmelab.Options{Validity: 3600, TLSPort: port})
	clock := testkit.NewClock(time.Now())
	m, in, _ := newManager(t, p, clock, false) // its listener is 127.0.0.1:0, not the CA's port
	at := m.Step(context.Background())
	if in.count() != 0 || m.LastError() == nil || at.Sub(clock.Now()) != time.Minute {
		t.Fatalf("unanswerable challenge: installed %d, error %v, retry in %s", in.count(), m.LastError(), at.Sub(clock.Now()))
	}
}

// dns-01 goes through the administrator's hook: "HOOK present NAME VALUE"
// before the validation and "HOOK cleanup NAME VALUE" after it.
func TestDNS01RunsTheHook(t *testing.T) {
	p := testkit.StartPebble(t, 3600)
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	hook := filepath.Join(dir, "hook.sh")
	testkit.WriteFile(t, hook, "#!/bin/sh\necho \"$@\" >> "+calls+"\n")
	if err := os.Chmod(hook, 0o755); err != nil {
		t.Fatal(err)
	}
	m, in, _ := newManager(t, p, testkit.NewClock(time.Now()), false)
	m2, err := New(Options{Entry: m.o.Entry, ACME: config.ACME{Domains: []string{"mail.contoso.com"}, Directory: p.Directory, Challenge: config.ChallengeDNS,
		DNSHook: hook, KeyType: "ecdsa-p256"},
		File: m.o.File, StateDir: m.o.StateDir, Roots: p.Roots, Clock: m.o.Clock, Logger: m.o.Logger, Install: m.o.Install})
	if err != nil {
		t.Fatal(err)
	}
	m2.Step(context.Background())
	if in.count() != 1 {
		t.Fatalf("dns-01: %v", m2.LastError())
	}
	got := string(testkit.ReadFile(t, calls))
	if !strings.Contains(got, "present _acme-challenge.mail.contoso.com ") || !strings.Contains(got, "cleanup _acme-challenge.mail.contoso.com ") {
		t.Fatalf("hook calls:\n%s", got)
	}
}
