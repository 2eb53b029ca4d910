package acme

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// pebbleCA is Pebble, Let's Encrypt's ACME test server, run in-process on
// loopback over HTTPS. Challenges are accepted without validation
// (PEBBLE_VA_ALWAYS_VALID) and certificates live validity seconds.
type pebbleCA struct {
	t         *testing.T
	handler   http.Handler
	srv       *httptest.Server
	addr      string
	Directory string
	// Roots trusts both the HTTPS certificate of the directory and the
	// chain of the certificates Pebble issues, as trust.ca_files would.
	Roots       *x509.CertPool
	RootPEM     []byte // Pebble's issuing root
	HTTPSPEM    []byte // the directory's HTTPS certificate
	rateLimited atomic.Bool
	orders      atomic.Int32
}

func startPebble(t *testing.T, validity uint64) *pebbleCA {
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "1")
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	logger := log.New(io.Discard, "pebble ", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "short-lived test certificates", ValidityPeriod: validity},
	})
	v := va.New(logger, 0, 0, false, "", store)
	front := wfe.New(logger, store, v, authority, nil, false, false, 0, 0)
	p := &pebbleCA{t: t}
	inner := front.Handler()
	// A CA that enforces rate limits answers newOrder with a
	// urn:ietf:params:acme:error:rateLimited problem; Pebble has no rate
	// limits, so the test can switch that answer on in front of it.
	p.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
			if p.rateLimited.Load() {
				w.Header().Set("Content-Type", "application/problem+json")
				w.Header().Set("Replay-Nonce", "bm9uY2U")
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte(`{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s","status":429}`))
				return
			}
		}
		inner.ServeHTTP(w, r)
	})
	p.srv = httptest.NewUnstartedServer(p.handler)
	p.srv.StartTLS()
	t.Cleanup(p.Stop)
	p.addr = p.srv.Listener.Addr().String()
	p.Directory = p.srv.URL + wfe.DirectoryPath
	p.Roots = x509.NewCertPool()
	p.Roots.AddCert(p.srv.Certificate())
	root := authority.GetRootCert(0).Cert
	p.Roots.AddCert(root)
	p.RootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
	p.HTTPSPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	return p
}

// Stop makes the CA unreachable (connection refused); its state stays.
func (p *pebbleCA) Stop() {
	if p.srv != nil {
		p.srv.Close()
		p.srv = nil
	}
}

// Restart serves the same CA again on the same address.
func (p *pebbleCA) Restart() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("restart pebble on %s: %v", p.addr, err)
	}
	p.srv = httptest.NewUnstartedServer(p.handler)
	p.srv.Listener.Close()
	p.srv.Listener = ln
	p.srv.StartTLS()
}

// logBuffer is a slog handler's destination the test can read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	w := io.MultiWriter(b, testWriter{t})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})), b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
