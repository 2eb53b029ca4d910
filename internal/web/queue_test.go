package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/web"
)

// TestQueueSuspendResumeRemoveAudited suspends a next hop from the queue
// page (its recipient is then held with 451 4.4.0 on retry), resumes it
// (retried at once: the 4.7.320 comes back), removes the message, and
// finds each change in the audit log with who and before/after.
func TestQueueSuspendResumeRemoveAudited(t *testing.T) {
	e := newEnv(t, "No relay")
	e.send(t, "admin@contoso.com", "user@partner.example", "held")
	var id string
	testkit.Poll(t, 30*time.Second, "the first attempt", func() (bool, string) {
		for _, m := range e.d.Node.Queue().List() {
			if m.Recipients[0].Attempts == 1 {
				id = m.ID
				return true, ""
			}
		}
		return false, ""
	})
	b := e.browser(t)
	if err := admin.SetPassword(admin.PasswordFile(e.d.Node.Runtime().Cfg), "short"); err == nil {
		t.Fatal("a 5-character password was accepted")
	}
	if err := admin.SetPassword(admin.PasswordFile(e.d.Node.Runtime().Cfg), "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	b.login("correct horse battery") // the password works as well as the token
	csrf := b.csrf("/queues")
	post := func(path string) {
		t.Helper()
		if code, body := b.post(path, url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
			t.Fatalf("POST %s: %d %.300s", path, code, body)
		}
	}
	lastError := func() string {
		m, ok := e.d.Node.Queue().Get(id)
		if !ok {
			return "(gone)"
		}
		return m.Recipients[0].LastError.String()
	}

	post("/queues/hops/To%20partner/suspend")
	if !e.d.Node.Suspended("To partner") {
		t.Fatal("To partner is not suspended")
	}
	if _, body := b.get("/queues"); !strings.Contains(body, "suspended") || !strings.Contains(body, "/queues/hops/To%20partner/resume") {
		t.Error("the queue page does not show the suspension and a resume button")
	}
	post("/queues/messages/" + id + "/retry")
	testkit.Poll(t, 30*time.Second, "the suspended hop to hold the retry", func() (bool, string) {
		le := lastError()
		return strings.HasPrefix(le, "451 4.4.0 Next hop suspended"), le
	})
	post("/queues/hops/To%20partner/resume")
	testkit.Poll(t, 30*time.Second, "the resumed hop to be retried", func() (bool, string) {
		le := lastError()
		return strings.Contains(le, "4.7.320"), le
	})
	post("/queues/messages/" + id + "/remove")
	if _, ok := e.d.Node.Queue().Get(id); ok {
		t.Fatal("the message is still queued after remove")
	}

	data, err := os.ReadFile(e.auditLog(t))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var a web.AuditEntry
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		actions = append(actions, a.Action+":"+a.Result+":"+a.Who)
		if a.Action == "queue.remove" && (a.Before == nil || a.Target != id) {
			t.Errorf("queue.remove audit entry without before state or target: %s", line)
		}
	}
	want := []string{"login:ok:admin (password)", "queue.suspend:ok:admin (password)", "queue.retry:ok:admin (password)",
		"queue.resume:ok:admin (password)", "queue.remove:ok:admin (password)"}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Errorf("audit log actions = %v, want %v", actions, want)
	}
}
