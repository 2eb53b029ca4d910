package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailflowhq/mailflow/internal/clock"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/lifecycle/acme"
	"github.com/mailflowhq/mailflow/internal/mailbox"
	"github.com/mailflowhq/mailflow/internal/mtasts"
	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/receive"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlsrpt"
	"github.com/mailflowhq/mailflow/internal/tracking"
	"github.com/mailflowhq/mailflow/internal/users"
)

// Options tune a Server beyond its configuration file (tests, the lab).
type Options struct {
	Logger *slog.Logger
	Clock  clock.Clock // nil = system clock
	// Dialer, when set, replaces the send side's network dialer.
	Dialer func(ctx context.Context, network, laddr, raddr string) (net.Conn, error)
	// MTASTSPort, when set, is the HTTPS port MTA-STS policies are fetched
	// from instead of 443 (tests serve them on a free port).
	MTASTSPort int
	// Observer, when set, sees every queue event after message tracking
	// (metrics); Sessions sees receive sessions and handshakes. Both only
	// observe: they are called after the fact and cannot change delivery.
	Observer queue.Observer
	Sessions receive.SessionObserver
	Outbound OutboundObserver
	// NewConnectionPerMessage turns connection reuse off: every delivery
	// opens its own connection. The lab sets it: each of its steps changes
	// a certificate or a DNS record just before the next delivery, which
	// must meet the change rather than a connection judged before it.
	NewConnectionPerMessage bool
}

// OutboundObserver is told of each outbound STARTTLS session a send
// connector made (metrics), after the delivery attempt: the certificate
// the next hop presented, the TLS version ("" when the handshake did not
// complete), and the result: "ok", "rejected" (the connector's TLS check
// refused the certificate) or "failed" (no TLS session otherwise).
type OutboundObserver interface {
	OutboundTLS(connector, thumbprint, version, result string)
}

// Server is a running mailflow transport.
type Node struct {
	path   string
	opts   Options
	log    *slog.Logger
	rt     atomic.Pointer[Runtime]
	reload sync.Mutex

	recv  *receive.Service
	queue *queue.Queue
	clock clock.Clock
	// Fixed at Start: where the queue, mailboxes and logs live.
	trackDir string
	fixed    fixedSettings
	mailbox  *mailbox.Store
	recvLog  *protolog.Writer
	sendLog  *protolog.Writer
	track    *tracking.Writer
	users    *users.Store
	// pool keeps send connections open between deliveries; it outlives
	// each runtime's Sender (a connection is reused only when nothing
	// that decided it changed).
	pool *send.Pool
	// MTA-STS policy cache and TLS-RPT counts (tlspolicy.go).
	sts        *mtasts.Client
	rpt        *tlsrpt.Store
	reportDone chan struct{}
	reportMu   sync.Mutex

	// Administration state that observes or holds delivery.
	// Suspended next hops (hops.go): the node's view, and the store that
	// keeps them; hopMu serialises Suspend and Resume (store, then view).
	suspended atomic.Pointer[hopSet]
	hopStore  queue.HopStateStore
	hopShared bool
	hopMu     sync.Mutex
	outcomes  outcomes // last delivery outcome per next hop (health.go)
	closing   atomic.Bool

	cancel context.CancelFunc
	done   chan error
	acme   []*acme.Manager
	bg     sync.WaitGroup // lifecycle goroutines (expiry monitor, ACME)
}

