package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// clientTLS is what the load generator offers: no certificate check (the
// relay's EncryptionOnly, Postfix's "encrypt"), no session cache, so every
// session pays a full handshake as a fresh sender would, and X25519 or
// P-256 key exchange only. Go would offer the hybrid X25519MLKEM768 by
// default, which mailflow's Go server accepts and Postfix 3.7 (OpenSSL
// 3.0) cannot: the two relays would then not do the same work.
func clientTLS() *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		ServerName:         "relay.bench.test",
		CurvePreferences:   []tls.CurveID{tls.X25519, tls.CurveP256},
	}
}

// loadSpec describes one relay run of the Go load generator: like
// smtp-source -s Sessions -m Messages -l Size, one message per connection,
// but optionally with STARTTLS and timing each final 250.
type loadSpec struct {
	Addr     string
	Sessions int
	Messages int
	Size     int
	TLS      bool
	Timeout  time.Duration
}

type loadResult struct {
	Accepted  int
	Errors    int
	FirstErr  error
	Elapsed   time.Duration
	Latencies []time.Duration // final-250 waits, sorted
}

// driveRelay sends spec.Messages messages over spec.Sessions concurrent
// sessions and returns when every one has been answered or has failed.
func driveRelay(ctx context.Context, spec loadSpec) loadResult {
	body := messageBody(spec.Size, "a@x.test", "b@example.com")
	var next atomic.Int64
	var mu sync.Mutex
	res := loadResult{Latencies: make([]time.Duration, 0, spec.Messages)}
	var wg sync.WaitGroup
	start := time.Now()
	for range spec.Sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, spec.Messages/spec.Sessions+1)
			var errs int
			var first error
			for next.Add(1) <= int64(spec.Messages) && ctx.Err() == nil {
				d, err := sendOne(ctx, spec, body)
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, d)
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			res.Errors += errs
			if res.FirstErr == nil {
				res.FirstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Accepted = len(res.Latencies)
	slices.Sort(res.Latencies)
	return res
}

// sendOne relays one message over a fresh session.
func sendOne(ctx context.Context, spec loadSpec, body []byte) (time.Duration, error) {
	d := net.Dialer{Timeout: spec.Timeout}
	conn, err := d.DialContext(ctx, "tcp", spec.Addr)
	if err != nil {
		return 0, fmt.Errorf("connect %s: %w", spec.Addr, err)
	}
	c := newClient(conn, spec.Timeout)
	defer c.conn.Close()
	if _, err := c.expect(220, "greeting"); err != nil {
		return 0, err
	}
	offered, err := c.hello("loadgen.bench.test")
	if err != nil {
		return 0, err
	}
	if spec.TLS {
		if !offered {
			return 0, errors.New("STARTTLS not offered")
		}
		if err := c.startTLS(clientTLS()); err != nil {
			return 0, err
		}
		if _, err := c.hello("loadgen.bench.test"); err != nil {
			return 0, err
		}
	}
	if _, err := c.cmd(250, "MAIL FROM:<a@x.test>"); err != nil {
		return 0, err
	}
	if _, err := c.cmd(250, "RCPT TO:<b@example.com>"); err != nil {
		return 0, err
	}
	lat, err := c.data(body)
	if err != nil {
		return 0, err
	}
	c.quit()
	return lat, nil
}

// handshakeSpec is one measurement of fresh TLS sessions per second.
type handshakeSpec struct {
	Addr     string
	SMTP     bool // EHLO, STARTTLS, handshake, EHLO, QUIT; else a bare TLS handshake
	Workers  int
	Duration time.Duration
	Timeout  time.Duration
}

type handshakeResult struct {
	Sessions int
	Errors   int
	FirstErr error
	Elapsed  time.Duration
}

// Rate is completed sessions per second.
func (r handshakeResult) Rate() float64 { return float64(r.Sessions) / r.Elapsed.Seconds() }

