package queue

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// spoolBody writes content to a spool file in q's spool directory, as the
// receiver does for a large message.
func spoolBody(t *testing.T, q *Queue, content []byte) Body {
	t.Helper()
	f, err := CreateSpoolFile(q.SpoolDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	return Body{Path: f.Name(), Size: int64(len(content))}
}

func TestSpooledBodyIsStoredAsAFileAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(t0)
	q := mustOpen(t, testOptions(dir, clock, nil, nil))
	content := bytes.Repeat([]byte("0123456789abcdef\r\n"), 40000) // 720 kB
	body := spoolBody(t, q, content)
	id, err := q.PutBody(context.Background(), sampleEnv("bob@fabrikam.com"), body)
	if err != nil {
		t.Fatal(err)
	}
	if err := body.RemoveSpool(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bodies", id)); err != nil {
		t.Fatalf("spooled body not kept as a file: %v", err)
	}
	if m, _ := q.Get(id); m.Env.Size != int64(len(content)) {
		t.Fatalf("size = %d, want %d", m.Env.Size, len(content))
	}
	q.Close()

	q2 := mustOpen(t, testOptions(dir, clock, nil, nil))
	r, err := q2.store.Body(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, content) {
		t.Fatalf("body after reopen differs (%d bytes, want %d)", len(got), len(content))
	}
	if err := q2.store.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bodies", id)); !os.IsNotExist(err) {
		t.Fatalf("body file still there after Delete: %v", err)
	}
}

func TestOpenRemovesHalfWrittenSpoolAndOrphanBodyFiles(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(t0)
	q := mustOpen(t, testOptions(dir, clock, nil, nil))
	half, err := CreateSpoolFile(q.SpoolDir())
	if err != nil {
		t.Fatal(err)
	}
	half.Write([]byte("Subject: never finished\r\n"))
	half.Close()
	// A body renamed into the queue whose commit never happened.
	orphan := filepath.Join(dir, "bodies", "0000000000000ABC")
	os.MkdirAll(filepath.Dir(orphan), 0o700)
	if err := os.WriteFile(orphan, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	keep := mustPut(t, q, sampleEnv("bob@fabrikam.com"), sampleBody("kept"))
	q.Close()

	q2 := mustOpen(t, testOptions(dir, clock, nil, nil))
	for _, p := range []string{half.Name(), orphan} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived recovery: %v", p, err)
		}
	}
	if _, ok := q2.Get(keep); !ok {
		t.Fatal("an acknowledged message was lost by the clean-up")
	}
}

func TestMissingBodyFileIsQuarantined(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(t0)
	logs := &logBuffer{}
	o := testOptions(dir, clock, nil, nil)
	q := mustOpen(t, o)
	id, err := q.PutBody(context.Background(), sampleEnv("bob@fabrikam.com"), spoolBody(t, q, []byte("Subject: x\r\n\r\nbody\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	os.Remove(filepath.Join(dir, "bodies", id))
	o.Logger = logs.Logger()
	q2 := mustOpen(t, o)
	if _, ok := q2.Get(id); ok {
		t.Fatal("a message without its body file was loaded")
	}
	if !bytes.Contains([]byte(logs.String()), []byte("body file")) {
		t.Fatalf("quarantine not logged: %s", logs.String())
	}
}
