package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/admin"
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
