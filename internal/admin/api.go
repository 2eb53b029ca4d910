package admin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/receive"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// API is the running admin API.
type API struct {
	srv       *node.Node
	token     string
	tokenFile string
	log       *slog.Logger
	// passwordFile holds the argon2id hash set by mailflow admin passwd.
	passwordFile string
	ln           net.Listener
	http         *http.Server
}

// Start opens the admin API as the configuration says. It returns nil, nil
// when admin.listen is "off".
func Start(srv *node.Node, logger *slog.Logger) (*API, error) {
	return start(srv, logger, net.Listen, Extras{})
}

// StartWithExtras is Start serving the metrics and the web admin center
// beside the JSON API.
func StartWithExtras(srv *node.Node, logger *slog.Logger, x Extras) (*API, error) {
	return start(srv, logger, net.Listen, x)
}

// start is Start with the listening function injected, so tests can serve
// the TLS path of a non-loopback configuration on loopback.
func start(srv *node.Node, logger *slog.Logger, listen func(network, address string) (net.Listener, error), x Extras) (*API, error) {
	rt := srv.Runtime()
	cfg := rt.Cfg
	if !cfg.AdminEnabled() {
		return nil, nil
	}
	if logger == nil {
		logger = slog.Default()
	}
	tlsCfg, err := listenTLS(cfg, rt.Store, srv.Now())
	if err != nil {
		return nil, err
	}
	tokenFile := cfg.AdminTokenFile()
	token, err := EnsureToken(tokenFile)
	if err != nil {
		return nil, err
	}
	a := &API{srv: srv, token: token, tokenFile: tokenFile, log: logger, passwordFile: PasswordFile(cfg)}
	ln, err := listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin API: listen on %s: %w (set admin.listen to a free address, or off)", cfg.Admin.Listen, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	a.ln = ln
	a.http = &http.Server{Handler: a.routes(x, tlsCfg != nil), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go a.http.Serve(ln)
	return a, nil
}

// Addr is the listening address.
func (a *API) Addr() string { return a.ln.Addr().String() }

// TokenFile is where the bearer token is stored.
func (a *API) TokenFile() string { return a.tokenFile }

// Close stops the API.
func (a *API) Close(ctx context.Context) error { return a.http.Shutdown(ctx) }

// Extras are served on the admin listener beside the JSON API.
type Extras struct {
	// Metrics is served at GET /metrics behind the bearer token.
	Metrics http.Handler
	// UI, when set, builds the web admin center served at / (every path
	// outside /api/, /metrics, /healthz and /readyz); it authenticates
	// people itself with Login.
	UI func(Login) http.Handler
}

// Login is what the web admin center needs to let a person in.
type Login struct {
	// Check verifies a secret typed into the login form: the admin token,
	// or the password set by mailflow admin passwd. who says which one
	// matched, for the audit log.
	Check func(secret string) (who string, ok bool)
	// TLS is true when the listener serves TLS (cookies are then Secure).
	TLS bool
	// TokenFile is where the token is, for the login page's hint.
	TokenFile string
}

func (a *API) routes(x Extras, tlsOn bool) http.Handler {
	api := a.apiRoutes()
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.HandleFunc("GET /healthz", Liveness)
	mux.Handle("GET /readyz", Readiness(a.srv))
	if x.Metrics != nil {
		mux.Handle("GET /metrics", a.auth(x.Metrics))
	}
	if x.UI != nil {
		mux.Handle("/", x.UI(Login{Check: a.checkSecret, TLS: tlsOn, TokenFile: a.tokenFile}))
	} else {
		mux.Handle("/", api)
	}
	return mux
}

func (a *API) apiRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", a.status)
	mux.HandleFunc("GET /api/v1/connectors", a.connectors)
	mux.HandleFunc("PATCH /api/v1/connectors/{kind}/{name}", a.setConnector)
	mux.HandleFunc("GET /api/v1/certificates", a.certificates)
	mux.HandleFunc("POST /api/v1/certificates", a.importCertificate)
	mux.HandleFunc("DELETE /api/v1/certificates/{thumbprint}", a.removeCertificate)
	mux.HandleFunc("GET /api/v1/queue", a.queueList)
	mux.HandleFunc("GET /api/v1/queue/stats", a.queueStats)
	mux.HandleFunc("POST /api/v1/queue/retry", a.queueRetry)
	mux.HandleFunc("DELETE /api/v1/queue/{id}", a.queueRemove)
	mux.HandleFunc("GET /api/v1/queue/hops", a.hops)
	mux.HandleFunc("POST /api/v1/queue/hops/{hop}/suspend", a.hopSuspend)
	mux.HandleFunc("POST /api/v1/queue/hops/{hop}/resume", a.hopResume)
	mux.HandleFunc("GET /api/v1/trace", a.trace)
	mux.HandleFunc("POST /api/v1/reload", a.reload)
	mux.HandleFunc("GET /api/v1/users", a.usersList)
	mux.HandleFunc("POST /api/v1/users", a.userAdd)
	mux.HandleFunc("PUT /api/v1/users/{name}/password", a.userPassword)
	mux.HandleFunc("DELETE /api/v1/users/{name}", a.userRemove)
	return a.auth(mux)
}

