package node_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// Recipients of two domains routed to one smart host (whose expected
// certificate name does not depend on the domain) go to the next hop in
// one transaction; two messages share one connection.
func TestRecipientsOfOneMessageShareOneTransactionToASmartHost(t *testing.T) {
	var mu sync.Mutex
	var mails, rcpts int
	sink := &smtptest.Server{Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		mu.Lock()
		defer mu.Unlock()
		switch cmd.Verb {
		case "MAIL":
			mails++
		case "RCPT":
			rcpts++
		}
		return smtp.Reply{}, false
	}}
	sink.Start(t)
	sendPort := testkit.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "sender.yaml")
	testkit.WriteFile(t, cfg, senderConfig("", sendPort, fmt.Sprintf(`  - name: To partners
    address_spaces: [a.test, b.test]
    smart_hosts: ["[127.0.0.1]:%d"]
`, testkit.PortOf(t, sink.Addr))))
	n := start(t, cfg)
	s := dialPlain(t, fmt.Sprintf("127.0.0.1:%d", sendPort))
	for range 2 {
		if _, err := s.Mail("alice@sender.example", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rcpt("user@a.test"); err != nil {
			t.Fatal(err)
		}
		if code, err := s.Finish("user@b.test", body("two domains")); err != nil || code != 250 {
			t.Fatalf("submit: %d %v", code, err)
		}
		// One after the other: the second finds the first's connection
		// idle (two at once would rightly use two).
		testkit.Poll(t, 30*time.Second, "the queue to empty", func() (bool, string) {
			return len(n.Queue().List()) == 0, fmt.Sprintf("%d queued", len(n.Queue().List()))
		})
	}
	s.Quit()
	mu.Lock()
	defer mu.Unlock()
	if mails != 2 || rcpts != 4 {
		t.Fatalf("the smart host saw %d transactions with %d recipients, want 2 with 4 (one per message)", mails, rcpts)
	}
	if accepted, _, _ := sink.Connections(); accepted != 1 {
		t.Fatalf("the smart host accepted %d connections, want 1 (kept between the messages)", accepted)
	}
}
