package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// TestQueueExportImportBetweenStores moves a queue that holds deferred
// messages and a suspended next hop from a node's bbolt file into
// PostgreSQL with the CLI, imports it twice (nothing duplicated), lets a
// PostgreSQL node deliver it while the hop stays suspended there, and
// moves an empty queue back.
func TestQueueExportImportBetweenStores(t *testing.T) {
	pg := testkit.StartPostgres(t)
	dsn := pg.CreateDatabase(t, "mailflow_migrate")
	dir := t.TempDir()
	sink := startHASink(t, 0)
	_, sinkPortS, _ := strings.Cut(sink.addr, ":")
	port := testkit.FreePort(t)
	// The bbolt node relays to a port where nothing listens: its messages
	// stay queued (deferred) until the move.
	boltCfg := filepath.Join(dir, "bolt.yaml")
	testkit.WriteFile(t, boltCfg, fmt.Sprintf(`server:
  name: OLD
  fqdn: mail.contoso.com
  data_dir: ./old-data
accepted_domains: [contoso.com]
trust:
  system_roots: false
receive_connectors:
  - name: Relay OLD
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.1/32"]
    auth_mechanism: [ExternalAuthoritative]
    permission_groups: [ExchangeServers]
send_connectors:
  - name: To nowhere
    address_spaces: [fabrikam.com]
    smart_hosts: ["127.0.0.1:%d"]
    connect_timeout: 2s
queue:
  retry_intervals: [1h]
admin:
  listen: 127.0.0.1:%d
`, port, testkit.FreePort(t), testkit.FreePort(t)))
	old := startServe(t, boltCfg)
	load := &haLoad{nodes: []*haNode{{name: "OLD", port: port}}, acked: map[string]bool{}}
	if err := load.run("move", 12, 3); err != nil {
		t.Fatal(err)
	}
	waitQueueLen(t, boltCfg, 12)
	// A hop the administrator held (no message waits for it here, so the
	// PostgreSQL node still delivers everything).
	if code, out, errOut := mailflow(t, "queue", "suspend", "Local", "-c", boltCfg); code != 0 {
		t.Fatalf("suspend (exit %d): %s%s", code, out, errOut)
	}
	old.stop()

	export := filepath.Join(dir, "queue.jsonl")
	if code, out, errOut := mailflow(t, "queue", "export", "-c", boltCfg, "-o", export); code != 0 || !strings.Contains(errOut, "exported 12 message(s) and 1 suspended next hop(s) (Local)") {
		t.Fatalf("export (exit %d): %s%s", code, out, errOut)
	}
	testkit.WriteFile(t, filepath.Join(dir, "queue.dsn"), dsn)
	pgCfg := haConfig(t, dir, "NODE1", testkit.FreePort(t), atoi(t, sinkPortS))
	for i, want := range []string{"imported 12 message(s) into the PostgreSQL database (queue.backend postgres), skipped 0 already there, 1 suspended next hop(s) (Local)",
		"imported 0 message(s) into the PostgreSQL database (queue.backend postgres), skipped 12"} {
		if code, out, errOut := mailflow(t, "queue", "import", "-c", pgCfg, export); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("import %d (exit %d): %s%s; want %q", i+1, code, out, errOut, want)
		}
	}
	startServe(t, pgCfg)
	c := awaitAdmin(t, pgCfg)
	if err := c.Retry(""); err != nil { // the imported schedule says 1h: retry now
		t.Fatal(err)
	}
	waitQueueEmpty(t, c, "PostgreSQL")
	hops, err := c.Hops()
	if err != nil || len(hops) != 1 || hops[0].Name != "Local" || !hops[0].Suspended {
		t.Errorf("the PostgreSQL node lists next hops %+v (%v), want Local suspended", hops, err)
	}
	copies, _, _ := sink.snapshot()
	for tok := range load.acked {
		if copies[tok] != 1 {
			t.Errorf("message %s delivered %d times after the move, want 1", tok, copies[tok])
		}
	}
	if len(copies) != 12 {
		t.Errorf("%d distinct messages delivered, want 12", len(copies))
	}
}

func waitQueueLen(t *testing.T, cfg string, n int) {
	t.Helper()
	c := awaitAdmin(t, cfg)
	pollUntil(t, fmt.Sprintf("%d messages queued", n), func() (bool, string) {
		msgs, err := c.Queue()
		if err != nil {
			return false, err.Error()
		}
		return len(msgs) == n, fmt.Sprintf("%d queued", len(msgs))
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}
