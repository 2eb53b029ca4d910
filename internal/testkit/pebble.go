package testkit

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Pebble is Pebble, Let's Encrypt's ACME test server, run in-process on
// loopback over HTTPS. Challenges are accepted without validation
// (PEBBLE_VA_ALWAYS_VALID) and certificates live validity seconds.
type Pebble struct {
	t         testing.TB
	handler   http.Handler
	srv       *httptest.Server
	addr      string
	Directory string
	// Roots trusts both the HTTPS certificate of the directory and the
	// chain of the certificates Pebble issues, as trust.ca_files would.
	Roots       *x509.CertPool
	RootPEM     []byte       // Pebble's issuing root
	HTTPSPEM    []byte       // the directory's HTTPS certificate
	RateLimited atomic.Bool  // answer newOrder with rateLimited
	Orders      atomic.Int32 // newOrder requests seen
}

// StartPebble runs Pebble with certificates living validity seconds; it
// stops when the test ends.
func StartPebble(t testing.TB, validity uint64) *Pebble {
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
	p := &Pebble{t: t}
	inner := front.Handler()
	// A CA that enforces rate limits answers newOrder with a
	// urn:ietf:params:acme:error:rateLimited problem; Pebble has no rate
	// limits, so the test can switch that answer on in front of it.
	p.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.Orders.Add(1)
			if p.RateLimited.Load() {
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

// TrustPEM is what trust.ca_files needs to use this CA: the directory's
// HTTPS certificate and the issuing root.
func (p *Pebble) TrustPEM() []byte {
	return append(append([]byte{}, p.HTTPSPEM...), p.RootPEM...)
}

// Stop makes the CA unreachable (connection refused); its state stays.
func (p *Pebble) Stop() {
	if p.srv != nil {
		p.srv.Close()
		p.srv = nil
	}
}

// Restart serves the same CA again on the same address.
func (p *Pebble) Restart() {
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
