package queue

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// pgSuiteDSN is set when TestQueueSuiteOnPostgreSQL re-runs this test
// binary: testOptions then gives each test's queue directory its own schema
// in that database, so the queue tests exercise the PostgreSQL store.
var pgSuiteDSN = os.Getenv("MAILFLOW_TEST_QUEUE_DSN")

// embeddedOnly are the tests of the bbolt file itself (group commit, file
// damage, file lock, copying the file as a crash) that have no meaning for
// PostgreSQL; everything else runs on both stores.
var embeddedOnly = []string{
	"TestGroupCommit", "TestCommitFailureOfOneWrite", "TestCorruptRecordIsQuarantined",
	"TestUnreadableStoreFileIsSetAside", "TestStoreLockedByAnotherOpener", "TestSuspendHopOnClosedBoltStoreFails",
	"TestPutOnClosedBoltStoreIsStorageError", "TestInFlightMessageIsRetriedAfterCrash",
	"TestQueueSuiteOnPostgreSQL", "TestPostgres.*",
	// The embedded store keeps spooled bodies as files beside queue.db.
	"TestSpooledBodyIsStoredAsAFileAndSurvivesReopen", "TestOpenRemovesHalfWrittenSpoolAndOrphanBodyFiles",
	"TestMissingBodyFileIsQuarantined",
}

// openSuiteStore opens a PostgreSQL store on the schema belonging to dir
// (the same dir reopens the same queue, as with the embedded file).
func openSuiteStore(dir string) Store {
	h := fnv.New64a()
	h.Write([]byte(dir))
	schema := fmt.Sprintf("q_%x", h.Sum64())
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgSuiteDSN)
	if err != nil {
		panic(fmt.Sprintf("connect to the suite database: %v", err))
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		panic(fmt.Sprintf("create schema %s: %v", schema, err))
	}
	s, err := OpenPostgresStore(ctx, PostgresOptions{DSN: pgSuiteDSN + "&search_path=" + schema, Node: "suite-node",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(fmt.Sprintf("open the PostgreSQL store: %v", err))
	}
	return s
}

// TestQueueSuiteOnPostgreSQL runs this package's queue tests again with
// the PostgreSQL store, against a real PostgreSQL started here.
func TestQueueSuiteOnPostgreSQL(t *testing.T) {
	if pgSuiteDSN != "" {
		t.Skip("already inside the PostgreSQL run")
	}
	pg := testkit.StartPostgres(t)
	dsn := pg.CreateDatabase(t, "queue_suite")
	cmd := exec.Command(os.Args[0], "-test.run", "^Test", "-test.skip", "^("+strings.Join(embeddedOnly, "|")+")$",
		"-test.count=1", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "MAILFLOW_TEST_QUEUE_DSN="+dsn)
	out, err := cmd.CombinedOutput()
	passed := strings.Count(string(out), "--- PASS")
	if err != nil {
		t.Fatalf("queue tests on PostgreSQL failed: %v\n%s", err, out)
	}
	if passed < 20 {
		t.Fatalf("only %d queue tests passed on PostgreSQL; output:\n%s", passed, out)
	}
	t.Logf("%d queue tests passed on the PostgreSQL store", passed)
}
