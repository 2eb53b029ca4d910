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

// listenSolver answers tls-alpn-01 or http-01 on a listener opened for the
// challenge and closed after it.
type listenSolver struct {
	addr string
	alpn bool

	mu  sync.Mutex
	ln  net.Listener
	srv *http.Server
}

func (s *listenSolver) Present(_ context.Context, chal protocol.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("open %s for the %s challenge: %w — set acme.challenge_listen to an address the CA reaches (port 443 for tls-alpn-01, 80 for http-01, or a port forwarded there)", s.addr, chal.Type, err)
	}
	if s.alpn {
		cert, err := acmez.TLSALPN01ChallengeCert(chal)
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{
			NextProtos:   []string{acmez.ACMETLS1Protocol},
			Certificates: []tls.Certificate{*cert},
			MinVersion:   tls.VersionTLS12,
		})
		go serveALPN(ln)
	} else {
		mux := http.NewServeMux()
		mux.HandleFunc(chal.HTTP01ResourcePath(), func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(chal.KeyAuthorization))
		})
		s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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

func (s *listenSolver) CleanUp(context.Context, protocol.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
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
