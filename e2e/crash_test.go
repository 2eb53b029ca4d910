package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// Crash safety (RFC 5321 §6.1: a server "MUST NOT lose the message … because
// the host later crashes"): a message that got 250 survives kill -9. The
// victim is a `mailflow serve` that delivers contoso.com to its own
// mailboxes and relays fabrikam.com to a sink, a second `mailflow serve`
// that is never killed. Clients are Go's net/smtp, not our SMTP code.

// crashRig is a victim and its sink, written as configuration files.
type crashRig struct {
	victimCfg, sinkCfg   string
	victimPort, sinkPort int
}

func newCrashRig(t *testing.T) *crashRig {
	t.Helper()
	base := t.TempDir()
	r := &crashRig{victimPort: testkit.FreePort(t), sinkPort: testkit.FreePort(t)}
	for _, d := range []string{"victim", "sink"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.victimCfg = filepath.Join(base, "victim", "victim.yaml")
	// The relay connector admits the local load generator without TLS (the
	// subject is durability, not handshakes); a short retry interval lets
	// a deferral caused by a crash of the sink's peer clear quickly.
	testkit.WriteFile(t, r.victimCfg, fmt.Sprintf(`server:
  name: VICTIM
  fqdn: mail.contoso.com
  data_dir: ./data
accepted_domains: [contoso.com]
trust:
  system_roots: false
receive_connectors:
  - name: Relay VICTIM
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.1/32"]
    auth_mechanism: [ExternalAuthoritative]
    permission_groups: [ExchangeServers]
send_connectors:
  - name: To sink
    address_spaces: [fabrikam.com]
    smart_hosts: ["127.0.0.1:%d"]
    fqdn: mail.contoso.com
    connect_timeout: 5s
queue:
  retry_intervals: [1s]
limits:
  max_connections_per_ip: 200
admin:
  listen: 127.0.0.1:%d
`, r.victimPort, r.sinkPort, testkit.FreePort(t)))
	r.sinkCfg = filepath.Join(base, "sink", "sink.yaml")
	testkit.WriteFile(t, r.sinkCfg, fmt.Sprintf(`server:
  name: SINK
  fqdn: mail.fabrikam.com
  data_dir: ./data
accepted_domains: [fabrikam.com]
trust:
  system_roots: false
receive_connectors:
  - name: Default SINK
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.1/32"]
    auth_mechanism: [None]
    permission_groups: [AnonymousUsers]
limits:
  max_connections_per_ip: 200
admin:
  listen: 127.0.0.1:%d
`, r.sinkPort, testkit.FreePort(t)))
	return r
}

// mailboxRoot is the mailbox root of a configuration's data directory.
func mailboxRoot(cfg string) string { return filepath.Join(filepath.Dir(cfg), "data", "mailboxes") }

// TestKillAfterAcceptLosesNothing kills the server with SIGKILL as soon as
// the client has its 250, while the message is still in flight (the smart
// host holds the connection without a greeting), restarts it and sees the
// message delivered with no retry command: locally to the accepted domain
// and through the send connector to the sink, each exactly once.
func TestKillAfterAcceptLosesNothing(t *testing.T) {
	need(t, "python3")
	rig := newCrashRig(t)

	// Until the kill, the sink's port belongs to a host that accepts and
	// never greets: the relayed recipient cannot be delivered before the
	// kill.
	hold, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(rig.sinkPort))
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			c, err := hold.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, c)
			heldMu.Unlock()
		}
	}()

	victim := startServe(t, rig.victimCfg)
	const token = "kill-after-250"
	res := pySMTP(t, pyOpts{port: rig.victimPort, source: "127.0.0.1", from: "load@contoso.com",
		rcpts: []string{"user@contoso.com", "user@fabrikam.com"},
		body:  "Subject: " + token + "\r\nX-Crash-Token: " + token + "\r\n\r\nmust survive kill -9\r\n"})
	if code(res.Data) != 250 {
		t.Fatalf("DATA %v (MAIL %v RCPT %v)", res.Data, res.Mail, res.Rcpt)
	}
	victim.kill()

	hold.Close()
	heldMu.Lock()
	t.Logf("the holding smart host had %d connection(s) from the victim at the kill", len(held))
	for _, c := range held {
		c.Close()
	}
	heldMu.Unlock()
	startServe(t, rig.sinkCfg)
	startServe(t, rig.victimCfg)

	local := waitFiles(t, filepath.Join(mailboxRoot(rig.victimCfg), "contoso.com", "user", "new"), 1)
	relayed := waitFiles(t, filepath.Join(mailboxRoot(rig.sinkCfg), "fabrikam.com", "user", "new"), 1)
	waitQueueEmpty(t, awaitAdmin(t, rig.victimCfg), "victim")
	waitQueueEmpty(t, awaitAdmin(t, rig.sinkCfg), "sink")
	// Settled: count again. Exactly one copy each: the local redelivery
	// after the restart is idempotent and the relayed copy was never
	// handed over before the kill.
	local = waitFiles(t, filepath.Join(mailboxRoot(rig.victimCfg), "contoso.com", "user", "new"), 1)
	relayed = waitFiles(t, filepath.Join(mailboxRoot(rig.sinkCfg), "fabrikam.com", "user", "new"), 1)
	for _, files := range [][]string{local, relayed} {
		if len(files) != 1 {
			t.Errorf("want exactly one copy, have %v", files)
			continue
		}
		if b, err := os.ReadFile(files[0]); err != nil || !bytes.Contains(b, []byte("X-Crash-Token: "+token)) {
			t.Errorf("%s does not hold the message: %v\n%s", files[0], err, b)
		}
	}
	if dsn, _ := os.ReadDir(filepath.Join(mailboxRoot(rig.victimCfg), "contoso.com", "load", "new")); len(dsn) != 0 {
		t.Errorf("the sender got %d delivery status notification(s)", len(dsn))
	}
}

