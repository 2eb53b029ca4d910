package send

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Connection reuse defaults: Exchange's MaxMessagesPerConnection and
// MaxPerDomainOutboundConnections; an idle connection is kept briefly (as
// Postfix's connection cache does), because it holds a session on the peer.
const (
	DefaultMaxMessagesPerConnection = 20
	DefaultMaxPerHopConnections     = 20
	DefaultIdleTimeout              = 5 * time.Second
	DefaultMaxConnections           = 100
)

// Pool keeps connections to next hops open between deliveries, so that the
// next message to the same hop skips the connect, EHLO and TLS handshake.
// One Pool serves every Sender of a server: a configuration change makes a
// new Sender, and a connection made under the old one is reused only if
// everything that decided it (hopKey) is unchanged.
//
// A connection is reused only for the same next hop: the same address and
// host name, source IP, EHLO name, connector, TLS requirement and level,
// expected certificate name, trusted roots, client certificate and the
// target's DANE or MTA-STS policy. Its TLS
// verdict was judged once, at connect, and stands for every message sent
// over it; a certificate the peer changes is therefore seen by the next
// connection, at most MaxMessagesPerConnection messages or one idle
// timeout later.
type Pool struct {
	// MaxConnections bounds the connections open to all next hops
	// together (0 = DefaultMaxConnections). Idle connections of other
	// hops are closed to make room before a delivery waits.
	MaxConnections int

	mu      sync.Mutex
	hops    map[hopKey]*hop
	open    int
	changed chan struct{} // closed and replaced whenever a slot or an idle connection appears
	closed  bool

	dials  atomic.Uint64
	reuses atomic.Uint64
}

// hopKey is everything that decides what a connection is allowed to carry.
// Two deliveries share a connection only when all of it is equal.
type hopKey struct {
	connector  string
	log        bool
	addr, host string
	sourceIP   string
	helo       string
	useTLS     bool
	requireTLS bool
	level      tlscheck.Level
	expected   string // the name DomainValidation checks; "" below that level
	clientCert string // the client certificate that would be presented
	roots      *x509.CertPool
	policy     string // the target's DANE or MTA-STS policy, as published
}

type hop struct {
	idle []*pooledConn // most recently used last
	open int           // idle and in use
}

// pooledConn is a connection that belongs to the pool while idle.
type pooledConn struct {
	cn     *Connection
	key    hopKey
	sent   int // transactions begun on it
	inPool bool
	timer  *time.Timer
}

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{hops: map[hopKey]*hop{}, changed: make(chan struct{})} }

// Stats says how many connections the pool opened and how many deliveries
// went over a connection opened for an earlier one.
func (p *Pool) Stats() (dials, reuses uint64) { return p.dials.Load(), p.reuses.Load() }

// Close ends every idle connection (QUIT); connections in use are closed
// when their delivery ends.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	var idle []*pooledConn
	for k, h := range p.hops {
		for _, pc := range h.idle {
			pc.inPool = false
			pc.timer.Stop()
			idle = append(idle, pc)
		}
		h.open -= len(h.idle)
		p.open -= len(h.idle)
		h.idle = nil
		p.dropIfEmpty(k, h)
	}
	p.notify()
	p.mu.Unlock()
	for _, pc := range idle {
		pc.cn.Close()
	}
}

// SetMaxConnections changes MaxConnections while the pool is in use (a
// configuration reload); connections open above a lowered limit are not
// cut, new ones wait until the total is under it.
func (p *Pool) SetMaxConnections(n int) {
	p.mu.Lock()
	p.MaxConnections = n
	p.notify()
	p.mu.Unlock()
}

// Limit is the total connection limit in force (MaxConnections, or the
// default when it is 0).
func (p *Pool) Limit() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxConnections()
}

func (p *Pool) maxConnections() int {
	if p.MaxConnections > 0 {
		return p.MaxConnections
	}
	return DefaultMaxConnections
}

