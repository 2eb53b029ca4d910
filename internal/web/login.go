package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func (w *Web) home(rw http.ResponseWriter, r *http.Request) {
	if w.sessionOf(r) == nil {
		http.Redirect(rw, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(rw, r, "/map", http.StatusSeeOther)
}

type loginData struct {
	Next      string
	TokenFile string
}

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	if w.sessionOf(r) != nil {
		http.Redirect(rw, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	w.render(rw, r, nil, "login", "Log in", loginData{Next: safeNext(r.URL.Query().Get("next")), TokenFile: w.login.TokenFile}, "", "")
}

func (w *Web) loginPost(rw http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(rw, r.Body, 64<<10)
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		w.refuse(rw, r, "cross-origin login from "+o)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	addr := remoteHost(r)
	if blocked, until := w.throttle.blocked(addr, w.now()); blocked {
		w.record(r, nil, AuditEntry{Action: "login", Result: "refused", Error: "too many failed logins from this address"})
		w.renderCode(rw, r, nil, http.StatusTooManyRequests, "login", "Log in", loginData{Next: next, TokenFile: w.login.TokenFile}, "",
			fmt.Sprintf("Too many failed logins from %s: try again after %s UTC.", addr, until.UTC().Format(time.TimeOnly)))
		return
	}
	who, ok := w.login.Check(r.PostFormValue("token"))
	if !ok {
		w.throttle.fail(addr, w.now())
		w.record(r, nil, AuditEntry{Action: "login", Result: "refused", Error: "wrong token or password"})
		w.renderCode(rw, r, nil, http.StatusUnauthorized, "login", "Log in", loginData{Next: next, TokenFile: w.login.TokenFile}, "",
			"Wrong token or password. The token is in "+w.login.TokenFile+"; a password is set with mailflow admin passwd.")
		return
	}
	w.throttle.reset(addr)
	s := w.sessions.create(who)
	w.setSessionCookie(rw, s.id, 0)
	w.record(r, s, AuditEntry{Action: "login"})
	http.Redirect(rw, r, next, http.StatusSeeOther)
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request, s *session) {
	w.sessions.remove(s.id)
	w.setSessionCookie(rw, "", -1)
	w.record(r, s, AuditEntry{Action: "logout"})
	http.Redirect(rw, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site: a path that parses,
// never "//host", "/\\host" or a URL. Control characters are refused
// outright: browsers drop tabs and newlines from a URL, so "/\t/host"
// would become "//host".
func safeNext(next string) string {
	const home = "/map"
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return home
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f {
			return home
		}
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return home
	}
	return next
}
