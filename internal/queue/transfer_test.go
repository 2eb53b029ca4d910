package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// openTransferTarget opens an empty store to import into: a bbolt file, or
// in the PostgreSQL run a PostgreSQL store. The test closes it.
func openTransferTarget(t *testing.T, clock *testkit.Clock) Store {
	t.Helper()
	dir := t.TempDir()
	target := testOptions(dir, clock, nil, nil).Store
	if target == nil {
		var err error
		if target, err = OpenBoltStore(filepath.Join(dir, "queue.db"), nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { target.Close() })
	return target
}

// queueWithoutHops is a store that keeps no suspended next hops.
type queueWithoutHops struct{ Store }

// deferredStore is a bbolt store holding one deferred message for
// dave@tailspin.com (body "one"); t closes it.
func deferredStore(t *testing.T, clock *testkit.Clock) *BoltStore {
	t.Helper()
	src, err := OpenBoltStore(filepath.Join(t.TempDir(), "queue.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	o := testOptions("", clock, newScript(deferAll), nil)
	o.Store = src
	q := mustOpen(t, o)
	mustPut(t, q, sampleEnv("dave@tailspin.com"), sampleBody("one"))
	q.ProcessDue(context.Background())
	return src
}

// exportOf writes a queue of one deferred message for dave@tailspin.com,
// with the given hops suspended, and returns the export.
func exportOf(t *testing.T, clock *testkit.Clock, hops ...string) []byte {
	t.Helper()
	src := deferredStore(t, clock)
	for _, h := range hops {
		if err := src.SuspendHop(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := Export(context.Background(), src, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A file written by the version before suspended hops were exported (only
// message records) still imports, and the target keeps its suspensions.
func TestImportFileOfPreviousVersion(t *testing.T) {
	clock := testkit.NewClock(t0)
	ctx := context.Background()
	src := deferredStore(t, clock)
	msgs, _, err := src.Load(ctx)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("source: %d messages, %v", len(msgs), err)
	}
	// The previous version's record, as it wrote it.
	type oldItem struct {
		Message *Message `json:"message"`
		Body    []byte   `json:"body"`
	}
	var old bytes.Buffer
	if err := json.NewEncoder(&old).Encode(oldItem{Message: msgs[0], Body: []byte(sampleBody("one"))}); err != nil {
		t.Fatal(err)
	}

	target := openTransferTarget(t, clock)
	if err := target.(HopStateStore).SuspendHop(ctx, "To Partner"); err != nil {
		t.Fatal(err)
	}
	c, err := Import(ctx, target, &old)
	if err != nil || c.Messages != 1 || c.Skipped != 0 || len(c.SuspendedHops) != 0 {
		t.Fatalf("Import of an old file = %+v, %v; want 1 message, no hops", c, err)
	}
	if hops, err := target.(HopStateStore).SuspendedHops(ctx); err != nil || !slices.Equal(hops, []string{"To Partner"}) {
		t.Fatalf("target's suspended hops after the import = %q, %v; want [To Partner] kept", hops, err)
	}
	// Without suspensions, an export is still the old format.
	if again := exportOf(t, clock); strings.Contains(string(again), "suspended_hop") {
		t.Errorf("an export without suspensions has a hop record: %s", again)
	}
}

// A store that keeps no suspended next hops exports none, refuses a file
// that has some (before importing anything) and takes one that has none.
func TestImportSuspendedHopsIntoStoreWithoutHopState(t *testing.T) {
	clock := testkit.NewClock(t0)
	ctx := context.Background()
	target := queueWithoutHops{openTransferTarget(t, clock)}

	c, err := Import(ctx, target, bytes.NewReader(exportOf(t, clock, "To Partner")))
	if !errors.Is(err, ErrHopsNotKept) || !strings.Contains(err.Error(), `"To Partner"`) || c.Messages != 0 {
		t.Fatalf("Import with a suspended hop into a store without hop state = %+v, %v; want ErrHopsNotKept naming the hop, nothing added", c, err)
	}
	if msgs, _, _ := target.Load(ctx); len(msgs) != 0 {
		t.Fatalf("%d messages imported before the refusal, want 0", len(msgs))
	}
	c, err = Import(ctx, target, bytes.NewReader(exportOf(t, clock)))
	if err != nil || c.Messages != 1 {
		t.Fatalf("Import without suspended hops = %+v, %v; want 1 message", c, err)
	}
	var buf bytes.Buffer
	if c, err = Export(ctx, target, &buf); err != nil || c.Messages != 1 || len(c.SuspendedHops) != 0 || strings.Contains(buf.String(), "suspended_hop") {
		t.Fatalf("Export of a store without hop state = %+v, %v: %s", c, err, buf.String())
	}
}

// A record that is neither a message nor a suspended hop (a newer kind) is
// refused, never skipped.
func TestImportRefusesUnknownRecord(t *testing.T) {
	clock := testkit.NewClock(t0)
	for _, line := range []string{`{"future_kind":"x"}`, `{"suspended_hop":"  "}`} {
		target := openTransferTarget(t, clock)
		if c, err := Import(context.Background(), target, strings.NewReader(line+"\n")); err == nil || !strings.Contains(err.Error(), "item 1") {
			t.Errorf("Import of %s = %+v, %v; want an error for item 1", line, c, err)
		}
	}
}

// TestExportImport moves a queue with a partly delivered message and two
// suspended next hops from one store to another: same ids, states and
// bodies; the suspensions are added to the one the target had; a second
// import adds nothing. In the PostgreSQL run the target is a PostgreSQL
// store.
func TestExportImport(t *testing.T) {
	clock := testkit.NewClock(t0)
	src, err := OpenBoltStore(filepath.Join(t.TempDir(), "queue.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	d := newScript(func(rcpt string, _ int) Result {
		if rcpt == "bob@fabrikam.com" {
			return deliverAll(rcpt, 1)
		}
		return deferAll(rcpt, 1)
	})
	o := testOptions("", clock, d, nil)
	o.Store = src
	q := mustOpen(t, o)
	mustPut(t, q, sampleEnv("bob@fabrikam.com", "carol@fabrikam.com"), sampleBody("one"))
	mustPut(t, q, sampleEnv("dave@tailspin.com"), sampleBody("two"))
	q.ProcessDue(context.Background())
	want := q.List()
	ctx := context.Background()
	for _, h := range []string{"To Partner", "Local"} {
		if err := src.SuspendHop(ctx, h); err != nil {
			t.Fatal(err)
		}
	}

	var buf bytes.Buffer
	c, err := Export(ctx, src, &buf)
	if err != nil || c.Messages != 2 || !slices.Equal(c.SuspendedHops, []string{"Local", "To Partner"}) {
		t.Fatalf("Export = %+v, %v; want 2 messages and [Local To Partner]", c, err)
	}
	// The suspensions come first: an older reader stops at line 1.
	first, _, _ := bytes.Cut(buf.Bytes(), []byte("\n"))
	if string(first) != `{"suspended_hop":"Local"}` {
		t.Errorf("first line of the export = %s, want the suspended hop Local", first)
	}
	target := openTransferTarget(t, clock)
	if err := target.(HopStateStore).SuspendHop(ctx, "Fabrikam Outbound"); err != nil {
		t.Fatal(err)
	}
	exported := buf.Bytes()
	c, err = Import(ctx, target, bytes.NewReader(exported))
	if err != nil || c.Messages != 2 || c.Skipped != 0 || len(c.SuspendedHops) != 2 {
		t.Fatalf("Import = %+v, %v; want 2 added, 0 skipped, 2 suspended hops", c, err)
	}
	c, err = Import(ctx, target, bytes.NewReader(exported))
	if err != nil || c.Messages != 0 || c.Skipped != 2 || len(c.SuspendedHops) != 2 {
		t.Fatalf("second Import = %+v, %v; want 0 added, 2 skipped (no duplicates), 2 suspended hops", c, err)
	}
	hops, err := target.(HopStateStore).SuspendedHops(ctx)
	if err != nil || !slices.Equal(hops, []string{"Fabrikam Outbound", "Local", "To Partner"}) {
		t.Fatalf("target's suspended hops = %q, %v; want its own and the imported ones", hops, err)
	}
	got, _, err := target.Load(context.Background())
	if err != nil || len(got) != 2 {
		t.Fatalf("target holds %d messages (%v), want 2", len(got), err)
	}
	for i, m := range got {
		if m.ID != want[i].ID || !reflect.DeepEqual(m.Recipients, want[i].Recipients) {
			t.Errorf("imported %+v, want %+v", m, want[i])
		}
		rc, err := target.Body(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		if b.String() != sampleBody([]string{"one", "two"}[i]) {
			t.Errorf("body of %s = %q", m.ID, b.String())
		}
	}
}