// TestCrashSafety drives concurrent SMTP load into the victim, kills it
// with SIGKILL at random moments CRASH_N times (default 10), restarting it
// each time, then checks that every acknowledged message was delivered.
// Duplicates are reported, not failed: a crash between the commit and the
// client reading 250 makes the client send again (RFC 5321 allows it).
//
//	CRASH_N=100 go test ./e2e -run TestCrashSafety -count=1 -v -timeout 60m
//
// (or scripts/crash-harness 100). CRASH_SEED repeats a run's kill points (how many 250s before each kill).
func TestCrashSafety(t *testing.T) {
	n := crashEnvInt(t, "CRASH_N", 10)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	workers := crashEnvInt(t, "CRASH_CLIENTS", 20)
	t.Logf("crash harness: %d crashes, %d concurrent clients, seed %d (CRASH_SEED=%d repeats these kill points)", n, workers, seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	rig := newCrashRig(t)
	startServe(t, rig.sinkCfg)
	victim := startServe(t, rig.victimCfg)

	ld := newCrashLoad(rig.victimPort)
	ld.gate.open()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); ld.worker(w) }()
	}

	start := time.Now()
	for i := range n {
		// Kill after a random number of acknowledgements since the
		// (re)start: 0 kills during recovery, right after the listener
		// opened; otherwise right after some client's 250 while others are
		// mid-transaction and the queue is delivering.
		k := rng.IntN(150)
		if !ld.waitAcks(k, 30*time.Second) {
			ld.stop()
			t.Fatalf("crash %d: the server acknowledged %d of %d messages in 30s since its start; worker errors: %v", i+1, ld.acksSinceOpen(), k, ld.lastError())
		}
		ld.gate.close()
		victim.kill()
		victim = startServe(t, rig.victimCfg)
		ld.gate.open()
	}
	loadTime := time.Since(start)

	// Stop new messages; let clients finish retrying the unacknowledged.
	ld.stop()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(pollDeadline):
		t.Fatalf("clients did not finish within %v: %v", pollDeadline, ld.lastError())
	}
	waitQueueEmpty(t, awaitAdmin(t, rig.victimCfg), "victim")
	waitQueueEmpty(t, awaitAdmin(t, rig.sinkCfg), "sink")

	copies, err := countTokens(filepath.Join(mailboxRoot(rig.victimCfg), "contoso.com"), filepath.Join(mailboxRoot(rig.sinkCfg), "fabrikam.com"))
	if err != nil {
		t.Fatal(err)
	}
	bounces, _ := os.ReadDir(filepath.Join(mailboxRoot(rig.victimCfg), "contoso.com", "load", "new"))
	rep := ld.report(copies)
	rep.crashes, rep.bounces, rep.elapsed = n, len(bounces), loadTime
	t.Log(rep.String())
	if rep.lost > 0 {
		t.Errorf("LOST %d acknowledged message(s): %v", rep.lost, rep.lostTokens)
	}
	if rep.bounces > 0 {
		t.Errorf("%d delivery status notification(s) were sent to the load sender", rep.bounces)
	}
	if rep.acknowledged == 0 || rep.delivered != rep.acknowledged {
		t.Errorf("delivered %d of %d acknowledged", rep.delivered, rep.acknowledged)
	}
	if rep.unknown > 0 {
		t.Errorf("%d delivered message(s) were never sent by the load generator", rep.unknown)
	}
}

func crashEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// serverGate tells clients whether the victim is up. A client whose connection
// failed while the gate is closed waits for it to open instead of spinning.
type serverGate struct {
	mu      sync.Mutex
	up      bool
	gen     int
	changed chan struct{}
}

func (g *serverGate) set(up bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.up = up
	if up {
		g.gen++
	}
	if g.changed != nil {
		close(g.changed)
	}
	g.changed = make(chan struct{})
}

func (g *serverGate) open()  { g.set(true) }
func (g *serverGate) close() { g.set(false) }

// state returns whether the server is up, its generation and a channel
// closed at the next change.
func (g *serverGate) state() (bool, int, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.up, g.gen, g.changed
}

// crashMsg is one message of the load: its token identifies every copy.
type crashMsg struct {
	token, rcpt string
	attempts    int
	acked       bool
}

// crashLoad is the load generator: its clients, the ledger of every message
// they sent, and the acknowledgement count the killer waits on.
type crashLoad struct {
	addr     string
	gate     serverGate
	stopNew  chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	records  []*crashMsg
	lastErr  error
	errsUp   int // failures while the server was considered up
	txns     int // DATA transactions attempted
	ackGen   int
	ackCount int // acknowledgements in the current generation
	ackKick  chan struct{}
}

// crashMaxAttempts bounds a client's tries of one message; a message that
// never got 250 is reported, not counted as lost.
const crashMaxAttempts = 50

func newCrashLoad(port int) *crashLoad {
	return &crashLoad{addr: "127.0.0.1:" + strconv.Itoa(port), stopNew: make(chan struct{}), ackKick: make(chan struct{}, 1)}
}

func (l *crashLoad) stop() { l.stopOnce.Do(func() { close(l.stopNew) }) }

func (l *crashLoad) lastError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

func (l *crashLoad) acksSinceOpen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ackCount
}

// waitAcks waits until the current server generation has acknowledged k
// messages.
func (l *crashLoad) waitAcks(k int, within time.Duration) bool {
	deadline := time.After(within)
	for {
		_, gen, _ := l.gate.state()
		l.mu.Lock()
		n := l.ackCount
		if l.ackGen != gen {
			n = 0
		}
		l.mu.Unlock()
		if n >= k {
			return true
		}
		select {
		case <-l.ackKick:
		case <-deadline:
			return false
		}
	}
}

func (l *crashLoad) acked(r *crashMsg, gen int) {
	l.mu.Lock()
	r.acked = true
	if l.ackGen != gen {
		l.ackGen, l.ackCount = gen, 0
	}
	l.ackCount++
	l.mu.Unlock()
	select {
	case l.ackKick <- struct{}{}:
	default:
	}
}

func (l *crashLoad) failed(err error, up bool) {
	l.mu.Lock()
	l.lastErr = err
	if up {
		l.errsUp++
	}
	l.mu.Unlock()
}

// worker is one SMTP client: it sends new messages (up to 10 per session)
// until stopped, retrying any message that did not get 250, as an MTA
// would.
func (l *crashLoad) worker(w int) {
	var retry []*crashMsg
	var c *smtp.Client
	var conn net.Conn
	defer func() {
		if c != nil {
			c.Quit()
		}
	}()
	seq, perSession, gen := 0, 0, 0
	for {
		var r *crashMsg
		switch {
		case len(retry) > 0:
			r, retry = retry[0], retry[1:]
		default:
			select {
			case <-l.stopNew:
				return
			default:
			}
			domain := "contoso.com"
			if seq%2 == 1 {
				domain = "fabrikam.com"
			}
			r = &crashMsg{token: fmt.Sprintf("w%02d-%06d", w, seq), rcpt: fmt.Sprintf("w%02d@%s", w, domain)}
			seq++
			l.mu.Lock()
			l.records = append(l.records, r)
			l.mu.Unlock()
		}
		if c == nil {
			var up bool
			var changed <-chan struct{}
			up, gen, changed = l.gate.state()
			if !up {
				<-changed
				retry = append([]*crashMsg{r}, retry...)
				continue
			}
			var err error
			conn, c, err = dialLoadClient(l.addr)
			if err != nil {
				retry = append([]*crashMsg{r}, retry...)
				l.afterFailure(err, gen)
				continue
			}
			perSession = 0
		}
		r.attempts++
		l.mu.Lock()
		l.txns++
		l.mu.Unlock()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if err := sendRecord(c, r); err != nil {
			c.Close()
			c = nil
			if r.attempts < crashMaxAttempts {
				retry = append([]*crashMsg{r}, retry...)
			}
			l.afterFailure(err, gen)
			continue
		}
		l.acked(r, gen)
		if perSession++; perSession >= 10 {
			c.Quit()
			c = nil
		}
	}
}