// driveHandshakes opens fresh sessions back to back from spec.Workers
// goroutines for spec.Duration. Sources rotate over 127.2.x.y so that
// TIME_WAIT entries never exhaust one address's ephemeral ports.
func driveHandshakes(ctx context.Context, spec handshakeSpec) handshakeResult {
	var sessions, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(spec.Duration)
	for w := range spec.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				src := sourceAddr(2, w*1000+i%1000)
				var err error
				if spec.SMTP {
					err = smtpHandshake(ctx, spec, src)
				} else {
					err = rawHandshake(ctx, spec, src)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				sessions.Add(1)
			}
		}()
	}
	wg.Wait()
	r := handshakeResult{Sessions: int(sessions.Load()), Errors: int(errs.Load()), Elapsed: time.Since(start)}
	if e, ok := firstErr.Load().(error); ok {
		r.FirstErr = e
	}
	return r
}

func dialFrom(ctx context.Context, addr string, src netip.Addr, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s from %s: %w", addr, src, err)
	}
	return conn, nil
}

func smtpHandshake(ctx context.Context, spec handshakeSpec, src netip.Addr) error {
	conn, err := dialFrom(ctx, spec.Addr, src, spec.Timeout)
	if err != nil {
		return err
	}
	c := newClient(conn, spec.Timeout)
	defer c.conn.Close()
	if _, err := c.expect(220, "greeting"); err != nil {
		return err
	}
	if _, err := c.hello("loadgen.bench.test"); err != nil {
		return err
	}
	if err := c.startTLS(clientTLS()); err != nil {
		return err
	}
	// The EHLO answer over TLS proves the server finished its side.
	if _, err := c.hello("loadgen.bench.test"); err != nil {
		return err
	}
	_, err = c.cmd(221, "QUIT")
	return err
}

func rawHandshake(ctx context.Context, spec handshakeSpec, src netip.Addr) error {
	conn, err := dialFrom(ctx, spec.Addr, src, spec.Timeout)
	if err != nil {
		return err
	}
	tc := tls.Client(conn, clientTLS())
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(spec.Timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	// As with SMTP's EHLO: the server's first byte after the handshake
	// proves it finished its side.
	var b [1]byte
	if _, err := tc.Read(b[:]); err != nil {
		return fmt.Errorf("read after handshake: %w", err)
	}
	return nil
}

// sourceAddr spreads connections over 127.<net>.x.y, 250 addresses per
// third octet.
func sourceAddr(net8 byte, i int) netip.Addr {
	i %= 250 * 250
	return netip.AddrFrom4([4]byte{127, net8, byte(i / 250), byte(i%250 + 1)})
}

// openIdle opens sessions first … first+n-1 (greeting and EHLO read, with
// STARTTLS and a second EHLO when useTLS) and leaves them open; session i
// comes from source address i/perSource. The caller closes them.
func openIdle(ctx context.Context, addr string, first, n, perSource int, useTLS bool, timeout time.Duration) ([]*client, error) {
	conns := make([]*client, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil || firstErr.Load() != nil {
					return
				}
				c, err := openOne(ctx, addr, sourceAddr(1, (first+i)/perSource), useTLS, timeout)
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("session %d of %d: %w", i+1, n, err))
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		closeAll(conns)
		return nil, e
	}
	if err := ctx.Err(); err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

func openOne(ctx context.Context, addr string, src netip.Addr, useTLS bool, timeout time.Duration) (*client, error) {
	conn, err := dialFrom(ctx, addr, src, timeout)
	if err != nil {
		return nil, err
	}
	c := newClient(conn, timeout)
	if _, err := c.expect(220, "greeting"); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := c.hello("idle.bench.test"); err != nil {
		conn.Close()
		return nil, err
	}
	if useTLS {
		if err := c.startTLS(clientTLS()); err != nil {
			conn.Close()
			return nil, err
		}
		if _, err := c.hello("idle.bench.test"); err != nil {
			c.conn.Close()
			return nil, err
		}
	}
	return c, nil
}

func closeAll(cs []*client) {
	for _, c := range cs {
		if c != nil {
			c.conn.Close()
		}
	}
}
