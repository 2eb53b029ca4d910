package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/node"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is sent with every page: scripts, styles and
// images only from this origin, no inline script or style, no framing,
// forms only to this origin.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"

// Options tune the admin center.
type Options struct {
	Logger *slog.Logger
	// AuditLog is the audit log file; "" = <log_dir>/Audit/audit.log.
	AuditLog string
	// Now is the clock of sessions and pages; nil = time.Now.
	Now func() time.Time
}

// Web is the admin center's handler.
type Web struct {
	n        *node.Node
	login    admin.Login
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	throttle throttle
	audit    *audit
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New builds the admin center for n; admin.Start mounts it (admin.Extras.UI).
func New(n *node.Node, login admin.Login, opts Options) (*Web, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AuditLog == "" {
		opts.AuditLog = filepath.Join(n.Runtime().Cfg.LogDir(), "Audit", "audit.log")
	}
	w := &Web{n: n, login: login, log: opts.Logger, now: opts.Now, sessions: newSessions(opts.Now),
		audit: &audit{path: opts.AuditLog}}
	if err := w.parse(); err != nil {
		return nil, err
	}
	w.routes()
	return w, nil
}

// UI adapts New to admin.Extras.UI; a template error is a build defect, so
// it is reported on every request rather than hidden.
func UI(n *node.Node, opts Options) func(admin.Login) http.Handler {
	return func(l admin.Login) http.Handler {
		w, err := New(n, l, opts)
		if err != nil {
			return http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
				http.Error(rw, "admin center unavailable: "+err.Error(), http.StatusInternalServerError)
			})
		}
		return w
	}
}

func (w *Web) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", w.home)
	m.HandleFunc("GET /login", w.loginPage)
	m.HandleFunc("POST /login", w.loginPost)
	m.Handle("POST /logout", w.change(w.logout))

	m.Handle("GET /map", w.page(w.mapPage))
	m.Handle("GET /connectors", w.page(w.connectorsPage))
	m.Handle("GET /connectors/{kind}/{name}", w.page(w.connectorPage))
	m.Handle("POST /connectors/{kind}/{name}", w.change(w.connectorPost))
	m.Handle("GET /certificates", w.page(w.certificatesPage))
	m.Handle("POST /certificates/import", w.change(w.certificateImport))
	m.Handle("POST /certificates/{thumbprint}/pin", w.change(w.certificatePin))
	m.Handle("GET /queues", w.page(w.queuesPage))
	m.Handle("POST /queues/messages/{id}/retry", w.change(w.queueRetry))
	m.Handle("POST /queues/messages/{id}/remove", w.change(w.queueRemove))
	m.Handle("POST /queues/hops/{hop}/suspend", w.change(w.hopSuspend))
	m.Handle("POST /queues/hops/{hop}/resume", w.change(w.hopResume))
	m.Handle("GET /trace", w.page(w.tracePage))
	m.Handle("GET /trace/{id}", w.page(w.traceMessagePage))
	m.Handle("GET /diagnostics", w.page(w.diagnosticsPage))
	m.Handle("POST /diagnostics/probe", w.change(w.probePost))
	m.Handle("POST /diagnostics/explain", w.change(w.explainPost))
	m.Handle("GET /audit", w.page(w.auditPage))
	w.mux = m
}

// ServeHTTP sets the security headers on every response.
func (w *Web) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on form posts, and the origin check below needs it.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if w.login.TLS {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	w.mux.ServeHTTP(rw, r)
}

type pageFunc func(rw http.ResponseWriter, r *http.Request, s *session)

// page requires a session; without one the browser is sent to the login
// form (and back afterwards).
func (w *Web) page(f pageFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s := w.sessionOf(r)
		if s == nil {
			http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		f(rw, r, s)
	})
}

// change guards every state-changing request: a live session, a request
// from this origin, and the session's CSRF token in the form. Anything
// else is 403 and changes nothing.
func (w *Web) change(f pageFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s := w.sessionOf(r)
		if s == nil {
			w.refuse(rw, r, "no session: log in first")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
			w.refuse(rw, r, "cross-origin request from "+o)
			return
		}
		r.Body = http.MaxBytesReader(rw, r.Body, 8<<20)
		var token string
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			if err := r.ParseMultipartForm(8 << 20); err != nil {
				w.refuse(rw, r, "unreadable form: "+err.Error())
				return
			}
		}
		token = r.PostFormValue("csrf")
		if !s.csrfOK(token) {
			w.refuse(rw, r, "missing or wrong CSRF token: reload the page and submit again")
			return
		}
		f(rw, r, s)
	})
}

func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, host)
}

func (w *Web) refuse(rw http.ResponseWriter, r *http.Request, why string) {
	w.log.Warn("admin center request refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "reason", why)
	http.Error(rw, "Forbidden: "+why, http.StatusForbidden)
}

// record writes an audit entry for a change, after it was applied or
// refused. An audit log that cannot be written is logged as an error with
// the entry's action and target (the change itself stands).
func (w *Web) record(r *http.Request, s *session, e AuditEntry) {
	e.Time = w.now().UTC()
	e.Remote = remoteHost(r)
	if s != nil {
		e.Who = s.who
	}
	if e.Result == "" {
		e.Result = "ok"
	}
	if err := w.audit.write(e); err != nil {
		w.log.Error("audit log not written", "error", err, "action", e.Action, "target", e.Target)
	}
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// view is what every page template gets.
type view struct {
	Title  string
	Nav    string
	CSRF   string
	Who    string
	Flash  string
	Error  string
	Server string
	Data   any
}

func (w *Web) render(rw http.ResponseWriter, r *http.Request, s *session, name, title string, data any, flash, errText string) {
	code := http.StatusOK
	if errText != "" {
		code = http.StatusUnprocessableEntity
	}
	w.renderCode(rw, r, s, code, name, title, data, flash, errText)
}

func (w *Web) renderCode(rw http.ResponseWriter, r *http.Request, s *session, code int, name, title string, data any, flash, errText string) {
	t := w.pages[name]
	if t == nil {
		http.Error(rw, "no page "+name, http.StatusInternalServerError)
		return
	}
	v := view{Title: title, Nav: name, Flash: flash, Error: errText, Data: data, Server: w.n.Runtime().Cfg.Server.Name}
	if s != nil {
		v.CSRF, v.Who = s.csrf, s.who
		if f := w.sessions.popFlash(s.id); f != "" && v.Flash == "" {
			v.Flash = f
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		w.log.Error("render page", "page", name, "error", err)
		http.Error(rw, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(code)
	rw.Write(buf.Bytes())
}

// back redirects after a change (POST/redirect/GET); flash is shown once
// on the next page.
func (w *Web) back(rw http.ResponseWriter, r *http.Request, s *session, path, flash string) {
	if flash != "" {
		w.sessions.setFlash(s.id, flash)
	}
	http.Redirect(rw, r, path, http.StatusSeeOther)
}

func (w *Web) parse() error {
	w.pages = map[string]*template.Template{}
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return fmt.Errorf("parse layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, f := range names {
		name := strings.TrimSuffix(filepath.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return fmt.Errorf("parse %s: %w", f, err)
		}
		w.pages[name] = t
	}
	return nil
}
