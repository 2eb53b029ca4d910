package web_test

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/web"
)

// changes are every state-changing endpoint with a valid form (but the
// CSRF token). Each must refuse without a session, with a missing or a
// foreign CSRF token, and after logout, and change nothing.
func changes(e *env, queuedID string) []struct {
	path string
	form url.Values
} {
	conn := "/connectors/receive/" + url.PathEscape(xssName)
	return []struct {
		path string
		form url.Values
	}{
		{conn, url.Values{"fqdn": {"changed.contoso.local"}}},
		{"/certificates/" + e.pki.Contoso.Thumbprint + "/pin", url.Values{"connector": {"receive|" + xssName}}},
		{"/certificates/import", url.Values{}},
		{"/queues/messages/" + queuedID + "/retry", url.Values{}},
		{"/queues/messages/" + queuedID + "/remove", url.Values{}},
		{"/queues/hops/To%20partner/suspend", url.Values{}},
		{"/queues/hops/To%20partner/resume", url.Values{}},
		{"/diagnostics/probe", url.Values{"host": {e.smtp}, "policy": {"EncryptionOnly"}}},
		{"/diagnostics/explain", url.Values{"input": {"450 4.7.320"}}},
		{"/logout", url.Values{}},
	}
}

func TestChangesRefusedWithoutSessionOrCSRF(t *testing.T) {
	e := newEnv(t, xssName)
	e.send(t, "admin@contoso.com", "user@partner.example", "held")
	var id string
	for _, m := range e.d.Node.Queue().List() {
		id = m.ID
	}
	if id == "" {
		t.Fatal("no queued message")
	}
	cfgBefore, _ := os.ReadFile(e.cfg)

	anon := e.browser(t)
	alice := e.browser(t)
	alice.login(e.token)
	aliceCSRF := alice.csrf("/map")
	bob := e.browser(t)
	bob.login(e.token)
	bobCSRF := bob.csrf("/map")
	if aliceCSRF == bobCSRF {
		t.Fatal("two sessions share a CSRF token")
	}
	gone := e.browser(t)
	gone.login(e.token)
	goneCSRF := gone.csrf("/map")
	if code, _ := gone.post("/logout", url.Values{"csrf": {goneCSRF}}); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}

	for _, c := range changes(e, id) {
		cases := []struct {
			name string
			b    *browser
			csrf string
		}{
			{"no session", anon, aliceCSRF},
			{"missing CSRF", alice, ""},
			{"foreign CSRF", alice, bobCSRF},
			{"after logout", gone, goneCSRF},
		}
		for _, k := range cases {
			form := url.Values{}
			for key, v := range c.form {
				form[key] = v
			}
			if k.csrf != "" {
				form.Set("csrf", k.csrf)
			}
			code, body := k.b.post(c.path, form)
			if code != http.StatusForbidden {
				t.Errorf("POST %s with %s: %d, want 403: %.200s", c.path, k.name, code, body)
			}
		}
	}
	if after, _ := os.ReadFile(e.cfg); string(after) != string(cfgBefore) {
		t.Error("a refused request changed the configuration file")
	}
	if _, ok := e.d.Node.Queue().Get(id); !ok {
		t.Error("a refused request removed the queued message")
	}
	if e.d.Node.Suspended("To partner") {
		t.Error("a refused request suspended a hop")
	}
	// The session that logged out cannot read pages either.
	if code, _ := gone.get("/map"); code != http.StatusSeeOther {
		t.Errorf("GET /map after logout: %d, want a redirect to the login form", code)
	}
	// And alice's session still works with her own token.
	if code, body := alice.post("/diagnostics/explain", url.Values{"csrf": {aliceCSRF}, "input": {"450 4.7.320"}}); code != http.StatusOK {
		t.Errorf("explain with the right CSRF token: %d %.300s", code, body)
	}
}

func TestSecurityHeadersAndCookie(t *testing.T) {
	e := newEnv(t, "No relay")
	resp, err := e.browser(t).c.PostForm(e.base+"/login", url.Values{"token": {e.token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if csp != web.ContentSecurityPolicy || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		cookie = c
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure {
		t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Strict, not Secure on plain loopback HTTP", cookie)
	}
	// Wrong secret: 401, no cookie, and the token is never on any page.
	b := e.browser(t)
	if code, body := b.post("/login", url.Values{"token": {"wrong"}}); code != http.StatusUnauthorized || strings.Contains(body, e.token) {
		t.Errorf("wrong token: %d", code)
	}
	b.login(e.token)
	for _, p := range []string{"/map", "/connectors", "/certificates", "/queues", "/trace", "/diagnostics", "/audit"} {
		code, body := b.get(p)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d", p, code)
		}
		if strings.Contains(body, e.token) {
			t.Errorf("GET %s renders the admin token", p)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") {
			t.Errorf("GET %s has inline script or style, which the CSP would block", p)
		}
	}
	// A login from another origin is refused.
	req, _ := http.NewRequest("POST", e.base+"/login", strings.NewReader(url.Values{"token": {e.token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin login: %d, want 403", resp.StatusCode)
	}
}
