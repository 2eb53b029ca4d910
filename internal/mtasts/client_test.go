package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

const testDomain = "example.test"

const enforcePolicy = "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n"

func newTestClient(t *testing.T, ps *policyServer, dns *fakeDNS, dir string, clock *testkit.Clock) *Client {
	t.Helper()
	c := &Client{
		Fetcher: Fetcher{Resolver: dns, Roots: ps.roots, Port: ps.port, Timeout: 5 * time.Second, Now: clock.Now},
		Dir:     dir,
	}
	t.Cleanup(c.Close)
	return c
}

func newDNS() *fakeDNS {
	return &fakeDNS{
		txt:   map[string][]string{"_mta-sts." + testDomain: {"v=STSv1; id=one"}},
		hosts: map[string][]string{"mta-sts." + testDomain: {"127.0.0.1"}},
	}
}

func TestLookupFetchesThenCaches(t *testing.T) {
	ps := newPolicyServer(t, testDomain)
	ps.serveText(enforcePolicy)
	dns := newDNS()
	clock := testkit.NewClock(time.Now())
	dir := t.TempDir()
	c := newTestClient(t, ps, dns, dir, clock)
	ctx := context.Background()

	r := c.Lookup(ctx, testDomain)
	if r.Err != nil || r.Origin != OriginFetched || !r.Applies() || r.Policy.Mode != ModeEnforce || r.ID != "one" {
		t.Fatalf("first lookup: %+v", r)
	}
	r = c.Lookup(ctx, "Example.Test.")
	if r.Origin != OriginCache || r.ID != "one" {
		t.Fatalf("second lookup: %+v", r)
	}
	if ps.hitCount() != 1 {
		t.Errorf("policy fetched %d times, want once", ps.hitCount())
	}

	// A restart: a new client over the same directory uses the cached
	// policy even while the policy server is down.
	ps.serve(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	c2 := newTestClient(t, ps, dns, dir, clock)
	r = c2.Lookup(ctx, testDomain)
	if r.Origin != OriginCache || !r.Applies() || !r.Policy.Matches("mx.example.test") {
		t.Fatalf("after restart: %+v", r)
	}

	// Past max_age, with the server down, no policy applies and the
	// failure is reported with its TLS-RPT type.
	clock.Advance(25 * time.Hour)
	r = c2.Lookup(ctx, testDomain)
	var fe *FetchError
	if r.Applies() || !errors.As(r.Err, &fe) || fe.Type != ResultFetchError || !strings.Contains(fe.Error(), "503") {
		t.Fatalf("expired, server down: %+v", r)
	}
	// The failure is remembered for a while: the next MX host or message
	// does not wait for the broken server again.
	hits := ps.hitCount()
	if r = c2.Lookup(ctx, testDomain); r.Err == nil || ps.hitCount() != hits {
		t.Fatalf("failure not remembered: %+v, %d fetches", r, ps.hitCount()-hits)
	}
	clock.Advance(FailureMemo)
	ps.serveText(enforcePolicy)
	if r = c2.Lookup(ctx, testDomain); r.Origin != OriginFetched {
		t.Fatalf("after the memo: %+v", r)
	}
}

func TestIDChangeRefreshesInBackground(t *testing.T) {
	ps := newPolicyServer(t, testDomain)
	ps.serveText(enforcePolicy)
	dns := newDNS()
	clock := testkit.NewClock(time.Now())
	c := newTestClient(t, ps, dns, t.TempDir(), clock)
	ctx := context.Background()
	if r := c.Lookup(ctx, testDomain); r.Origin != OriginFetched {
		t.Fatalf("first lookup: %+v", r)
	}
	ps.serveText("version: STSv1\nmode: testing\nmx: mx2.example.test\nmax_age: 86400\n")
	dns.setTXT("_mta-sts."+testDomain, "v=STSv1; id=two")
	// The delivery that notices the change still gets the cached policy
	// at once; the new one follows.
	if r := c.Lookup(ctx, testDomain); r.Origin != OriginCache || r.ID != "one" {
		t.Fatalf("lookup after id change: %+v", r)
	}
	testkit.Poll(t, 10*time.Second, "the policy with id two", func() (bool, string) {
		e := c.Cached(testDomain)
		return e.ID == "two" && e.Policy.Mode == ModeTesting, e.ID + " " + string(e.Policy.Mode)
	})
	if r := c.Lookup(ctx, testDomain); r.ID != "two" || !r.Policy.Matches("mx2.example.test") {
		t.Fatalf("after refresh: %+v", r)
	}
}

func TestFailedRefreshKeepsCachedPolicy(t *testing.T) {
	ps := newPolicyServer(t, testDomain)
	ps.serveText(enforcePolicy)
	dns := newDNS()
	clock := testkit.NewClock(time.Now())
	c := newTestClient(t, ps, dns, t.TempDir(), clock)
	ctx := context.Background()
	c.Lookup(ctx, testDomain)
	ps.serveText("garbage")
	dns.setTXT("_mta-sts."+testDomain, "v=STSv1; id=two")
	c.Lookup(ctx, testDomain)
	testkit.Eventually(t, 10*time.Second, "the refresh attempt", func() bool { return ps.hitCount() >= 2 })
	c.Close() // waits for the refresh to finish
	if e := c.Cached(testDomain); e.ID != "one" || e.Policy.Mode != ModeEnforce {
		t.Fatalf("a failed refresh replaced the policy: %+v", e)
	}
}

func TestNoPolicy(t *testing.T) {
	ps := newPolicyServer(t, testDomain)
	dns := newDNS()
	delete(dns.txt, "_mta-sts."+testDomain)
	c := newTestClient(t, ps, dns, t.TempDir(), testkit.NewClock(time.Now()))
	r := c.Lookup(context.Background(), testDomain)
	if r.Applies() || r.Err != nil || r.Origin != OriginNone {
		t.Fatalf("no TXT: %+v", r)
	}
	if ps.hitCount() != 0 {
		t.Errorf("fetched a policy for a domain without TXT record")
	}
	dns.err = errors.New("server failure")
	r = c.Lookup(context.Background(), testDomain)
	if r.Applies() || r.Err == nil {
		t.Fatalf("DNS failure, nothing cached: %+v", r)
	}
}

// Hostile policy servers: every one gives a clear error of the right
// TLS-RPT type, never a policy and never a hang.
func TestFetchHostile(t *testing.T) {
	ps := newPolicyServer(t, testDomain)
	dns := newDNS()
	stop := make(chan struct{})
	defer close(stop)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		typ     string
		want    string
	}{
		{"oversized", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(enforcePolicy + strings.Repeat("x: y\n", MaxPolicySize/4)))
		}, ResultInvalid, "larger than"},
		{"garbled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("\x00\x01\x02 version STSv1 \xff\xfe"))
		}, ResultInvalid, "key: value"},
		{"html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(enforcePolicy))
		}, ResultInvalid, "must be text/plain"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		}, ResultFetchError, "redirects are not followed"},
		{"not found", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, ResultFetchError, "404"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("version: STSv1\n"))
			w.(http.Flusher).Flush()
			<-stop // a server that stalls mid-body until the test ends
		}, ResultFetchError, "within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps.serve(tc.handler)
			f := &Fetcher{Resolver: dns, Roots: ps.roots, Port: ps.port, Timeout: 500 * time.Millisecond}
			p, err := f.Fetch(context.Background(), testDomain)
			var fe *FetchError
			if p != nil || !errors.As(err, &fe) || fe.Type != tc.typ || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fetch = %+v, %v; want %s with %q", p, err, tc.typ, tc.want)
			}
		})
	}
}

