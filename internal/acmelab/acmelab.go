// Package acmelab runs a local ACME CA for `mailflow lab` and the tests:
// Pebble, Let's Encrypt's ACME test server, in-process on loopback, with a
// loopback DNS server that answers every name with 127.0.0.1. The CA's
// tls-alpn-01 and http-01 validations therefore connect to mailflow's
// challenge listener on loopback (the ports given in Options) and never
// leave the machine. Pebble is configured through environment variables
// only; Start sets the ones it needs for this process.
package acmelab

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// Options configure the local CA.
type Options struct {
	// Validity is the lifetime of issued certificates in seconds (default
	// one hour, so that renewals happen while one watches).
	Validity uint64
	// TLSPort and HTTPPort are where the CA connects to validate
	// tls-alpn-01 and http-01: the port of mailflow's acme.challenge_listen.
	TLSPort, HTTPPort int
	// AlwaysValid accepts challenges without validating them.
	AlwaysValid bool
	// Log receives Pebble's own log; nil = discarded.
	Log io.Writer
}

// CA is a running local ACME CA.
type CA struct {
	Directory string         // the ACME directory URL (https://127.0.0.1:PORT/dir)
	Roots     *x509.CertPool // trusts the directory's HTTPS certificate and the issuing root
	// RateLimited makes newOrder answer with an
	// urn:ietf:params:acme:error:rateLimited problem, as a public CA does
	// when a limit is hit (Pebble itself has no rate limits).
	RateLimited atomic.Bool
	Orders      atomic.Int32 // newOrder requests seen

	rootPEM, httpsPEM []byte
	addr              string
	handler           http.Handler
	tlsConf           *tls.Config
	dns               *dns.Server

	mu  sync.Mutex
	srv *http.Server
}

// Start runs the CA and its DNS server on loopback.
func Start(o Options) (*CA, error) {
	if o.Validity == 0 {
		o.Validity = 3600
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	// No random validation delays, no injected bad nonces.
	os.Setenv("PEBBLE_VA_NOSLEEP", "1")
	os.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	if o.AlwaysValid {
		os.Setenv("PEBBLE_VA_ALWAYS_VALID", "1")
	} else {
		os.Unsetenv("PEBBLE_VA_ALWAYS_VALID")
	}
	c := &CA{}
	resolver, err := c.startDNS()
	if err != nil {
		return nil, err
	}
	logger := log.New(logw, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "mailflow lab certificates", ValidityPeriod: o.Validity, PromoteCommonName: true},
	})
	validator := va.New(logger, o.HTTPPort, o.TLSPort, false, resolver, store)
	front := wfe.New(logger, store, validator, authority, nil, false, false, 0, 0)
	inner := front.Handler()
	c.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			c.Orders.Add(1)
			if c.RateLimited.Load() {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte(`{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s","status":429}`))
				return
			}
		}
		inner.ServeHTTP(w, r)
	})
	https, err := certs.Generate(certs.Template{Subject: "CN=mailflow lab ACME directory", SANs: []string{"127.0.0.1", "localhost"}, KeyType: "ecdsa-p256",
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)})
	if err != nil {
		c.dns.Shutdown()
		return nil, err
	}
	c.tlsConf = &tls.Config{Certificates: []tls.Certificate{*https.TLS()}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.dns.Shutdown()
		return nil, err
	}
	c.addr = ln.Addr().String()
	c.serve(ln)
	c.Directory = "https://" + c.addr + wfe.DirectoryPath
	root := authority.GetRootCert(0).Cert
	c.Roots = x509.NewCertPool()
	c.Roots.AddCert(https.Leaf)
	c.Roots.AddCert(root)
	c.rootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
	c.httpsPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: https.Chain[0]})
	return c, nil
}

// startDNS answers A queries for every name with 127.0.0.1 (and nothing
// else), so validations of any lab name reach loopback. Pebble asks over
// TCP.
func (c *CA) startDNS() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("lab ACME DNS: %w", err)
	}
	started := make(chan struct{})
	c.dns = &dns.Server{Listener: ln, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	go c.dns.ActivateAndServe()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		return "", errors.New("lab ACME DNS did not start")
	}
	return ln.Addr().String(), nil
}

func (c *CA) serve(ln net.Listener) {
	srv := &http.Server{Handler: c.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	c.mu.Lock()
	c.srv = srv
	c.mu.Unlock()
	go srv.Serve(tls.NewListener(ln, c.tlsConf))
}

// TrustPEM is what trust.ca_files needs to use this CA: the directory's
// HTTPS certificate and the issuing root.
func (c *CA) TrustPEM() []byte { return append(append([]byte{}, c.httpsPEM...), c.rootPEM...) }

// Stop makes the CA unreachable (connection refused); its state stays.
func (c *CA) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv != nil {
		c.srv.Close()
		c.srv = nil
	}
}

// Restart serves the same CA again on the same address.
func (c *CA) Restart() error {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("restart the lab ACME CA on %s: %w", c.addr, err)
	}
	c.serve(ln)
	return nil
}

// Close stops the CA and its DNS server.
func (c *CA) Close() {
	c.Stop()
	if c.dns != nil {
		c.dns.Shutdown()
	}
}
