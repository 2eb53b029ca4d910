package acme

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/mholt/acmez/v3"
	protocol "github.com/mholt/acmez/v3/acme"
)

// listenSolver answers tls-alpn-01 or http-01 on one listener opened for
// the challenges of an order (one per domain, told apart by SNI or by URL
// path) and closed when the last one is cleaned up.
type listenSolver struct {
	addr string
	alpn bool

	mu    sync.Mutex
	ln    net.Listener
	srv   *http.Server
	chals map[string]protocol.Challenge // by identifier (tls-alpn-01) or token path (http-01)
}

func (s *listenSolver) key(chal protocol.Challenge) string {
	if s.alpn {
		return strings.ToLower(chal.Identifier.Value)
	}
	return chal.HTTP01ResourcePath()
}

func (s *listenSolver) lookup(k string) (protocol.Challenge, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chals[k]
	return c, ok
}

func (s *listenSolver) Present(_ context.Context, chal protocol.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chals == nil {
		s.chals = map[string]protocol.Challenge{}
	}
	s.chals[s.key(chal)] = chal
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		delete(s.chals, s.key(chal))
		return fmt.Errorf("open %s for the %s challenge: %w — set acme.challenge_listen to an address the CA reaches (port 443 for tls-alpn-01, 80 for http-01, or a port forwarded there)", s.addr, chal.Type, err)
	}
	if s.alpn {
		ln = tls.NewListener(ln, &tls.Config{
			NextProtos: []string{acmez.ACMETLS1Protocol},
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				c, ok := s.lookup(strings.ToLower(hello.ServerName))
				if !ok {
					return nil, fmt.Errorf("no tls-alpn-01 challenge for %q", hello.ServerName)
				}
				return acmez.TLSALPN01ChallengeCert(c)
			},
		})
		go serveALPN(ln)
	} else {
		s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := s.lookup(r.URL.Path)
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(c.KeyAuthorization))
		})}
		go s.srv.Serve(ln)
	}
	s.ln = ln
	return nil
}

// serveALPN completes handshakes (that is the whole tls-alpn-01 answer)
// and closes the connections.
func serveALPN(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if tc, ok := c.(*tls.Conn); ok {
				tc.Handshake()
			}
		}()
	}
}

func (s *listenSolver) CleanUp(_ context.Context, chal protocol.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.chals, s.key(chal))
	if len(s.chals) > 0 {
		return nil
	}
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	return nil
}

// hookSolver answers dns-01 by running the administrator's hook:
// HOOK present _acme-challenge.NAME VALUE, then HOOK cleanup NAME VALUE.
type hookSolver struct{ hook string }

func (h hookSolver) run(ctx context.Context, verb string, chal protocol.Challenge) error {
	fields := strings.Fields(h.hook)
	if len(fields) == 0 {
		return errors.New("dns-01 needs acme.dns_hook")
	}
	args := append(fields[1:], verb, chal.DNS01TXTRecordName(), chal.DNS01KeyAuthorization())
	out, err := exec.CommandContext(ctx, fields[0], args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("dns_hook %s %s %s: %w: %s", h.hook, verb, chal.DNS01TXTRecordName(), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (h hookSolver) Present(ctx context.Context, chal protocol.Challenge) error {
	return h.run(ctx, "present", chal)
}

func (h hookSolver) CleanUp(ctx context.Context, chal protocol.Challenge) error {
	return h.run(ctx, "cleanup", chal)
}