func TestFetchUntrustedCertificate(t *testing.T) {
	ps := newPolicyServer(t, testDomain)
	ps.serveText(enforcePolicy)
	f := &Fetcher{Resolver: newDNS(), Port: ps.port, Timeout: 5 * time.Second} // system roots only
	_, err := f.Fetch(context.Background(), testDomain)
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Type != ResultWebPKI {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

// TestThousandTXTRecords: a TXT answer of 1,000 records is judged, not
// choked on: 1,000 STS records are an invalid publication, one STS record
// among 999 others is found.
func TestThousandTXTRecords(t *testing.T) {
	ps := newPolicyServer(t, testDomain)
	ps.serveText(enforcePolicy)
	dns := newDNS()
	c := newTestClient(t, ps, dns, t.TempDir(), testkit.NewClock(time.Now()))
	many := make([]string, 1000)
	for i := range many {
		many[i] = fmt.Sprintf("v=STSv1; id=n%d", i)
	}
	dns.setTXT("_mta-sts."+testDomain, many...)
	r := c.Lookup(context.Background(), testDomain)
	var fe *FetchError
	if r.Applies() || !errors.As(r.Err, &fe) || fe.Type != ResultInvalid || !strings.Contains(r.Err.Error(), "1000 v=STSv1 records") {
		t.Fatalf("1,000 STS records: %+v", r)
	}
	for i := range many {
		many[i] = fmt.Sprintf("google-site-verification=%d", i)
	}
	many[500] = "v=STSv1; id=real"
	dns.setTXT("_mta-sts."+testDomain, many...)
	if r := c.Lookup(context.Background(), testDomain); !r.Applies() || r.ID != "real" {
		t.Fatalf("one STS record among 999: %+v", r)
	}
}

// TestBrokenRefreshNotHammered: while the policy server is broken, a
// changed id is refetched at most once per FailureMemo, not per message.
func TestBrokenRefreshNotHammered(t *testing.T) {
	ps := newPolicyServer(t, testDomain)
	ps.serveText(enforcePolicy)
	dns := newDNS()
	clock := testkit.NewClock(time.Now())
	c := newTestClient(t, ps, dns, t.TempDir(), clock)
	ctx := context.Background()
	c.Lookup(ctx, testDomain)
	ps.serveText("garbage")
	dns.setTXT("_mta-sts."+testDomain, "v=STSv1; id=two")
	idle := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.refreshing[testDomain]
	}
	c.Lookup(ctx, testDomain)
	testkit.Eventually(t, 10*time.Second, "the first refresh attempt to finish", func() bool { return ps.hitCount() == 2 && idle() })
	for i := 0; i < 5; i++ {
		if r := c.Lookup(ctx, testDomain); r.ID != "one" {
			t.Fatalf("lookup %d: %+v", i, r)
		}
	}
	if !idle() || ps.hitCount() != 2 {
		t.Fatalf("refetched within FailureMemo: %d fetches", ps.hitCount())
	}
	clock.Advance(FailureMemo)
	c.Lookup(ctx, testDomain)
	testkit.Eventually(t, 10*time.Second, "a new attempt after FailureMemo", func() bool { return ps.hitCount() == 3 })
}
