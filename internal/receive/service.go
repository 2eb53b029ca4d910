package receive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailflowhq/mailflow/internal/netrange"
	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/users"
)

// Submitter takes an accepted message and makes it durable; it returns only
// once the message is on stable storage. An error means nothing was stored.
// The body is in memory or in a spool file in Options.SpoolDir (see
// queue.Body); the session removes what is left of the spool file after.
type Submitter interface {
	PutBody(ctx context.Context, env queue.Envelope, body queue.Body) (string, error)
}

// Options are the fixed dependencies of a Service.
type Options struct {
	Submitter Submitter
	Log       *protolog.Writer // SmtpReceive protocol log; nil = off
	Logger    *slog.Logger
	// OnAccepted observes every message acknowledged with 250 (message
	// tracking RECEIVE). It must not block.
	OnAccepted func(id string, env queue.Envelope)
	// Observer, when set, observes sessions and handshakes (metrics).
	Observer SessionObserver
	// InflightLimit bounds the DATA bytes held by all sessions together
	// (0 = DefaultInflightLimit).
	InflightLimit int64
	// SpoolDir receives DATA above SpoolThreshold as a file, so that a
	// large message never sits in memory (the queue's SpoolDir, on the
	// same file system as the store). "" = bodies are held in memory until
	// queued.
	SpoolDir string
	// SpoolThreshold is the in-memory part of a message (0 =
	// DefaultSpoolThreshold).
	SpoolThreshold int
	// Users authenticates SMTP AUTH; nil: AUTH is never offered.
	Users *users.Store
	// OnAuth observes every AUTH outcome (message tracking AUTH events).
	// It must not block.
	OnAuth func(AuthEvent)
	// Sleep waits for the AUTH tarpit; nil = time.Sleep. Tests inject one
	// that advances their clock instead.
	Sleep func(time.Duration)
}

// Service accepts SMTP connections for all receive connectors.
type Service struct {
	opts     Options
	settings atomic.Pointer[Settings]
	inflight atomic.Int64 // DATA bytes reserved by sessions (budget.go)
	limiter  *authLimiter

	mu        sync.Mutex
	listeners map[string]*listener // by listen address
	perIP     map[netip.Addr]int
	total     int
	conns     map[net.Conn]struct{}
	closed    bool
	closing   chan struct{} // closed by Close: ends tarpit waits at once
	wg        sync.WaitGroup
}

type listener struct {
	addr string
	ln   net.Listener
	done chan struct{}
}

// NewService creates the receive service; call Apply to start listening.
func NewService(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{opts: opts, limiter: newAuthLimiter(), closing: make(chan struct{}), listeners: map[string]*listener{}, perIP: map[netip.Addr]int{}, conns: map[net.Conn]struct{}{}}
}

// sleep holds a tarpitted reply for d, or until the service closes, so a
// shutdown never waits for a tarpit.
func (s *Service) sleep(d time.Duration) {
	if s.opts.Sleep != nil {
		s.opts.Sleep(d)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.closing:
	}
}

// Settings returns the live settings.
func (s *Service) Settings() *Settings { return s.settings.Load() }

// Apply makes st the live settings: new connections use it at once,
// listeners for new bindings are opened and those no longer bound are
// closed. Sessions in flight keep the settings they started with. If a
// new binding cannot be opened, nothing changes and the error says which.
func (s *Service) Apply(st *Settings) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("receive server is closed")
	}
	want := listenAddrs(st)
	opened := map[string]*listener{}
	keep := map[string]bool{}
	for _, b := range want {
		a := b.Network() + " " + b.ListenAddress()
		keep[a] = true
		if _, ok := s.listeners[a]; ok {
			continue
		}
		ln, err := net.Listen(b.Network(), b.ListenAddress())
		if err != nil {
			for _, l := range opened {
				l.ln.Close()
			}
			for held, l := range s.listeners {
				if !keep[held] && samePort(l.ln.Addr(), b.Port) {
					return fmt.Errorf("listen on %s: %w: the port is held by mailflow's own listener %s, which this change drops; the kernel refuses a specific address next to a wildcard on one port, so restart mailflow serve to apply this binding change", b.ListenAddress(), err, l.ln.Addr())
				}
			}
			return fmt.Errorf("listen on %s: %w (another process may hold the port; change the connector's bindings)", b.ListenAddress(), err)
		}
		opened[a] = &listener{addr: a, ln: ln, done: make(chan struct{})}
	}
	s.settings.Store(st)
	for a, l := range opened {
		s.listeners[a] = l
		s.wg.Add(1)
		go s.accept(l)
		s.opts.Logger.Info("listening", "address", l.ln.Addr().String())
	}
	for a, l := range s.listeners {
		if !keep[a] {
			l.ln.Close()
			delete(s.listeners, a)
			s.opts.Logger.Info("stopped listening", "address", a)
		}
	}
	return nil
}