// afterFailure waits, after a failed connection or transaction, for the
// server to come back when it is down (the usual cause: it was killed). A
// failure while it is up is recorded and retried after a short pause or
// at the next restart, whichever comes first.
func (l *crashLoad) afterFailure(err error, gen int) {
	up, cur, changed := l.gate.state()
	switch {
	case !up:
		<-changed
	case cur != gen:
		// Restarted since this client connected: try again now.
	default:
		l.failed(err, true)
		select {
		case <-changed:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func dialLoadClient(addr string) (net.Conn, *smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if err := c.Hello("load.crash.test"); err != nil {
		c.Close()
		return nil, nil, err
	}
	return conn, c, nil
}

// crashFiller pads each message to about 1 KB.
var crashFiller = strings.Repeat("The quick brown fox jumps over the lazy dog. 0123456789\r\n", 16)

// sendRecord runs one transaction; nil means the server answered 250 to
// the end of data.
func sendRecord(c *smtp.Client, r *crashMsg) error {
	if err := c.Mail("load@contoso.com"); err != nil {
		return err
	}
	if err := c.Rcpt(r.rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Subject: crash %s\r\nMessage-ID: <%s@crash.test>\r\nX-Crash-Token: %s\r\n\r\n%s", r.token, r.token, r.token, crashFiller)
	return w.Close()
}

var crashTokenLine = regexp.MustCompile(`(?m)^X-Crash-Token: (\S+)\r?$`)

// countTokens reads every delivered message under the domain directories
// (skipping the load sender's own mailbox, where bounces would land) and
// counts the copies of each token.
func countTokens(domainDirs ...string) (map[string]int, error) {
	copies := map[string]int{}
	for _, dd := range domainDirs {
		boxes, err := os.ReadDir(dd)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, b := range boxes {
			if b.Name() == "load" {
				continue
			}
			for _, sub := range []string{"new", "cur"} {
				dir := filepath.Join(dd, b.Name(), sub)
				files, err := os.ReadDir(dir)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					return nil, err
				}
				for _, f := range files {
					data, err := os.ReadFile(filepath.Join(dir, f.Name()))
					if err != nil {
						return nil, err
					}
					m := crashTokenLine.FindSubmatch(data)
					if m == nil {
						return nil, fmt.Errorf("%s has no X-Crash-Token header:\n%s", filepath.Join(dir, f.Name()), data)
					}
					copies[string(m[1])]++
				}
			}
		}
	}
	return copies, nil
}

type crashReport struct {
	sent, txns, resent, acknowledged, delivered, lost               int
	duplicated, extraCopies, dupLocal, dupRelayed                   int
	deliveredUnacked, neverAcked, unknown, errsUp, crashes, bounces int
	lostTokens                                                      []string
	elapsed                                                         time.Duration
}

func (l *crashLoad) report(copies map[string]int) crashReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	rep := crashReport{sent: len(l.records), txns: l.txns, errsUp: l.errsUp}
	known := map[string]bool{}
	for _, r := range l.records {
		known[r.token] = true
		n := copies[r.token]
		if n > 1 {
			rep.duplicated++
			rep.extraCopies += n - 1
			// Local mailboxes are idempotent per queue id, so a local
			// duplicate can only come from a client resending after a lost
			// 250; a relayed one may also be a redelivery to the sink.
			if strings.HasSuffix(r.rcpt, "@contoso.com") {
				rep.dupLocal++
			} else {
				rep.dupRelayed++
			}
		}
		if r.attempts > 1 {
			rep.resent++
		}
		switch {
		case r.acked:
			rep.acknowledged++
			if n > 0 {
				rep.delivered++
			} else {
				rep.lost++
				rep.lostTokens = append(rep.lostTokens, r.token)
			}
		case n > 0:
			rep.deliveredUnacked++
		default:
			rep.neverAcked++
		}
	}
	for tok := range copies {
		if !known[tok] {
			rep.unknown++
		}
	}
	return rep
}

func (r crashReport) String() string {
	return fmt.Sprintf("crash safety: crashes %d | messages sent %d (transactions %d; %d messages resent after no 250) | acknowledged %d | delivered %d | lost %d | "+
		"duplicated %d (%d extra copies; %d local, %d relayed) | delivered without 250 %d | never acknowledged %d | bounces %d | client errors while up %d | load phase %v",
		r.crashes, r.sent, r.txns, r.resent, r.acknowledged, r.delivered, r.lost, r.duplicated, r.extraCopies, r.dupLocal, r.dupRelayed,
		r.deliveredUnacked, r.neverAcked, r.bounces, r.errsUp, r.elapsed.Round(time.Millisecond))
}
