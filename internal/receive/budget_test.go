package receive

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/queue"
)

func TestInflightBudgetRefusesWith452AndRecovers(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	h.srv.opts.InflightLimit = 256 << 10
	// Other sessions hold the whole budget.
	if !h.srv.reserve(256 << 10) {
		t.Fatal("could not take the budget")
	}
	c := h.dial(t, "127.0.0.2")
	c.ehlo("client.fabrikam.example")
	r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Subject: big\r\n\r\n"+strings.Repeat("x", 100)+"\r\n")
	if r.Code != 452 || !strings.Contains(r.Text, "4.3.1") {
		t.Fatalf("over budget: %q, want 452 4.3.1", r.Text)
	}
	if n := h.sub.callCount(); n != 0 {
		t.Fatalf("%d messages submitted over budget", n)
	}
	h.srv.releaseBudget(256 << 10)
	r = c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Subject: ok\r\n\r\nhello\r\n")
	if !isQueued(r) {
		t.Fatalf("after the budget returned: %q", r.Text)
	}
	c.quit()
	eventually(t, "the session's reservation to be returned", func() bool { return h.srv.inflight.Load() == 0 })
}

func TestLongMessageIDIsNotEchoed(t *testing.T) {
	h := newHarness(t, harnessConfig("", defaultConnector))
	c := h.dial(t, "127.0.0.2")
	c.ehlo("client.fabrikam.example")
	long := "<" + strings.Repeat("a", 900) + "\r\n " + strings.Repeat("b", 900) + "@fabrikam.example>"
	r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, "Message-ID: "+long+"\r\nSubject: x\r\n\r\nhello\r\n")
	if !isQueued(r) {
		t.Fatalf("end of data: %q", r.Text)
	}
	if len(r.Text) > 512 || strings.Contains(r.Text, "aaaa") {
		t.Fatalf("250 reply echoes the long Message-ID (%d octets)", len(r.Text))
	}
	c.quit()
	if m := h.sub.messages()[0]; len(m.Env.MessageID) > maxHeaderValue {
		t.Fatalf("tracking Message-ID is %d bytes, want ≤ %d", len(m.Env.MessageID), maxHeaderValue)
	}
}

// spoolWatcher is a Submitter that records where each body was when it
// was handed over.
type spoolWatcher struct {
	fakeSubmitter
	paths []string
}

func (w *spoolWatcher) PutBody(ctx context.Context, env queue.Envelope, b queue.Body) (string, error) {
	w.mu.Lock()
	w.paths = append(w.paths, b.Path)
	w.mu.Unlock()
	return w.fakeSubmitter.PutBody(ctx, env, b)
}

func TestLargeMessageIsSpooledOutsideTheBudget(t *testing.T) {
	sub := &spoolWatcher{}
	h := newHarnessWith(t, strings.Replace(harnessConfig("", defaultConnector), "max_message_size: 64KB", "max_message_size: 1MB", 1), sub)
	dir := t.TempDir()
	h.srv.opts.SpoolDir = dir
	h.srv.opts.SpoolThreshold = 64 << 10
	// The budget is smaller than the message: only the in-memory head
	// counts against it.
	h.srv.opts.InflightLimit = 128 << 10
	line := strings.Repeat("y", 78) + "\r\n"
	big := "Subject: spooled\r\nMessage-ID: <big@fabrikam.example>\r\n\r\n" + strings.Repeat(line, 4000) // 320 kB
	small := "Subject: small\r\n\r\nhello\r\n"
	c := h.dial(t, "127.0.0.2")
	c.ehlo("client.fabrikam.example")
	for _, body := range []string{big, small} {
		if r := c.sendMessage("alice@fabrikam.example", []string{"bob@contoso.com"}, body); !isQueued(r) {
			t.Fatalf("end of data: %q", r.Text)
		}
	}
	c.quit()
	msgs := sub.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages submitted, want 2", len(msgs))
	}
	if !strings.HasSuffix(string(msgs[0].Body), big+"\r\n") || msgs[0].Env.Size != int64(len(msgs[0].Body)) {
		t.Fatalf("spooled body differs from what was sent (%d bytes, size %d)", len(msgs[0].Body), msgs[0].Env.Size)
	}
	if msgs[0].Env.MessageID != "<big@fabrikam.example>" {
		t.Fatalf("Message-ID of the spooled message = %q", msgs[0].Env.MessageID)
	}
	sub.mu.Lock()
	paths := append([]string(nil), sub.paths...)
	sub.mu.Unlock()
	if paths[0] == "" || filepath.Dir(paths[0]) != dir {
		t.Fatalf("large body handed over from %q, want a spool file in %s", paths[0], dir)
	}
	if paths[1] != "" {
		t.Fatalf("small body was spooled to %s", paths[1])
	}
	eventually(t, "the spool file to be removed and the budget returned", func() bool {
		entries, _ := os.ReadDir(dir)
		return len(entries) == 0 && h.srv.inflight.Load() == 0
	})
}
