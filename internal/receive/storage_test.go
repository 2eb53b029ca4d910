package receive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mailflowhq/mailflow/internal/queue"
)

const replyNoStorage = "452 4.3.1 Insufficient system storage"

// TestStorageFault: when the Submitter cannot make a message durable the
// client gets 452 4.3.1 and nothing is acknowledged (no 250, no tracking
// RECEIVE); the transaction is reset, and once the fault clears the next
// message is accepted on the same session.
func TestStorageFault(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	c.ehlo("client.fabrikam.example")

	faults := []error{
		fmt.Errorf("queue message 0000000000000001: %w: %w", queue.ErrStorage, syscall.ENOSPC),
		fmt.Errorf("queue message 0000000000000002: %w: %w", queue.ErrStorage, syscall.EIO),
		fmt.Errorf("submit: %w", context.DeadlineExceeded), // not ErrStorage: still nothing stored
	}
	for _, fault := range faults {
		h.sub.setFail(fault)
		r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Subject: during the fault\r\n\r\nx")
		if r.Text != replyNoStorage {
			t.Fatalf("with %v: %q, want %q", fault, r.Text, replyNoStorage)
		}
		c.expect("RCPT TO:<bob@contoso.com>", replyNeedMail)
	}
	if n := len(h.sub.messages()); n != 0 || len(h.accepted()) != 0 {
		t.Fatalf("%d stored, %d acknowledged during the fault", n, len(h.accepted()))
	}

	h.sub.setFail(nil)
	r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Subject: after the fault\r\n\r\nx")
	if !isQueued(r) {
		t.Fatalf("after the fault cleared: %q", r.Text)
	}
	c.quit()
	msgs := h.sub.messages()
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Body), "after the fault") {
		t.Fatalf("stored %d messages", len(msgs))
	}
	if acked := h.accepted(); !slices.Equal(acked, []string{msgs[0].ID}) || !strings.Contains(r.Text, "InternalId="+msgs[0].ID) {
		t.Fatalf("acknowledged %v, reply %q, stored id %s", acked, r.Text, msgs[0].ID)
	}
	if calls := h.sub.callCount(); calls != len(faults)+1 {
		t.Fatalf("Submitter called %d times, want %d", calls, len(faults)+1)
	}
}

// TestQueueClosedDuringData: a queue shutting down makes the session say
// so (421) and end, rather than claim a storage problem.
func TestQueueClosedDuringData(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	h.sub.setFail(queue.ErrClosed)
	c := h.dial(t, "127.0.0.2")
	c.ehlo("client.fabrikam.example")
	r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Subject: x\r\n\r\nx")
	if r.Text != "421 4.3.2 Service shutting down, try again later" {
		t.Fatalf("got %q", r.Text)
	}
	c.expectClosed()
	if len(h.accepted()) != 0 {
		t.Fatal("acknowledged during shutdown")
	}
}

// TestRealQueueOnFullDisk runs the real queue on a 1 MB tmpfs, fills the
// file system, and shows 452 4.3.1 with nothing queued, then 250 once
// space is freed. It needs root (mount) and is skipped otherwise.
func TestRealQueueOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (the fake-submitter test covers the logic)")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "queue")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	q, err := queue.Open(queue.Options{Dir: mnt, ServerFQDN: "server1.contoso.local", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("open queue on tmpfs: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	h := newHarnessWith(t, harnessConfig("", defaultConnector), q)
	c := h.dial(t, "127.0.0.2")
	c.ehlo("client.fabrikam.example")

	// One message while there is room: the queue works on this mount.
	if r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Subject: first\r\n\r\n"+body(1000)); !isQueued(r) {
		t.Fatalf("first message: %q", r.Text)
	}

	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)
	big := "Subject: disk full\r\n\r\n" + body(60<<10)
	r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, big)
	if r.Text != replyNoStorage {
		t.Fatalf("with the disk full: %q, want %q", r.Text, replyNoStorage)
	}
	if n := len(q.List()); n != 1 {
		t.Fatalf("queue holds %d messages after the refused one, want 1", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r = c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, big)
	if !isQueued(r) {
		t.Fatalf("after freeing space: %q", r.Text)
	}
	c.quit()
	list := q.List()
	if len(list) != 2 || len(h.accepted()) != 2 {
		t.Fatalf("queue holds %d messages, %d acknowledged; want 2 and 2", len(list), len(h.accepted()))
	}
}

// fillDisk writes zeros to path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for i := 0; i < 1<<16; i++ { // bounded: 256 MB, far beyond the 1 MB mount
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("fill %s: %v", path, err)
		}
	}
	t.Fatalf("%s never filled up", path)
}
