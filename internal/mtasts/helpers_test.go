package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// fakeDNS answers TXT and host lookups from maps; every other name is
// NXDOMAIN.
type fakeDNS struct {
	mu    sync.Mutex
	txt   map[string][]string
	hosts map[string][]string
	err   error // when set, every TXT lookup fails with it
}

func (d *fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	if v, ok := d.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (d *fakeDNS) LookupHost(_ context.Context, host string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.hosts[host]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (d *fakeDNS) setTXT(name string, v ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txt[name] = v
}

// policyServer is an HTTPS server on loopback with a certificate for
// mta-sts.<domain> issued by a test CA; handler decides what it serves.
type policyServer struct {
	ca      *certs.Certificate
	srv     *httptest.Server
	roots   *x509.CertPool
	port    int
	mu      sync.Mutex
	handler http.HandlerFunc
	hits    int
}

func newPolicyServer(t *testing.T, domains ...string) *policyServer {
	t.Helper()
	var sans []string
	for _, d := range domains {
		sans = append(sans, "mta-sts."+d)
	}
	ca, err := certs.Generate(certs.Template{Subject: "CN=Test MTA-STS CA", IsCA: true, KeyType: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.Generate(certs.Template{SANs: sans, Issuer: ca, KeyType: "ecdsa-p256", ServerAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	ps := &policyServer{roots: x509.NewCertPool(), ca: ca}
	ps.roots.AddCert(ca.Leaf)
	ps.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.mu.Lock()
		h := ps.handler
		ps.hits++
		ps.mu.Unlock()
		h(w, r)
	}))
	ps.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf.TLS()}}
	ps.srv.StartTLS()
	t.Cleanup(ps.srv.Close)
	_, port, _ := net.SplitHostPort(ps.srv.Listener.Addr().String())
	ps.port, _ = strconv.Atoi(port)
	return ps
}

func (ps *policyServer) serve(h http.HandlerFunc) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.handler = h
}

func (ps *policyServer) serveText(text string) {
	ps.serve(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(text))
	})
}

func (ps *policyServer) hitCount() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.hits
}

// servePolicies serves a policy per domain, chosen by the Host header.
func (ps *policyServer) servePolicies(byDomain map[string]string) {
	ps.serve(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		text, ok := byDomain[strings.TrimPrefix(host, "mta-sts.")]
		if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(text))
	})
}
