package mtasts

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mailflowhq/mailflow/internal/dnsres"
)

// DefaultRefreshAfter is how old a cached policy may get before a delivery
// starts a background refresh even though the TXT id did not change.
const DefaultRefreshAfter = 24 * time.Hour

// Origin says where a Result's policy came from.
type Origin string

const (
	OriginNone    Origin = "none"    // the domain has no policy (or none could be obtained)
	OriginCache   Origin = "cache"   // a cached, unexpired policy
	OriginFetched Origin = "fetched" // fetched for this lookup
)

// Result is the policy that applies to a delivery to one domain.
type Result struct {
	Domain string
	// Policy applies when not nil. A policy in mode none is returned too
	// (the domain withdrew it); Applies says whether it constrains.
	Policy *Policy
	ID     string
	Origin Origin
	// Err is why no policy could be obtained although the domain
	// publishes a TXT record: a *FetchError whose Type TLS-RPT reports.
	Err error
}

// Applies reports whether the result constrains delivery (mode enforce or
// testing).
func (r Result) Applies() bool { return r.Policy != nil && r.Policy.Mode != ModeNone }

// Client looks policies up, caching them in Dir.
type Client struct {
	Fetcher
	// Dir holds the cached policies (one JSON file per domain); "" keeps
	// them in memory only.
	Dir string
	// RefreshAfter: see DefaultRefreshAfter.
	RefreshAfter time.Duration
	Logger       *slog.Logger

	mu         sync.Mutex
	mem        map[string]*Entry
	failed     map[string]failMemo
	refreshing map[string]bool
	lastTry    map[string]time.Time // last background refresh per domain
	wg         sync.WaitGroup
	ctx        context.Context
	cancel     context.CancelFunc
}

func (c *Client) now() time.Time {
	if f := c.fetcher(); f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Client) init() {
	if c.mem == nil {
		c.mem = map[string]*Entry{}
		c.failed = map[string]failMemo{}
		c.refreshing = map[string]bool{}
		c.lastTry = map[string]time.Time{}
		c.ctx, c.cancel = context.WithCancel(context.Background())
	}
}

// FailureMemo is how long a failure to obtain a policy is remembered, so
// the sender does not fetch again for every MX host and message while a
// domain's policy server is down.
const FailureMemo = 5 * time.Minute

type failMemo struct {
	err   error
	until time.Time
}

// SetFetcher replaces how policies are fetched (the trust store or the
// resolver changed with a configuration reload); the cache stays.
func (c *Client) SetFetcher(f Fetcher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Fetcher = f
}

func (c *Client) fetcher() *Fetcher {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.Fetcher
	return &f
}

// Cached returns domain's cached policy (memory, else disk), nil when there
// is none, expired or not.
func (c *Client) Cached(domain string) *Entry {
	domain = normalize(domain)
	c.mu.Lock()
	c.init()
	e := c.mem[domain]
	c.mu.Unlock()
	if e != nil {
		return e
	}
	path := cacheFile(c.Dir, domain)
	if path == "" {
		return nil
	}
	e, err := readEntry(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.logger().Warn("MTA-STS cache entry ignored", "domain", domain, "error", err)
		}
		return nil
	}
	c.mu.Lock()
	if c.mem[domain] == nil {
		c.mem[domain] = e
	}
	e = c.mem[domain]
	c.mu.Unlock()
	return e
}

