package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// TestTraceSearch searches the tracking log by recipient, Message-ID and
// time range, and refuses a time it cannot read with the format to use.
func TestTraceSearch(t *testing.T) {
	e := newEnv(t, "No relay")
	e.send(t, "admin@contoso.com", "alice@contoso.com", "for alice")
	e.send(t, "admin@contoso.com", "bob@contoso.com", "for bob")
	b := e.browser(t)
	b.login(e.token)
	search := func(q url.Values) (int, string) { return b.get("/trace?" + q.Encode()) }
	testkit.Poll(t, 30*time.Second, "both deliveries in the trace", func() (bool, string) {
		_, body := search(url.Values{"sender": {"@contoso.com"}})
		return strings.Count(body, "DELIVER (") == 2, body
	})
	if _, body := search(url.Values{"recipient": {"alice@contoso.com"}}); !strings.Contains(body, "for alice") || strings.Contains(body, "for bob") {
		t.Errorf("search by recipient: %.1500s", body)
	}
	if _, body := search(url.Values{"message_id": {"<for-bob@test>"}}); !strings.Contains(body, "for bob") || strings.Contains(body, "for alice") {
		t.Errorf("search by Message-ID: %.1500s", body)
	}
	future := time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")
	if _, body := search(url.Values{"since": {future}}); !strings.Contains(body, "No message matches") {
		t.Errorf("search since an hour ahead found messages: %.1500s", body)
	}
	past := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	if _, body := search(url.Values{"since": {past}, "until": {future}, "recipient": {"bob@contoso.com"}}); !strings.Contains(body, "for bob") {
		t.Errorf("search within the last hour: %.1500s", body)
	}
	if code, body := search(url.Values{"since": {"yesterday"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "use 2026-11-21T10:00") {
		t.Errorf("unreadable time: %d %.800s", code, body)
	}
}