// auth refuses every request without the right bearer token (401, logged).
func (a *API) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Exactly one Authorization header: with two, which one counts
		// would depend on who reads the request (a proxy, this server).
		auth := r.Header.Values("Authorization")
		if len(auth) != 1 || !tokenOK(auth[0], a.token) {
			a.log.Warn("admin API request refused: missing or wrong token",
				"remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusUnauthorized, fmt.Errorf("missing or wrong token: send 'Authorization: Bearer <token>' with the token from %s", a.tokenFile))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// Status is GET /api/v1/status.
type Status struct {
	Config      string   `json:"config"`
	Server      string   `json:"server"`
	FQDN        string   `json:"fqdn"`
	Listening   []string `json:"listening"`
	Connections int      `json:"connections"`
	Queued      int      `json:"queued"`
	Warnings    []string `json:"warnings,omitempty"`
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	rt := a.srv.Runtime()
	st := Status{Config: a.srv.ConfigPath(), Server: rt.Cfg.Server.Name, FQDN: rt.Cfg.Server.FQDN,
		Connections: a.srv.Receiver().Connections(), Queued: len(a.srv.Queue().List()), Warnings: rt.Warnings}
	for _, ad := range a.srv.Receiver().Addrs() {
		st.Listening = append(st.Listening, ad.String())
	}
	writeJSON(w, http.StatusOK, st)
}

// ConnectorInfo describes one connector for `connector list`.
type ConnectorInfo struct {
	Kind        string      `json:"kind"`
	Name        string      `json:"name"`
	ID          string      `json:"id,omitempty"`
	Bindings    []string    `json:"bindings,omitempty"`
	Ranges      []string    `json:"remote_ip_ranges,omitempty"`
	FQDN        string      `json:"fqdn"`
	RequireTLS  bool        `json:"require_tls"`
	Secure      bool        `json:"domain_secure_enabled,omitempty"`
	Pinned      string      `json:"tls_certificate_name,omitempty"`
	Certificate *certs.Info `json:"certificate,omitempty"`
	Warning     string      `json:"warning,omitempty"`
	Relay       string      `json:"relay,omitempty"`
	Permissions string      `json:"permissions,omitempty"`
	Spaces      []string    `json:"address_spaces,omitempty"`
	SmartHosts  []string    `json:"smart_hosts,omitempty"`
	AuthLevel   string      `json:"tls_auth_level,omitempty"`
	TLSDomain   string      `json:"tls_domain,omitempty"`
	DANE        string      `json:"dane,omitempty"`    // send: opportunistic | required | off
	MTASTS      string      `json:"mta_sts,omitempty"` // send: enforce | off
	// ExchangeVersion is set when Certificate is the prediction for an
	// Exchange server of that version (certs.Version's rules) rather than
	// what this server presents; Note says how the rules shaped it.
	ExchangeVersion string `json:"exchange_version,omitempty"`
	Note            string `json:"note,omitempty"`
}

// DescribeConnectors lists a runtime's connectors; shared by the API and
// the offline CLI. Receive connectors show the certificate this server
// presents, send connectors the client certificate they present.
func DescribeConnectors(rt *node.Runtime, now time.Time) []ConnectorInfo {
	return PredictConnectors(rt, now, certs.VersionMailflow)
}

// PredictConnectors is DescribeConnectors for an Exchange server of
// version v: each certificate is the one that version's rules choose from
// the same store and settings (certs.Select and SelectClient with Version),
// so `connector list --exchange-version 2010` shows what a 2010 server
// would present. The zero version is this server's own choice.
func PredictConnectors(rt *node.Runtime, now time.Time, v certs.Version) []ConnectorInfo {
	var out []ConnectorInfo
	for _, c := range rt.Recv.Connectors {
		rc := c.Config
		ci := ConnectorInfo{Kind: "receive", Name: rc.Name, ID: c.ID, Bindings: rc.Bindings, Ranges: rc.RemoteIPRanges,
			FQDN: rc.FQDN, RequireTLS: rc.RequireTLS, Secure: rc.DomainSecureEnabled, Pinned: rc.TLSCertificateName,
			Relay: receive.RelayDescription(&rc), Permissions: c.Base.String()}
		sel := c.Selection
		if v != certs.VersionMailflow {
			ci.ExchangeVersion = string(v)
			if rc.HasAuth(config.AuthTLS) {
				sel = rt.Store.Select(certs.Request{CertificateName: rc.TLSCertificateName, ConnectorFQDN: rc.FQDN,
					ServerFQDN: rt.Cfg.Server.FQDN, Connector: c.ID, Now: now, Version: v})
			}
		}
		ci.Warning, ci.Note = sel.Warning, sel.Note
		if sel.Cert != nil {
			info := sel.Cert.Describe(now)
			ci.Certificate = &info
		}
		out = append(out, ci)
	}
	for _, sc := range rt.Cfg.SendConnectors {
		ci := ConnectorInfo{Kind: "send", Name: sc.Name, FQDN: sc.FQDN, RequireTLS: sc.RequireTLS,
			Pinned: sc.TLSCertificateName, Spaces: sc.AddressSpaces, SmartHosts: sc.SmartHosts,
			AuthLevel: sc.TLSAuthLevel, TLSDomain: sc.TLSDomain, DANE: sc.DANE, MTASTS: sc.MTASTS}
		if v != certs.VersionMailflow {
			ci.ExchangeVersion = string(v)
		}
		sel := rt.Store.SelectClient(certs.Request{CertificateName: sc.TLSCertificateName, ConnectorFQDN: sc.FQDN,
			ServerFQDN: rt.Cfg.Server.FQDN, Connector: sc.Name, Now: now, Version: v})
		ci.Warning, ci.Note = sel.Warning, sel.Note
		if sel.Cert != nil {
			info := sel.Cert.Describe(now)
			ci.Certificate = &info
		}
		out = append(out, ci)
	}
	return out
}

// connectors answers GET /api/v1/connectors[?exchange_version=2010].
func (a *API) connectors(w http.ResponseWriter, r *http.Request) {
	v, err := certs.ParseVersion(r.URL.Query().Get("exchange_version"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, PredictConnectors(a.srv.Runtime(), a.srv.Now(), v))
}

// ConnectorChange is the body of PATCH /api/v1/connectors/{kind}/{name}:
// snake_case keys as in the configuration file; null removes a key.
type ConnectorChange struct {
	Fields map[string]any `json:"fields"`
}

func (a *API) setConnector(w http.ResponseWriter, r *http.Request) {
	var ch ConnectorChange
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&ch); err != nil || len(ch.Fields) == 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf(`body must be {"fields": {"key": value, …}}`))
		return
	}
	kind, name := r.PathValue("kind"), r.PathValue("name")
	if err := a.srv.SetConnector(kind, name, ch.Fields); err != nil {
		a.log.Warn("connector change refused", "connector", name, "error", err)
		writeError(w, http.StatusUnprocessableEntity, err)
		return
	}
	a.log.Info("connector changed live", "kind", kind, "connector", name, "fields", keys(ch.Fields))
	writeJSON(w, http.StatusOK, DescribeConnectors(a.srv.Runtime(), a.srv.Now()))
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (a *API) certificates(w http.ResponseWriter, r *http.Request) {
	var out []certs.Info
	for _, c := range a.srv.Runtime().Store.All() {
		out = append(out, c.Describe(a.srv.Now()))
	}
	writeJSON(w, http.StatusOK, out)
}

// ImportRequest is the body of POST /api/v1/certificates.
type ImportRequest struct {
	File         string `json:"file"`
	KeyFile      string `json:"key_file,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
	node.ImportOptions
}

// ImportResult is the answer of POST /api/v1/certificates: the imported
// certificate, the guard's warnings and the connectors re-pinned to it.
type ImportResult struct {
	certs.Info
	Findings lifecycle.Findings `json:"findings,omitempty"`
	Repinned []string           `json:"repinned,omitempty"`
}

// importCertificate answers a refusal by the renewal guard with 422 and
// {"error": …, "findings": [{severity, check, connector, problem, fix}]}.
func (a *API) importCertificate(w http.ResponseWriter, r *http.Request) {
	var body ImportRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil || body.File == "" {
		writeError(w, http.StatusBadRequest, errors.New(`body must be {"file": "/path/cert.pem", "key_file": "", "password_file": "", "force": false, "repin": false}`))
		return
	}
	ref := config.CertificateRef{File: body.File, KeyFile: body.KeyFile, PasswordFile: body.PasswordFile}
	res, err := a.srv.ImportCertificate(ref, body.ImportOptions)
	var refused *lifecycle.RefusedError
	if errors.As(err, &refused) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": err.Error(), "findings": refused.Findings})
		return
	}
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err)
		return
	}
	a.log.Info("certificate imported live", "thumbprint", res.Cert.Thumbprint, "subject", res.Cert.Subject, "force", body.Force, "repinned", res.Repinned)
	writeJSON(w, http.StatusOK, ImportResult{Info: res.Cert.Describe(a.srv.Now()), Findings: res.Findings, Repinned: res.Repinned})
}

func (a *API) removeCertificate(w http.ResponseWriter, r *http.Request) {
	tp := r.PathValue("thumbprint")
	if err := a.srv.RemoveCertificate(tp); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err)
		return
	}
	a.log.Info("certificate removed live", "thumbprint", tp)
	writeJSON(w, http.StatusOK, map[string]string{"removed": tp})
}

// QueuedMessage is one row of GET /api/v1/queue.
type QueuedMessage struct {
	ID         string            `json:"id"`
	From       string            `json:"from"`
	Subject    string            `json:"subject,omitempty"`
	Size       int64             `json:"size"`
	Created    time.Time         `json:"created"`
	Expires    time.Time         `json:"expires"`
	Recipients []queue.Recipient `json:"recipients"`
	// Lease names the node delivering the message (shared queue only).
	Lease queue.Lease `json:"lease,omitzero"`
}

func (a *API) queueList(w http.ResponseWriter, r *http.Request) {
	var out []QueuedMessage
	for _, m := range a.srv.Queue().List() {
		out = append(out, QueuedMessage{ID: m.ID, From: m.Env.From, Subject: m.Env.Subject, Size: m.Env.Size,
			Created: m.Created, Expires: m.Expires, Recipients: m.Recipients, Lease: m.Lease})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) queueStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.srv.Queue().Stats())
}

func (a *API) queueRetry(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if err := a.srv.Queue().Retry(id); err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"retry": orAll(id)})
}

func orAll(id string) string {
	if id == "" {
		return "all"
	}
	return id
}

func (a *API) queueRemove(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.srv.Queue().Remove(id); err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": id})
}

func statusFor(err error) int {
	if errors.Is(err, queue.ErrNotFound) {
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func (a *API) trace(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := tracking.Filter{Sender: q.Get("sender"), Recipient: q.Get("recipient"), MessageID: q.Get("message_id")}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("since %q: use RFC 3339, e.g. 2026-11-21T10:00:00Z", s))
			return
		}
		f.Since = t
	}
	if ev := q.Get("event"); ev != "" {
		f.EventIDs = strings.Split(strings.ToUpper(ev), ",")
	}
	a.srv.FlushLogs()
	evs, err := tracking.Search(a.srv.TrackingDir(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, evs)
}

func (a *API) reload(w http.ResponseWriter, r *http.Request) {
	if err := a.srv.Reload(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"reloaded": a.srv.ConfigPath()})
}