// acquire returns an idle connection for key, or nil with a reserved slot
// for a new one (the caller dials and then calls put or drop). It waits
// while the hop has maxPerHop connections open and none idle.
func (p *Pool) acquire(ctx context.Context, key hopKey, maxPerHop int) (*pooledConn, error) {
	for {
		p.mu.Lock()
		h := p.hops[key]
		if h == nil {
			h = &hop{}
			p.hops[key] = h
		}
		if n := len(h.idle); n > 0 {
			pc := h.idle[n-1]
			h.idle = h.idle[:n-1]
			pc.inPool = false
			pc.timer.Stop()
			p.mu.Unlock()
			p.reuses.Add(1)
			return pc, nil
		}
		var evict *pooledConn
		if h.open < maxPerHop && p.open >= p.maxConnections() {
			evict = p.oldestIdleLocked()
		}
		if h.open < maxPerHop && p.open < p.maxConnections() {
			h.open++
			p.open++
			p.mu.Unlock()
			if evict != nil {
				evict.cn.Close()
			}
			p.dials.Add(1)
			return nil, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			p.dropIfEmpty(key, h)
			p.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

// oldestIdleLocked takes the least recently used idle connection of any
// hop out of the pool, freeing its slot; nil when none is idle.
func (p *Pool) oldestIdleLocked() *pooledConn {
	var (
		best    *pooledConn
		bestHop *hop
		bestKey hopKey
	)
	for k, h := range p.hops {
		if len(h.idle) > 0 && (best == nil || h.idle[0].cn.idleSince.Before(best.cn.idleSince)) {
			best, bestHop, bestKey = h.idle[0], h, k
		}
	}
	if best == nil {
		return nil
	}
	bestHop.idle = bestHop.idle[1:]
	best.inPool = false
	best.timer.Stop()
	bestHop.open--
	p.open--
	p.dropIfEmpty(bestKey, bestHop)
	return best
}

// put returns a connection that ended its transaction cleanly; it stays
// open for idle and is closed after it.
func (p *Pool) put(pc *pooledConn, idle time.Duration) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.release(pc.key)
		pc.cn.Close()
		return
	}
	h := p.hops[pc.key]
	pc.inPool = true
	pc.cn.idleSince = time.Now()
	h.idle = append(h.idle, pc)
	if pc.timer == nil {
		pc.timer = time.AfterFunc(idle, func() { p.expire(pc) })
	} else {
		pc.timer.Reset(idle)
	}
	p.notify()
	p.mu.Unlock()
}

// expire closes a connection that stayed idle for its idle timeout.
func (p *Pool) expire(pc *pooledConn) {
	p.mu.Lock()
	if !pc.inPool {
		p.mu.Unlock()
		return
	}
	h := p.hops[pc.key]
	for i, x := range h.idle {
		if x == pc {
			h.idle = append(h.idle[:i], h.idle[i+1:]...)
			break
		}
	}
	pc.inPool = false
	h.open--
	p.open--
	p.dropIfEmpty(pc.key, h)
	p.notify()
	p.mu.Unlock()
	pc.cn.Close()
}

// release frees the slot of a connection that was closed (or never
// opened).
func (p *Pool) release(key hopKey) {
	p.mu.Lock()
	if h := p.hops[key]; h != nil {
		h.open--
		p.open--
		p.dropIfEmpty(key, h)
	}
	p.notify()
	p.mu.Unlock()
}

func (p *Pool) dropIfEmpty(key hopKey, h *hop) {
	if h.open == 0 && len(h.idle) == 0 {
		delete(p.hops, key)
	}
}

func (p *Pool) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Open reports the connections open now (idle and in use), for tests and
// the admin view.
func (p *Pool) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// hopKey is what a delivery through c to t may share a connection with.
func (s *Sender) hopKey(c Connector, t Target, helo, domain string, useTLS bool, pol *TargetPolicy) hopKey {
	k := hopKey{
		connector: c.Name, log: c.Log, addr: t.Addr(), host: t.Host, sourceIP: c.SourceIP, helo: helo,
		useTLS: useTLS, requireTLS: c.requireTLS(), level: c.Level, roots: s.Roots,
	}
	if c.Level >= tlscheck.DomainValidation {
		k.expected = c.TLSDomain
		if k.expected == "" {
			k.expected = domain
		}
	}
	if s.Store != nil {
		if cert, _ := s.clientCertificate(c, s.now(), nil); cert != nil {
			k.clientCert = cert.Thumbprint
		}
	}
	k.clientCert = c.CertificateName + "|" + k.clientCert
	if pol != nil {
		// The published records decide the check: a changed TLSA record
		// set or MTA-STS policy makes a new connection.
		k.policy = fmt.Sprintf("%s|%s|%q|%t|%t|%s|%s|%s", pol.Type, pol.Domain, pol.Strings, pol.RequireTLS, pol.Enforce,
			pol.ServerName, pol.Check.Level, pol.Check.ExpectedName)
	}
	return k
}

func (c Connector) maxMessagesPerConnection() int {
	if c.MaxMessagesPerConnection > 0 {
		return c.MaxMessagesPerConnection
	}
	return DefaultMaxMessagesPerConnection
}

func (c Connector) maxPerHop() int {
	if c.MaxPerHopConnections > 0 {
		return c.MaxPerHopConnections
	}
	return DefaultMaxPerHopConnections
}

func (c Connector) idleTimeout() time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return DefaultIdleTimeout
}

// reuseNote is the protocol log line for a message sent over a kept
// connection: the TLS verdict it travels under was judged at connect.
func reuseNote(id string, n, max int, tlsInfo *TLSInfo) string {
	v := "no TLS"
	if tlsInfo != nil {
		v = tlsInfo.Version + " " + tlsInfo.CipherSuite
		if tlsInfo.Verdict.OK {
			v += ", certificate validation succeeded (" + tlsInfo.Verdict.Level.String() + ")"
		}
	}
	return fmt.Sprintf("Reusing connection for message %s (%d of at most %d); TLS as negotiated at connect: %s", id, n, max, v)
}