// Addrs returns the actual listening addresses (useful with port 0).
func (s *Service) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, l := range s.listeners {
		out = append(out, l.ln.Addr())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// listenAddrs folds the connectors' bindings into the sockets to open
// (netrange.Listeners drops bindings covered by a wildcard on the same
// port); each connection is then routed by its local address.
func listenAddrs(st *Settings) []netrange.Binding {
	var all []netrange.Binding
	for _, c := range st.Connectors {
		all = append(all, c.Bindings...)
	}
	return netrange.Listeners(all)
}

func (s *Service) accept(l *listener) {
	defer s.wg.Done()
	defer close(l.done)
	var backoff time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary errors (EMFILE …): back off like net/http does.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff *= 2; backoff > time.Second {
				backoff = time.Second
			}
			s.opts.Logger.Warn("accept failed", "address", l.addr, "error", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			<-t.C
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(conn)
		}()
	}
}

func samePort(a net.Addr, port uint16) bool {
	return addrPort(a).Port() == port
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		// Unmap so IPv4 clients on a dual-stack binding are logged and
		// traced as a.b.c.d, as Exchange logs them.
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func (s *Service) handle(conn net.Conn) {
	st := s.settings.Load()
	local, remote := addrPort(conn.LocalAddr()), addrPort(conn.RemoteAddr())
	ip := remote.Addr().Unmap()

	if reason := s.admit(conn, ip, st); reason != "" {
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "%s\r\n", reason)
		conn.Close()
		s.opts.Logger.Warn("connection refused", "remote", remote.String(), "local", local.String(), "reply", reason)
		s.sessionEnded("", SessionRefused)
		return
	}
	defer s.release(conn, ip)

	c := st.ConnectorFor(local, remote)
	if c == nil {
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "421 4.3.2 Service not available, no receive connector accepts connections from %s on %s\r\n", ip, local)
		conn.Close()
		s.opts.Logger.Warn("no receive connector matches the connection; refused with 421",
			"remote", remote.String(), "local", local.String(),
			"fix", "add the remote address to a connector's remote_ip_ranges for this binding")
		s.sessionEnded("", SessionNoConnector)
		return
	}
	sess := newSession(s, st, c, conn, local, remote)
	sess.run()
	result := SessionNoMessage
	if sess.accepted > 0 {
		result = SessionAccepted
	}
	s.sessionEnded(c.Name(), result)
	sess.release()
}

// admit enforces the global and per-IP connection limits. It returns the
// reply to refuse with, or "".
func (s *Service) admit(conn net.Conn, ip netip.Addr, st *Settings) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "421 4.3.2 Service shutting down"
	}
	if max := st.Limits.MaxConnections; max > 0 && s.total >= max {
		return "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel"
	}
	if max := st.Limits.MaxConnectionsPerIP; max > 0 && s.perIP[ip] >= max {
		return "421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel"
	}
	s.total++
	s.perIP[ip]++
	s.conns[conn] = struct{}{}
	return ""
}

func (s *Service) release(conn net.Conn, ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	delete(s.conns, conn)
}

// Connections returns the number of open sessions.
func (s *Service) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Close stops listening, waits up to the context's deadline for sessions to
// finish, then closes the rest.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		close(s.closing)
	}
	s.closed = true
	for a, l := range s.listeners {
		l.ln.Close()
		delete(s.listeners, a)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
	return nil
}
