package receive

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	replyPerIPLimit  = "421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel"
	replyGlobalLimit = "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel"
	replyTimeout     = "421 4.4.2 server1.contoso.local Connection timed out, closing transmission channel"
)

// TestPerIPConnectionLimit: the (N+1)th concurrent connection from one
// address is refused with 421 4.3.2 while other addresses are served, and
// the slot is given back when a session ends.
func TestPerIPConnectionLimit(t *testing.T) {
	h := newHarness(t, harnessConfig("  max_connections_per_ip: 3\n", defaultConnector))
	var held []*client
	for i := 0; i < 3; i++ {
		held = append(held, h.dial(t, "127.0.0.4"))
	}
	c := h.dialRaw(t, "127.0.0.4")
	c.expect("", replyPerIPLimit)
	c.expectClosed()

	other := h.dial(t, "127.0.0.3")
	other.expect("NOOP", replyNoop)

	held[0].quit()
	eventually(t, "the ended session to release its slot", func() bool { return h.srv.Connections() == 3 })
	again := h.dial(t, "127.0.0.4")
	again.expect("NOOP", replyNoop)
	again.quit()
}

// TestGlobalConnectionLimit: past max_connections everyone is refused.
func TestGlobalConnectionLimit(t *testing.T) {
	h := newHarness(t, harnessConfig("  max_connections: 4\n  max_connections_per_ip: 2\n", defaultConnector))
	for i := 0; i < 4; i++ {
		h.dial(t, fmt.Sprintf("127.0.0.%d", 40+i))
	}
	c := h.dialRaw(t, "127.0.0.50")
	c.expect("", replyGlobalLimit)
	c.expectClosed()
}

// TestIdleTimeout: a silent client, a client that stops in the middle of a
// command line, one that trickles bytes without ever ending the line and
// one that stalls in DATA are all answered 421 4.4.2 at the read (or data)
// timeout and disconnected; nothing is stored.
func TestIdleTimeout(t *testing.T) {
	const timeout = time.Second
	h := newHarness(t, harnessConfig("  read_timeout: 1s\n  data_timeout: 1s\n", defaultConnector))
	cases := []struct {
		name    string
		prepare func(c *client)
		trickle bool
	}{
		{"silent", func(c *client) {}, false},
		{"after EHLO", func(c *client) { c.ehlo("idle.fabrikam.example") }, false},
		{"partial command", func(c *client) { c.send("MAIL FROM:<a@fabrikam.example") }, false},
		{"trickle", func(c *client) {}, true},
		{"stalled DATA", func(c *client) {
			c.ehlo("idle.fabrikam.example")
			c.expect("MAIL FROM:<alice@fabrikam.example>", replySenderOK)
			c.expect("RCPT TO:<bob@contoso.com>", replyRecipientOK)
			c.expect("DATA", replyStartData)
			c.send("Subject: half\r\n\r\nhalf a message\r\n")
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// start precedes every deadline the server sets, so the
			// timeout cannot come sooner than configured.
			start := time.Now()
			c := h.dial(t, "127.0.0.2")
			tc.prepare(c)
			stop := make(chan struct{})
			if tc.trickle {
				// One byte every 200 ms, never a line end: the deadline
				// covers the whole line, so bytes do not keep it alive.
				go func() {
					tick := time.NewTicker(200 * time.Millisecond)
					defer tick.Stop()
					for i := 0; i < 50; i++ {
						select {
						case <-stop:
							return
						case <-tick.C:
							if _, err := c.conn.Write([]byte("x")); err != nil {
								return
							}
						}
					}
				}()
			}
			c.expect("", replyTimeout)
			close(stop)
			elapsed := time.Since(start)
			c.expectClosed()
			// The upper bound catches a deadline that each trickled byte
			// pushed back: the trickle lasts 10 s.
			if elapsed < timeout || elapsed > 4*timeout {
				t.Fatalf("timed out after %v, configured %v", elapsed, timeout)
			}
		})
	}
	// Cleanup runs once the parallel subtests are done.
	t.Cleanup(func() {
		if n := h.sub.callCount(); n != 0 {
			t.Errorf("Submitter called %d times", n)
		}
		timeouts := 0
		for _, rec := range h.protocolLog() {
			if rec.Event == '-' && rec.Context == "Local(Timeout)" {
				timeouts++
			}
		}
		if timeouts < 4 {
			t.Errorf("protocol log has %d Local(Timeout) disconnects, want at least 4", timeouts)
		}
	})
}

