package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// Session lifetimes: idle sessions end after sessionIdle, every session
// after sessionMax.
const (
	sessionIdle = 30 * time.Minute
	sessionMax  = 12 * time.Hour
)

// session is one logged-in person.
type session struct {
	id, csrf string
	who      string
	created  time.Time
	seen     time.Time
	flash    string // shown once on the next page (POST/redirect/GET)
}

// sessions is the server-side session table: the cookie holds only a
// random id, so logging out (or a restart) ends a session for good.
type sessions struct {
	mu  sync.Mutex
	all map[string]*session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{all: map[string]*session{}, now: now}
}

func randomID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("web: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func (s *sessions) create(who string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, x := range s.all {
		if s.expired(x, now) {
			delete(s.all, id)
		}
	}
	x := &session{id: randomID(), csrf: randomID(), who: who, created: now, seen: now}
	s.all[x.id] = x
	return x
}

func (s *sessions) expired(x *session, now time.Time) bool {
	return now.Sub(x.seen) > sessionIdle || now.Sub(x.created) > sessionMax
}

// get returns the live session named by id, or nil.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.all[id]
	if x == nil {
		return nil
	}
	now := s.now()
	if s.expired(x, now) {
		delete(s.all, id)
		return nil
	}
	x.seen = now
	cp := *x
	return &cp
}

// setFlash keeps a message for the session's next page.
func (s *sessions) setFlash(id, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.all[id]; x != nil {
		x.flash = msg
	}
}

// popFlash returns and forgets the session's message.
func (s *sessions) popFlash(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.all[id]
	if x == nil {
		return ""
	}
	f := x.flash
	x.flash = ""
	return f
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.all, id)
}

// csrfOK compares a submitted CSRF token with the session's in constant
// time; a token of another session is as wrong as none.
func (x *session) csrfOK(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(x.csrf)) == 1
}

// cookieName is the session cookie; with TLS the __Host- prefix makes the
// browser refuse it unless Secure, host-only and Path=/.
func (w *Web) cookieName() string {
	if w.login.TLS {
		return "__Host-mailflow_session"
	}
	return "mailflow_session"
}

func (w *Web) setSessionCookie(rw http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(rw, &http.Cookie{
		Name: w.cookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: w.login.TLS, SameSite: http.SameSiteStrictMode,
	})
}

func (w *Web) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(w.cookieName())
	if err != nil {
		return nil
	}
	return w.sessions.get(c.Value)
}
