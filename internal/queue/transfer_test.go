package queue

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// TestExportImport moves a queue with a partly delivered message from one
// store to another: same ids, states and bodies; a second import adds
// nothing. In the PostgreSQL run the target is a PostgreSQL store.
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

	var buf bytes.Buffer
	n, err := Export(context.Background(), src, &buf)
	if err != nil || n != 2 {
		t.Fatalf("Export = %d, %v; want 2 messages", n, err)
	}
	dir := t.TempDir()
	to := testOptions(dir, clock, nil, nil)
	target := to.Store
	if target == nil {
		if target, err = OpenBoltStore(filepath.Join(dir, "queue.db"), nil); err != nil {
			t.Fatal(err)
		}
	}
	defer target.Close()
	exported := buf.Bytes()
	added, skipped, err := Import(context.Background(), target, bytes.NewReader(exported))
	if err != nil || added != 2 || skipped != 0 {
		t.Fatalf("Import = %d added, %d skipped, %v; want 2, 0", added, skipped, err)
	}
	added, skipped, err = Import(context.Background(), target, bytes.NewReader(exported))
	if err != nil || added != 0 || skipped != 2 {
		t.Fatalf("second Import = %d added, %d skipped, %v; want 0, 2 (no duplicates)", added, skipped, err)
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