// raiseFileLimit makes sure the process may hold n descriptors.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("cannot read the open-file limit: %v", err)
	}
	if rl.Cur >= n {
		return
	}
	if rl.Max < n {
		t.Skipf("open-file hard limit %d is below the %d this test needs (ulimit -Hn)", rl.Max, n)
	}
	old := rl
	rl.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("cannot raise the open-file limit to %d: %v", n, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// TestIdleFloodDoesNotStarveLegitimateClient: 1,000 idle connections, each
// greeted and then silent, spread over 20 addresses within the per-IP
// limit, do not stop a new client from another address being served. The
// memory each idle session costs is logged.
func TestIdleFloodDoesNotStarveLegitimateClient(t *testing.T) {
	const (
		idle    = 1000
		sources = 20
	)
	raiseFileLimit(t, 2*idle+512) // both ends of every connection live in this process
	h := newHarness(t, harnessConfig("  max_connections_per_ip: 50\n  max_connections: 1100\n", defaultConnector))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	conns := make([]*client, idle)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	work := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c, err := dialGreeted(h, fmt.Sprintf("127.0.0.%d", 10+i%sources))
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := 0; i < idle; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.conn.Close()
			}
		}
	})
	if len(failures) > 0 {
		t.Fatalf("%d idle connections were not greeted, first: %s", len(failures), failures[0])
	}
	if n := h.srv.Connections(); n != idle {
		t.Fatalf("server holds %d sessions, want %d", n, idle)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	stack := int64(after.StackInuse) - int64(before.StackInuse)
	t.Logf("%d idle sessions: heap +%d KiB, stacks +%d KiB: about %d bytes per idle session (server and client side together)",
		idle, heap>>10, stack>>10, (heap+stack)/idle)

	start := time.Now()
	c := h.dial(t, "127.0.0.3")
	c.ehlo("legit.fabrikam.example")
	r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Subject: still served\r\n\r\nhello")
	if !isQueued(r) {
		t.Fatalf("legitimate message during the flood: %q", r.Text)
	}
	c.quit()
	t.Logf("legitimate session served in %v during the flood", time.Since(start))
	if msgs := h.sub.messages(); len(msgs) != 1 {
		t.Fatalf("submitted %d messages, want 1", len(msgs))
	}
	// One more from a flooding address is refused: the flood really did
	// hold every slot it could.
	refused := h.dialRaw(t, "127.0.0.10")
	refused.expect("", replyPerIPLimit)
}

// dialGreeted connects from the address and reads the 220, returning an
// error instead of failing (it runs off the test goroutine).
func dialGreeted(h *harness, from string) (*client, error) {
	ft := &failRecorder{TB: h.t}
	c := func() (c *client) {
		defer func() {
			if recover() != nil {
				c = nil
			}
		}()
		return h.dial(ft, from)
	}()
	if ft.msg != "" || c == nil {
		return nil, fmt.Errorf("from %s: %s", from, strings.TrimSpace(ft.msg))
	}
	return c, nil
}

// failRecorder turns Fatal into a recorded message and a panic that
// dialGreeted recovers, so client helpers can run on other goroutines.
type failRecorder struct {
	testing.TB
	msg string
}

func (f *failRecorder) Helper() {}
func (f *failRecorder) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	panic(f)
}
func (f *failRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}
func (f *failRecorder) Cleanup(func()) {}

// TestTLSHandshakeTimeout: a client that sends STARTTLS and then nothing
// is disconnected at tls_handshake_timeout; no reply is possible there.
func TestTLSHandshakeTimeout(t *testing.T) {
	const timeout = time.Second
	h := newHarness(t, harnessConfig("  tls_handshake_timeout: 1s\n", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	c.ehlo("stall.fabrikam.example")
	start := time.Now()
	c.expect("STARTTLS", "220 2.0.0 SMTP server ready")
	c.expectClosed()
	if elapsed := time.Since(start); elapsed < timeout || elapsed > 4*timeout {
		t.Fatalf("closed after %v, configured %v", elapsed, timeout)
	}
	// The handshake's cancellation closes the socket before the session
	// logs the failure.
	eventually(t, "the session to end", func() bool { return h.srv.Connections() == 0 })
	found := false
	for _, rec := range h.protocolLog() {
		if rec.Event == '*' && rec.Context == "TLS negotiation failed with error Timeout" {
			found = true
		}
	}
	if !found {
		t.Error("protocol log lacks 'TLS negotiation failed with error Timeout'")
	}
}