// Start loads the configuration at path and starts receiving and
// delivering. It returns once every listener is open.
func Start(path string, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.System()
	}
	rt, err := Build(path, clk.Now())
	if err != nil {
		return nil, err
	}
	s := &Node{path: path, opts: opts, log: opts.Logger, done: make(chan error, 1)}
	for _, w := range rt.Warnings {
		s.log.Warn(w)
	}
	cfg := rt.Cfg
	logDir := cfg.LogDir()
	// Whatever was opened is closed again if start-up fails half way.
	started := false
	defer func() {
		if !started {
			s.closeLogs()
			if s.mailbox != nil {
				s.mailbox.Close()
			}
		}
	}()
	if s.recvLog, err = protolog.NewWriter(protolog.Options{Dir: filepath.Join(logDir, "ProtocolLog", "SmtpReceive"), Kind: protolog.Receive, Now: clk.Now}); err != nil {
		return nil, fmt.Errorf("open receive protocol log: %w", err)
	}
	if s.sendLog, err = protolog.NewWriter(protolog.Options{Dir: filepath.Join(logDir, "ProtocolLog", "SmtpSend"), Kind: protolog.Send, Now: clk.Now}); err != nil {
		return nil, fmt.Errorf("open send protocol log: %w", err)
	}
	s.trackDir = filepath.Join(logDir, "MessageTracking")
	s.fixed = fixedOf(cfg)
	if s.track, err = tracking.NewWriter(tracking.Options{Dir: s.trackDir, Now: clk.Now}); err != nil {
		return nil, fmt.Errorf("open message tracking log: %w", err)
	}
	if s.mailbox, err = mailbox.Open(filepath.Join(cfg.DataDir(), "mailboxes")); err != nil {
		return nil, fmt.Errorf("open mailboxes: %w", err)
	}
	if s.users, err = users.Open(users.Path(cfg)); err != nil {
		return nil, err
	}
	s.clock = clk
	if s.rpt, err = tlsrpt.OpenStore(TLSRPTDir(cfg), s.log); err != nil {
		return nil, err
	}
	s.sts = &mtasts.Client{Dir: MTASTSDir(cfg), Logger: s.log}
	defer func() {
		if !started {
			s.sts.Close()
		}
	}()
	s.rt.Store(s.bind(rt))

	store, where, err := OpenQueueStore(cfg, s.log)
	if err != nil {
		return nil, fmt.Errorf("open queue in %s: %w", where, err)
	}
	if err := s.loadSuspended(store, where); err != nil {
		store.Close()
		return nil, err
	}
	q, err := queue.Open(queue.Options{
		Store:       store,
		CloseStore:  true,
		SpoolDir:    filepath.Join(cfg.DataDir(), "queue", "spool"),
		Clock:       clk,
		Retry:       durations(cfg.Queue.RetryIntervals),
		Expiry:      time.Duration(cfg.Queue.Expiry),
		Concurrency: cfg.Queue.Concurrency,
		Deliverer:   &deliverer{s: s},
		Observer:    &observer{s: s},
		ServerFQDN:  cfg.Server.FQDN,
		Logger:      s.log,
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("open queue in %s: %w", where, err)
	}
	s.queue = q
	s.recv = receive.NewService(receive.Options{
		Submitter: q, SpoolDir: q.SpoolDir(), Log: s.recvLog, Logger: s.log,
		OnAccepted: func(id string, env queue.Envelope) { s.trackReceive(id, env) },
		Observer:   opts.Sessions,
		Users:      s.users,
		OnAuth:     s.trackAuth,
	})
	if err := s.recv.Apply(rt.Recv); err != nil {
		q.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- q.Run(ctx) }()
	s.reportDone = make(chan struct{})
	go s.reportLoop(ctx)
	started = true
	if err := s.startLifecycle(ctx); err != nil {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		s.Close(cctx)
		return nil, err
	}
	return s, nil
}

func durations(ds []config.Duration) []time.Duration {
	out := make([]time.Duration, 0, len(ds))
	for _, d := range ds {
		out = append(out, time.Duration(d))
	}
	return out
}

// Runtime returns the live runtime.
func (s *Node) Runtime() *Runtime { return s.rt.Load() }

// Queue exposes the queue to the admin API.
func (s *Node) Queue() *queue.Queue { return s.queue }

// Users is the SMTP AUTH user store; the admin API changes it live.
func (s *Node) Users() *users.Store { return s.users }

// Receiver exposes the receive side (addresses, connection counts).
func (s *Node) Receiver() *receive.Service { return s.recv }

// ConfigPath is the file the server was started from.
func (s *Node) ConfigPath() string { return s.path }

// TrackingDir is where message tracking logs are written.
func (s *Node) TrackingDir() string { return s.trackDir }

