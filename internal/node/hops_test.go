package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// startNode starts a node the test closes itself (to restart it on the
// same data); closeNode closes it, and the cleanup closes it if the test
// did not.
func startNode(t *testing.T, cfg string, opts node.Options) (n *node.Node, closeNode func()) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testkit.Logger(t)
	}
	n, err := node.Start(cfg, opts)
	if err != nil {
		t.Fatalf("start %s: %v", cfg, err)
	}
	closed := false
	closeNode = func() {
		if closed {
			return
		}
		closed = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("close %s: %v", cfg, err)
		}
	}
	t.Cleanup(closeNode)
	return n, closeNode
}

// queueLocal queues a message for user@contoso.com (the Local hop).
func queueLocal(t *testing.T, n *node.Node, subject string) string {
	t.Helper()
	env := queue.Envelope{From: "sender@tenant.example", To: []string{"user@contoso.com"}, ReceivedAt: time.Now()}
	id, err := n.Queue().Put(context.Background(), env, []byte(body(subject)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitSuspendedDeferral waits until n has attempted message id at least
// once more than after (after a retry) and deferred it as suspended, and
// returns its attempts.
func waitSuspendedDeferral(t *testing.T, n *node.Node, id string, after int) int {
	t.Helper()
	var attempts int
	testkit.Poll(t, 30*time.Second, "message "+id+" deferred as suspended", func() (bool, string) {
		m, ok := n.Queue().Get(id)
		if !ok || len(m.Recipients) != 1 {
			return false, "not queued"
		}
		r := m.Recipients[0]
		attempts = r.Attempts
		if r.LastError == nil {
			return false, fmt.Sprintf("attempts %d, no error yet", r.Attempts)
		}
		le := r.LastError.String()
		return r.Attempts > after && strings.HasPrefix(le, "451 4.4.0 Next hop suspended"), fmt.Sprintf("attempts %d: %s", r.Attempts, le)
	})
	return attempts
}

// hopListed is the Local hop as n lists it (queue hops, the Queues page,
// the metrics all read Hops).
func hopListed(n *node.Node, name string) (node.Hop, bool) {
	for _, h := range n.Hops() {
		if h.Name == name {
			return h, true
		}
	}
	return node.Hop{}, false
}

// A suspension outlasts a restart: the restarted node logs it, lists the
// hop suspended and defers its message again with 451 4.4.0 until resumed;
// the resume delivers it.
func TestSuspensionSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	n, closeNode := startNode(t, f.cfg, node.Options{})
	if err := n.Suspend("Local"); err != nil {
		t.Fatal(err)
	}
	id := queueLocal(t, n, "held across a restart")
	attempts := waitSuspendedDeferral(t, n, id, 0)
	closeNode()

	logger, logs := testkit.RecordLogs(t)
	n, _ = startNode(t, f.cfg, node.Options{Logger: logger})
	if logs.Count("next hop suspended (from store)", "hop=Local") != 1 {
		t.Errorf("the restarted node did not log the stored suspension; logs:\n%s", logs)
	}
	if h, ok := hopListed(n, "Local"); !ok || !h.Suspended || len(h.Items) != 1 || !n.Suspended("local") {
		t.Fatalf("after the restart, Local is listed as %+v (found %v), want suspended with the message", h, ok)
	}
	// The restarted node itself refuses the hop, not just the old record.
	if err := n.Queue().Retry(id); err != nil {
		t.Fatal(err)
	}
	waitSuspendedDeferral(t, n, id, attempts)

	if err := n.Resume("Local"); err != nil {
		t.Fatal(err)
	}
	testkit.Poll(t, 30*time.Second, "the resumed message delivered", func() (bool, string) {
		return len(n.Queue().List()) == 0 && mailboxCount(t, n, "contoso.com") == 1,
			fmt.Sprintf("%d queued, %d in the mailbox", len(n.Queue().List()), mailboxCount(t, n, "contoso.com"))
	})
	if err := n.Resume("Local"); err == nil || !strings.Contains(err.Error(), "not suspended") {
		t.Fatalf("resuming again: %v, want not suspended", err)
	}
	if h, ok := hopListed(n, "Local"); ok && h.Suspended {
		t.Fatalf("Local still listed suspended after the resume: %+v", h)
	}
}

// withStore runs fn on the queue store cfg names, the node being stopped
// (as queue export and import do).
func withStore(t *testing.T, cfg string, fn func(queue.Store)) {
	t.Helper()
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, where, err := node.OpenQueueStore(c, testkit.Logger(t))
	if err != nil {
		t.Fatalf("open %s: %v", where, err)
	}
	defer s.Close()
	fn(s)
}

// A suspension moves with the queue (queue export, queue import): the node
// started on the target lists the hop suspended and keeps its message
// deferred.
func TestSuspensionMovesWithExportImport(t *testing.T) {
	src := newFixture(t)
	n, closeNode := startNode(t, src.cfg, node.Options{})
	if err := n.Suspend("Local"); err != nil {
		t.Fatal(err)
	}
	id := queueLocal(t, n, "held across a move")
	waitSuspendedDeferral(t, n, id, 0)
	closeNode()

	var export bytes.Buffer
	withStore(t, src.cfg, func(s queue.Store) {
		if c, err := queue.Export(context.Background(), s, &export); err != nil || c.Messages != 1 || len(c.SuspendedHops) != 1 {
			t.Fatalf("export = %+v, %v; want 1 message and 1 suspended hop", c, err)
		}
	})
	dst := newFixture(t)
	withStore(t, dst.cfg, func(s queue.Store) {
		if c, err := queue.Import(context.Background(), s, &export); err != nil || c.Messages != 1 || len(c.SuspendedHops) != 1 {
			t.Fatalf("import = %+v, %v; want 1 message and 1 suspended hop", c, err)
		}
	})

	n, _ = startNode(t, dst.cfg, node.Options{})
	if h, ok := hopListed(n, "Local"); !ok || !h.Suspended || len(h.Items) != 1 {
		t.Fatalf("on the target, Local is listed as %+v (found %v), want suspended with the message", h, ok)
	}
	m, ok := n.Queue().Get(id)
	if !ok {
		t.Fatalf("message %s not on the target", id)
	}
	if err := n.Queue().Retry(id); err != nil {
		t.Fatal(err)
	}
	waitSuspendedDeferral(t, n, id, m.Recipients[0].Attempts)
	if c := mailboxCount(t, n, "contoso.com"); c != 0 {
		t.Fatalf("%d message(s) delivered to the suspended hop on the target", c)
	}
}

// sharedNodeConfig is a node of a cluster sharing the queue in
// PostgreSQL (dsn_file queue.dsn beside the configuration).
func sharedNodeConfig(t *testing.T, dir, name string) string {
	t.Helper()
	cfg := filepath.Join(dir, strings.ToLower(name)+".yaml")
	testkit.WriteFile(t, cfg, fmt.Sprintf(`server:
  name: %s
  fqdn: %s.contoso.com
  data_dir: ./%s-data
accepted_domains: [contoso.com]
trust:
  system_roots: false
admin:
  listen: off
receive_connectors:
  - name: Relay %s
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.1/32"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
queue:
  backend: postgres
  dsn_file: queue.dsn
`, name, strings.ToLower(name), strings.ToLower(name), name, testkit.FreePort(t)))
	return cfg
}

// With the queue in PostgreSQL a suspension made on one node holds on
// every node, from the moment Suspend returns, and outlasts a restart; a
// suspension the database cannot record is refused and changes nothing;
// any node may resume it.
func TestSuspensionIsSharedByTheNodesOfACluster(t *testing.T) {
	pg := testkit.StartPostgres(t)
	dir := t.TempDir()
	testkit.WriteFile(t, filepath.Join(dir, "queue.dsn"), pg.CreateDatabase(t, "hops")+"\n")
	cfgA, cfgB := sharedNodeConfig(t, dir, "NODEA"), sharedNodeConfig(t, dir, "NODEB")
	a, closeA := startNode(t, cfgA, node.Options{})
	b, closeB := startNode(t, cfgB, node.Options{})

	// Suspended on A after B started: B sees it at once.
	if err := a.Suspend("Local"); err != nil {
		t.Fatal(err)
	}
	if h, ok := hopListed(b, "Local"); !ok || !h.Suspended {
		t.Fatalf("node B lists Local as %+v (found %v), want suspended", h, ok)
	}
	// Only B is left to deliver: it refuses the hop.
	closeA()
	id := queueLocal(t, b, "held for the cluster")
	attempts := waitSuspendedDeferral(t, b, id, 0)
	if n := mailboxCount(t, b, "contoso.com"); n != 0 {
		t.Fatalf("node B delivered %d messages to the suspended hop", n)
	}

	// The database is down: the suspension is refused, nothing changes.
	if err := pg.Stop("fast"); err != nil {
		t.Fatal(err)
	}
	err := b.Suspend("Unroutable")
	if startErr := pg.Start(); startErr != nil {
		t.Fatal(startErr)
	}
	if !errors.Is(err, queue.ErrStorage) {
		t.Fatalf("suspend with the database down: %v, want a storage error", err)
	}
	if b.Suspended("Unroutable") {
		t.Fatal("a suspension the database refused is in force on the node")
	}
	if h, ok := hopListed(b, "Unroutable"); ok {
		t.Fatalf("a suspension the database refused is listed: %+v", h)
	}

	// B restarts: the suspension is still there and still holds.
	closeB()
	b, _ = startNode(t, cfgB, node.Options{})
	if h, ok := hopListed(b, "Local"); !ok || !h.Suspended || len(h.Items) != 1 {
		t.Fatalf("after restarting node B, Local is listed as %+v (found %v), want suspended with the message", h, ok)
	}
	if err := b.Queue().Retry(id); err != nil {
		t.Fatal(err)
	}
	waitSuspendedDeferral(t, b, id, attempts)

	// A comes back and resumes: the message is delivered (by either node).
	a, _ = startNode(t, cfgA, node.Options{})
	if !a.Suspended("Local") {
		t.Fatal("node A did not load the suspension at start")
	}
	if err := a.Resume("Local"); err != nil {
		t.Fatal(err)
	}
	testkit.Poll(t, 30*time.Second, "the resumed message delivered", func() (bool, string) {
		delivered := mailboxCount(t, a, "contoso.com") + mailboxCount(t, b, "contoso.com")
		return len(b.Queue().List()) == 0 && delivered == 1, fmt.Sprintf("%d queued, %d delivered", len(b.Queue().List()), delivered)
	})
	if h, ok := hopListed(b, "Local"); ok && h.Suspended {
		t.Fatalf("node B still lists Local suspended after A resumed it: %+v", h)
	}
}
