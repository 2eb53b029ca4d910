package e2e

import (
	"context"
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// High availability: two real `mailflow serve` nodes share one queue in a
// real PostgreSQL and relay to a slow receiver. One node is killed with
// SIGKILL HA_ROUNDS times (default 2; scripts/ha-harness N runs more) while
// the receiver holds its deliveries; the database is stopped mid-load once;
// a node is paused with SIGSTOP past its lease. Every message a node
// acknowledged must reach the receiver (0 lost); duplicates are counted and
// reported — delivery is at-least-once.

const haLease = 3 * time.Second

type haNode struct {
	name, cfg string
	port      int
	proc      *proc
}

func haConfig(t *testing.T, dir, name string, port, sinkPort int) string {
	t.Helper()
	cfg := filepath.Join(dir, strings.ToLower(name)+".yaml")
	testkit.WriteFile(t, cfg, fmt.Sprintf(`server:
  name: %s
  fqdn: mail.contoso.com
  data_dir: ./%s-data
accepted_domains: [contoso.com]
trust:
  system_roots: false
receive_connectors:
  - name: Relay %s
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.1/32"]
    auth_mechanism: [ExternalAuthoritative]
    permission_groups: [ExchangeServers]
send_connectors:
  - name: To sink
    address_spaces: [fabrikam.com]
    smart_hosts: ["127.0.0.1:%d"]
    fqdn: %s.contoso.com
    connect_timeout: 5s
queue:
  backend: postgres
  dsn_file: queue.dsn
  lease: %s
  retry_intervals: [1s]
limits:
  max_connections_per_ip: 200
admin:
  listen: 127.0.0.1:%d
`, name, strings.ToLower(name), name, port, sinkPort, strings.ToLower(name), haLease, testkit.FreePort(t)))
	return cfg
}

// haLoad sends numbered messages, each to one node and, when that node
// refuses or is down, to the other — as a client with two MX hosts would.
type haLoad struct {
	nodes   []*haNode
	mu      sync.Mutex
	acked   map[string]bool
	tempErr atomic.Int64 // 4xx replies (e.g. 451 while the database is down)
	next    atomic.Int64
}

func (l *haLoad) send(tok string, first int) error {
	msg := fmt.Sprintf("From: load@fabrikam.com\r\nTo: user@fabrikam.com\r\nSubject: ha %s\r\nX-HA-Token: %s\r\n\r\nhigh availability\r\n", tok, tok)
	var err error
	for try := 0; try < 200; try++ {
		n := l.nodes[(first+try)%len(l.nodes)]
		err = smtp.SendMail("127.0.0.1:"+strconv.Itoa(n.port), nil, "load@fabrikam.com", []string{"user@fabrikam.com"}, []byte(msg))
		if err == nil {
			l.mu.Lock()
			l.acked[tok] = true
			l.mu.Unlock()
			return nil
		}
		if strings.Contains(err.Error(), "451") || strings.Contains(err.Error(), "452") {
			l.tempErr.Add(1)
		}
		time.Sleep(50 * time.Millisecond) // client retry back-off, as an MTA's
	}
	return fmt.Errorf("message %s never acknowledged: %w", tok, err)
}

// run sends count messages with workers clients and returns the first
// error of a message that was never acknowledged.
func (l *haLoad) run(prefix string, count, workers int) error {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	work := make(chan int)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := l.send(fmt.Sprintf("%s-%d", prefix, i), w+i); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range count {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// duplicates counts extra copies the sink accepted of acknowledged messages.
func (l *haLoad) duplicates(s *haSink) int {
	copies, _, _ := s.snapshot()
	l.mu.Lock()
	defer l.mu.Unlock()
	dup := 0
	for tok := range l.acked {
		dup += max(copies[tok]-1, 0)
	}
	return dup
}

func (l *haLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func TestHATwoNodesSharedQueue(t *testing.T) {
	rounds := crashEnvInt(t, "HA_ROUNDS", 2)
	pg := testkit.StartPostgres(t)
	dsn := pg.CreateDatabase(t, "mailflow_ha")
	dir := t.TempDir()
	testkit.WriteFile(t, filepath.Join(dir, "queue.dsn"), dsn+"\n")
	sink := startHASink(t, 150*time.Millisecond)
	_, sinkPortS, _ := strings.Cut(sink.addr, ":")
	sinkPort, _ := strconv.Atoi(sinkPortS)

	var nodes []*haNode
	for _, name := range []string{"NODE1", "NODE2"} {
		n := &haNode{name: name, port: testkit.FreePort(t)}
		n.cfg = haConfig(t, dir, name, n.port, sinkPort)
		n.proc = startServe(t, n.cfg)
		nodes = append(nodes, n)
	}
	db, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	load := &haLoad{nodes: nodes, acked: map[string]bool{}}

	// Phase 1: kill -9 a node while the slow receiver holds its deliveries.
	var takeovers []time.Duration
	for round := range rounds {
		victim := nodes[round%2]
		loadDone := make(chan error, 1)
		go func() { loadDone <- load.run(fmt.Sprintf("kill%d", round), 40, 8) }()
		if round == 0 {
			// Operations see the cluster: the other node lists the
			// victim's leases and counts them in its stats.
			other := nodes[(round+1)%2]
			pollUntil(t, "queue list on "+other.name+" to show "+victim.name+" holding a lease", func() (bool, string) {
				code, out, errOut := mailflow(t, "queue", "list", "-c", other.cfg)
				return code == 0 && strings.Contains(out, "LEASE") && strings.Contains(out, victim.name), out + errOut
			})
			code, out, errOut := mailflow(t, "queue", "stats", "--json", "-c", other.cfg)
			if code != 0 || !strings.Contains(out, `"backend": "postgres"`) || !strings.Contains(out, `"node": "`+other.name+`"`) {
				t.Errorf("queue stats --json on %s (exit %d):\n%s%s", other.name, code, out, errOut)
			}
		}
		var held []string
		pollUntil(t, victim.name+" holding deliveries", func() (bool, string) {
			rows, err := db.Query(context.Background(), `SELECT id FROM queue_messages WHERE lease_owner = $1 AND lease_expires > now()`, victim.name)
			if err != nil {
				return false, err.Error()
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			held = ids
			return err == nil && len(ids) > 0, fmt.Sprintf("%d leased, %v", len(ids), err)
		})
		victim.proc.kill()
		killed := time.Now()
		// What the dead node still held at the kill (finished deliveries
		// released their leases before it).
		rows, err := db.Query(context.Background(), `SELECT id FROM queue_messages WHERE lease_owner = $1 AND lease_expires > now()`, victim.name)
		if err != nil {
			t.Fatal(err)
		}
		if held, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
		if len(held) == 0 {
			t.Logf("round %d: %s held no lease at the kill", round, victim.name)
		}
		// Every message the dead node held is delivered by the other
		// node once its lease has expired.
		pollUntil(t, "the survivor to take over "+victim.name+"'s leases", func() (bool, string) {
			var left int
			err := db.QueryRow(context.Background(), `SELECT count(*) FROM queue_messages WHERE id = ANY($1)`, held).Scan(&left)
			return err == nil && left == 0, fmt.Sprintf("%d of %d still queued (%v)", left, len(held), err)
		})
		if len(held) > 0 {
			takeovers = append(takeovers, time.Since(killed))
		}
		if err := <-loadDone; err != nil {
			t.Fatal(err)
		}
		victim.proc = startServe(t, victim.cfg)
	}

	waitQueueEmpty(t, awaitAdmin(t, nodes[0].cfg), "shared")
	killDups := load.duplicates(sink)

	// Phase 2: the database stops mid-load: temporary failures, then flow.
	loadDone := make(chan error, 1)
	go func() { loadDone <- load.run("dbstop", 60, 8) }()
	acked := load.ackedCount()
	pollUntil(t, "load running before the database stops", func() (bool, string) {
		return load.ackedCount() >= acked+10, ""
	})
	if err := pg.Stop("fast"); err != nil {
		t.Fatal(err)
	}
	before := load.tempErr.Load()
	pollUntil(t, "clients to get temporary failures while the database is down", func() (bool, string) {
		return load.tempErr.Load() > before, ""
	})
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if err := <-loadDone; err != nil {
		t.Fatal(err)
	}
	waitQueueEmpty(t, awaitAdmin(t, nodes[0].cfg), "shared")
	outageDups := load.duplicates(sink) - killDups
	stale := 0
	for _, n := range nodes {
		stale += strings.Count(n.proc.Stderr(), "outcome not recorded")
	}
	t.Logf("database stop: %d duplicate copies; %d outcomes were not recorded because another node had claimed the message when the database returned (its lease lapsed during the outage)", outageDups, stale)
	for _, n := range nodes {
		if got := strings.Count(n.proc.Stderr(), "queue database unreachable"); got > 1 {
			t.Errorf("%s logged the outage %d times; want one line per change, not a flood", n.name, got)
		}
	}

	// Phase 3: SIGSTOP the node delivering a held message past its lease;
	// the other node delivers it; the paused node's late refusal is not
	// recorded (no FAIL, no DSN).
	heldBy, release := sink.hold("paused-1")
	pausedDone := make(chan error, 1)
	go func() { pausedDone <- load.send("paused-1", 0) }()
	if err := <-pausedDone; err != nil {
		t.Fatal(err)
	}
	var paused *haNode
	select {
	case helo := <-heldBy:
		for _, n := range nodes {
			if helo == strings.ToLower(n.name)+".contoso.com" {
				paused = n
			}
		}
	case <-time.After(pollDeadline):
		t.Fatal("no node delivered the held message")
	}
	if paused == nil {
		t.Fatal("held by an unknown node")
	}
	paused.proc.signal(t, syscall.SIGSTOP)
	pollUntil(t, "the other node to deliver the paused node's message", func() (bool, string) {
		copies, _, _ := sink.snapshot()
		return copies["paused-1"] == 1, ""
	})
	mark := paused.proc.mark()
	close(release) // the sink answers the paused node 550
	paused.proc.signal(t, syscall.SIGCONT)
	paused.proc.waitLog(t, mark, pollDeadline, "outcome not recorded: the message was taken over")

	// Settle: everything acknowledged is delivered; count copies.
	waitQueueEmpty(t, awaitAdmin(t, nodes[0].cfg), "shared")
	copies, byNode, bounces := sink.snapshot()
	lost, dup := 0, 0
	var lostToks []string
	load.mu.Lock()
	for tok := range load.acked {
		switch c := copies[tok]; {
		case c == 0:
			lost++
			lostToks = append(lostToks, tok)
		case c > 1:
			dup += c - 1
		}
	}
	total := len(load.acked)
	load.mu.Unlock()
	sort.Strings(lostToks)
	t.Logf("HA run: %d kill -9 rounds, 1 database stop, 1 SIGSTOP; %d acknowledged, %d lost, %d duplicate copies (%.1f%%; %d of them from the kill rounds); per node %v; %d temporary failures during the outage; takeover after kill %v (lease %v)",
		rounds, total, lost, dup, 100*float64(dup)/float64(max(total, 1)), killDups, byNode, load.tempErr.Load(), takeovers, haLease)
	if lost > 0 {
		t.Errorf("LOST %d acknowledged message(s): %v", lost, lostToks)
	}
	if bounces > 0 {
		t.Errorf("%d DSN(s) reached the receiver: a stale outcome was recorded", bounces)
	}
	for i, d := range takeovers {
		// The lease expires at most haLease after the last renewal; the
		// survivor's timer fires at the expiry; then one delivery (150 ms).
		if d > haLease+5*time.Second {
			t.Errorf("round %d: takeover took %v, want within the lease (%v) plus a delivery", i, d, haLease)
		}
	}
	// Tracking events name the node that recorded them.
	// (The tracking writer flushes once a second: poll.)
	for _, n := range nodes {
		pollUntil(t, "a tracking event of "+n.name+" with S:Node="+n.name, func() (bool, string) {
			found := false
			filepath.WalkDir(filepath.Join(dir, strings.ToLower(n.name)+"-data"), func(path string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.Contains(path, "MessageTracking") {
					b, _ := os.ReadFile(path)
					found = found || strings.Contains(string(b), "S:Node="+n.name)
				}
				return nil
			})
			return found, ""
		})
	}
	if os.Getenv("HA_REPORT") != "" {
		os.WriteFile(os.Getenv("HA_REPORT"), fmt.Appendf(nil, "acknowledged=%d lost=%d duplicates=%d kill_duplicates=%d takeover=%v\n", total, lost, dup, killDups, takeovers), 0o644)
	}
}