// Reload re-reads the configuration file and the users file and applies
// them live. On any error the running configuration stays and the error is
// returned.
func (s *Node) Reload() error {
	s.reload.Lock()
	defer s.reload.Unlock()
	rt, err := Build(s.path, s.now())
	if err != nil {
		return err
	}
	// users.json too, for an administrator who edited it by hand; a file
	// that does not load leaves the running users in place.
	if err := s.users.Reload(); err != nil {
		return err
	}
	return s.apply(rt)
}

// ApplyRuntime makes an already built runtime live.
func (s *Node) ApplyRuntime(rt *Runtime) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	return s.apply(rt)
}

func (s *Node) apply(rt *Runtime) error {
	rt = s.bind(rt)
	if err := s.recv.Apply(rt.Recv); err != nil {
		return err
	}
	s.rt.Store(rt)
	for _, w := range rt.Warnings {
		s.log.Warn(w)
	}
	for _, w := range s.fixed.changes(fixedOf(rt.Cfg)) {
		s.log.Warn(w)
	}
	s.log.Info("configuration applied", "file", s.path,
		"receive_connectors", len(rt.Recv.Connectors), "certificates", len(rt.Store.All()))
	return nil
}

// bind gives the runtime a Sender bound to its certificates and trust, so a
// delivery always uses one consistent configuration, and puts both sides on
// the node's clock (Options.Clock): certificate date checks when sending
// and receiving (mutual TLS), banners and Received headers all read it. It
// runs before the runtime is published.
func (s *Node) bind(rt *Runtime) *Runtime {
	if s.pool == nil && !s.opts.NewConnectionPerMessage {
		s.pool = send.NewPool()
	}
	if s.pool != nil {
		s.pool.SetMaxConnections(rt.Cfg.Limits.MaxOutboundConnections)
	}
	rt.Sender = &send.Sender{
		Store: rt.Store, Roots: rt.Roots, ServerFQDN: rt.Cfg.Server.FQDN,
		Log: s.sendLog, Now: s.clock.Now, Dialer: s.opts.Dialer, Pool: s.pool,
	}
	rt.Sender.DNS = rt.SenderDNS()
	s.withPolicies(rt)
	rt.Sender.Policies, rt.Sender.Observer = rt.Policies, rt.Observer
	rt.Recv.Now = s.clock.Now
	return rt
}

// OutboundConnections reports the connections the send connectors hold
// open to next hops now and the total allowed (limits.max_outbound_connections);
// both 0 when connections are not kept (Options.NewConnectionPerMessage).
func (s *Node) OutboundConnections() (open, limit int) {
	if s.pool == nil {
		return 0, 0
	}
	return s.pool.Open(), s.pool.Limit()
}

// Now is the node's clock (Options.Clock, else the system clock): the time
// the admin API describes certificates and connectors at.
func (s *Node) Now() time.Time { return s.clock.Now() }

func (s *Node) now() time.Time { return s.clock.Now() }

// Close stops accepting, lets sessions finish (bounded by ctx), stops the
// scheduler and flushes the logs.
func (s *Node) Close(ctx context.Context) error {
	s.closing.Store(true)
	err := s.recv.Close(ctx)
	s.cancel()
	s.bg.Wait()
	if qerr := <-s.done; qerr != nil && !errors.Is(qerr, context.Canceled) {
		err = errors.Join(err, qerr)
	}
	<-s.reportDone
	s.sts.Close()
	err = errors.Join(err, s.queue.Close())
	if s.pool != nil {
		s.pool.Close()
	}
	s.closeLogs()
	return err
}

func (s *Node) closeLogs() {
	for _, w := range []interface{ Close() error }{s.recvLog, s.sendLog, s.track} {
		if w != nil {
			w.Close()
		}
	}
}

// FlushLogs writes buffered protocol and tracking log lines to disk, so a
// trace or log analysis sees everything up to now.
func (s *Node) FlushLogs() {
	for _, w := range []interface{ Flush() error }{s.recvLog, s.sendLog, s.track} {
		if w != nil {
			w.Flush()
		}
	}
}
