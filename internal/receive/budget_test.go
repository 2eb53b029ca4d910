package receive

import (
	"strings"
	"testing"
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
