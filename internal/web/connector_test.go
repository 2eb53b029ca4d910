package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/web"
)

// TestSendConnectorEdit changes a send connector from its form: an invalid
// value is refused with the file's words (422, file unchanged, audited as
// refused); a valid one is saved, applied live and audited with the
// connector before and after.
func TestSendConnectorEdit(t *testing.T) {
	e := newEnv(t, "No relay")
	b := e.browser(t)
	b.login(e.token)
	path := "/connectors/send/" + url.PathEscape("To partner")
	csrf := b.csrf(path)
	before, _ := os.ReadFile(e.cfg)

	code, body := b.post(path, url.Values{"csrf": {csrf}, "tls_auth_level": {"Strict"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "onprem.yaml:") || !strings.Contains(body, "tls_auth_level") ||
		!strings.Contains(body, "Fix:") || !strings.Contains(body, "DomainValidation") {
		t.Fatalf("invalid tls_auth_level: %d %.1500s", code, body)
	}
	if after, _ := os.ReadFile(e.cfg); string(after) != string(before) {
		t.Fatal("a refused change altered the file")
	}

	code, body = b.post(path, url.Values{"csrf": {csrf}, "tls_domain": {"mail.contoso.com"}, "tls_auth_level": {"DomainValidation"}})
	if code != http.StatusSeeOther {
		t.Fatalf("valid change: %d %.1500s", code, body)
	}
	if got := e.d.Node.Runtime().Send["to partner"].TLSDomain; got != "mail.contoso.com" {
		t.Errorf("live tls_domain = %q, want mail.contoso.com", got)
	}
	if after, _ := os.ReadFile(e.cfg); !strings.Contains(string(after), "tls_domain: mail.contoso.com") {
		t.Errorf("file after the change:\n%s", after)
	}
	if _, body := b.get(path); !strings.Contains(body, "Saved and applied live") || !strings.Contains(body, `value="mail.contoso.com"`) {
		t.Errorf("the page after saving does not confirm the change: %.1500s", body)
	}

	data, err := os.ReadFile(e.auditLog(t))
	if err != nil {
		t.Fatal(err)
	}
	var entries []web.AuditEntry
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var a web.AuditEntry
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		if a.Action == "connector.set" {
			entries = append(entries, a)
		}
	}
	if len(entries) != 2 || entries[0].Result != "refused" || !strings.Contains(entries[0].Error, "tls_auth_level") || entries[1].Result != "ok" {
		t.Fatalf("audit entries = %+v", entries)
	}
	was, _ := json.Marshal(entries[1].Before)
	now, _ := json.Marshal(entries[1].After)
	if !strings.Contains(string(was), `"tls_domain":"mail.partner.example"`) || !strings.Contains(string(now), `"tls_domain":"mail.contoso.com"`) {
		t.Errorf("audit before/after = %s → %s", was, now)
	}
}