// Lookup returns the policy that applies to a delivery to domain now. With
// no valid cached policy it fetches one (bounded by the fetch timeout);
// otherwise it returns the cached one and refreshes it in the background
// when the TXT id changed or the policy is older than RefreshAfter.
func (c *Client) Lookup(ctx context.Context, domain string) Result {
	domain = normalize(domain)
	res := Result{Domain: domain, Origin: OriginNone}
	e := c.Cached(domain)
	now := c.now()
	valid := e != nil && now.Before(e.Expires())

	txts, terr := c.fetcher().resolver().LookupTXT(ctx, "_mta-sts."+domain)
	id, rerr := "", terr
	if terr == nil {
		id, rerr = PickRecord(txts)
	}
	if valid {
		res.Policy, res.ID, res.Origin = e.Policy, e.ID, OriginCache
		refreshAfter := c.RefreshAfter
		if refreshAfter <= 0 {
			refreshAfter = DefaultRefreshAfter
		}
		if rerr == nil && id != e.ID || now.Sub(e.Fetched) >= refreshAfter {
			c.refreshInBackground(domain, id)
		}
		return res
	}
	if terr != nil && isNotFound(terr) || errors.Is(rerr, ErrNoRecord) {
		return res // no policy published
	}
	if terr != nil {
		// A DNS failure with nothing cached: deliver as though the domain
		// had no policy (RFC 8461 §5.1), and say why.
		res.Err = &FetchError{Domain: domain, Type: ResultFetchError, Err: terr}
		return res
	}
	if rerr != nil {
		res.Err = &FetchError{Domain: domain, Type: ResultInvalid, Err: rerr}
		return res
	}
	c.mu.Lock()
	memo, failedRecently := c.failed[domain]
	c.mu.Unlock()
	if failedRecently && now.Before(memo.until) {
		res.Err = memo.err
		return res
	}
	ne, err := c.fetchAndStore(ctx, domain, id)
	if err != nil {
		c.mu.Lock()
		c.failed[domain] = failMemo{err: err, until: now.Add(FailureMemo)}
		c.mu.Unlock()
		res.Err = err
		return res
	}
	res.Policy, res.ID, res.Origin = ne.Policy, ne.ID, OriginFetched
	return res
}

// Refresh fetches domain's policy now and caches it (mailflow probe, and
// the background refresh).
func (c *Client) Refresh(ctx context.Context, domain string) (*Entry, error) {
	domain = normalize(domain)
	txts, err := c.fetcher().resolver().LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return nil, &FetchError{Domain: domain, Type: ResultFetchError, Err: err}
	}
	id, err := PickRecord(txts)
	if err != nil {
		return nil, &FetchError{Domain: domain, Type: ResultInvalid, Err: err}
	}
	return c.fetchAndStore(ctx, domain, id)
}

func (c *Client) fetchAndStore(ctx context.Context, domain, id string) (*Entry, error) {
	p, err := c.fetcher().Fetch(ctx, domain)
	if err != nil {
		return nil, err
	}
	e := &Entry{Domain: domain, ID: id, Policy: p, Fetched: c.now()}
	c.mu.Lock()
	c.init()
	c.mem[domain] = e
	delete(c.failed, domain)
	c.mu.Unlock()
	if path := cacheFile(c.Dir, domain); path != "" {
		if err := writeEntry(path, e); err != nil {
			// The policy still applies from memory; only a restart loses it.
			c.logger().Warn("MTA-STS policy not cached on disk", "domain", domain, "path", path, "error", err)
		}
	}
	return e, nil
}

// refreshInBackground starts one refresh per domain at a time, and at most
// one per FailureMemo, so a broken policy server is not asked again for
// every message. A failure keeps the cached policy (RFC 8461 §5.1).
func (c *Client) refreshInBackground(domain, id string) {
	now := c.now()
	c.mu.Lock()
	c.init()
	if c.refreshing[domain] || c.ctx.Err() != nil || now.Sub(c.lastTry[domain]) < FailureMemo {
		c.mu.Unlock()
		return
	}
	c.refreshing[domain] = true
	c.lastTry[domain] = now
	c.wg.Add(1)
	ctx := c.ctx
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.refreshing, domain)
			c.mu.Unlock()
		}()
		var err error
		if id == "" {
			_, err = c.Refresh(ctx, domain)
		} else {
			_, err = c.fetchAndStore(ctx, domain, id)
		}
		if err != nil {
			c.logger().Warn("MTA-STS policy refresh failed; the cached policy stays in force until it expires", "domain", domain, "error", err)
		}
	}()
}

// Close stops background refreshes and waits for them.
func (c *Client) Close() {
	c.mu.Lock()
	c.init()
	c.cancel()
	c.mu.Unlock()
	c.wg.Wait()
}

func normalize(domain string) string { return strings.ToLower(strings.TrimSuffix(domain, ".")) }

// Discover reads domain's _mta-sts TXT record and returns the policy id;
// ErrNoRecord when the domain publishes none.
func (f *Fetcher) Discover(ctx context.Context, domain string) (string, error) {
	txts, err := f.resolver().LookupTXT(ctx, "_mta-sts."+normalize(domain))
	if err != nil {
		if isNotFound(err) {
			return "", ErrNoRecord
		}
		return "", err
	}
	return PickRecord(txts)
}

func isNotFound(err error) bool {
	var de *net.DNSError
	var re *dnsres.Error
	return errors.As(err, &de) && de.IsNotFound || errors.As(err, &re) && re.NotFound
}
