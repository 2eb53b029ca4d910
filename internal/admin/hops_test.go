package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// TestSuspendResumeThroughAPI suspends the local mailbox hop: a message
// for contoso.com then waits with 451 4.4.0, listed under the suspended
// hop; resuming delivers it at once; resuming again is refused.
func TestSuspendResumeThroughAPI(t *testing.T) {
	e := newEnv(t)
	if err := e.client.Suspend("Local"); err != nil {
		t.Fatal(err)
	}
	s, err := testkit.DialTLS(e.smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := deliver(s, "held locally"); code != 250 {
		t.Fatalf("DATA: %d %v", code, err)
	}
	s.Quit()
	testkit.Poll(t, 15*time.Second, "the message to wait for the suspended hop", func() (bool, string) {
		q, err := e.client.Queue()
		if err != nil || len(q) != 1 {
			return false, "queue not yet holding it"
		}
		le := q[0].Recipients[0].LastError.String()
		return strings.HasPrefix(le, "451 4.4.0 Next hop suspended"), le
	})
	hops, err := e.client.Hops()
	if err != nil || len(hops) != 1 || hops[0].Name != "Local" || !hops[0].Suspended || hops[0].Retry != 1 {
		t.Fatalf("hops = %+v %v", hops, err)
	}
	if err := e.client.Resume("Local"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "the resumed message to be delivered", func() bool {
		q, err := e.client.Queue()
		return err == nil && len(q) == 0
	})
	if err := e.client.Resume("Local"); err == nil || !strings.Contains(err.Error(), "not suspended") {
		t.Fatalf("resuming a hop that is not suspended: %v", err)
	}
}
