package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/web"
)

// TestCookieOnTLS: served over TLS (an admin listener beyond loopback),
// the session cookie is Secure with the __Host- prefix, and the browser is
// told to stay on HTTPS.
func TestCookieOnTLS(t *testing.T) {
	e := newEnv(t, "No relay")
	h, err := web.New(e.d.Node, admin.Login{TLS: true, TokenFile: "admin.token",
		Check: func(s string) (string, bool) { return "admin (token)", s == "let me in" }}, web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.PostForm(srv.URL+"/login", url.Values{"token": {"let me in"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != "__Host-mailflow_session" || !cookies[0].Secure || !cookies[0].HttpOnly ||
		cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Path != "/" || cookies[0].Domain != "" {
		t.Errorf("cookies on TLS = %+v", cookies)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q", hsts)
	}
}

// TestLoginThrottle: ten wrong secrets from one address lock it out for
// the window, even with the right secret; the lock ends with the window.
func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, "No relay")
	clock := testkit.NewClock(time.Now())
	h, err := web.New(e.d.Node, admin.Login{TokenFile: "admin.token",
		Check: func(s string) (string, bool) { return "admin (token)", s == "right" }}, web.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	login := func(secret string) int {
		resp, err := c.PostForm(srv.URL+"/login", url.Values{"token": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 10; i++ {
		if code := login("wrong"); code != http.StatusUnauthorized {
			t.Fatalf("wrong secret #%d: %d", i+1, code)
		}
	}
	if code := login("right"); code != http.StatusTooManyRequests {
		t.Fatalf("right secret after ten failures: %d, want 429", code)
	}
	clock.Advance(16 * time.Minute)
	if code := login("right"); code != http.StatusSeeOther {
		t.Fatalf("right secret after the window: %d, want 303", code)
	}
}
