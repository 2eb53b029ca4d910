package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// tlsServerCmd runs `loadgen tls-server`: the physical limit for fresh TLS
// sessions. Each connection gets a bare crypto/tls server handshake with
// the same certificate and the same settings mailflow's receive side uses
// (TLS 1.2 minimum, no session tickets), then one byte, then it waits for
// the client to hang up. It runs as its own process, as mailflow does, so
// both compete for the CPU with the load generator in the same way.
func tlsServerCmd(args []string) error {
	fs := flag.NewFlagSet("tls-server", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	certFile := fs.String("cert", "", "PEM file with certificate chain and key (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *certFile == "" {
		return errors.New("tls-server: --cert is required")
	}
	c, err := certs.LoadFile(*certFile, "", "")
	if err != nil {
		return fmt.Errorf("tls-server certificate: %w", err)
	}
	cfg := &tls.Config{
		Certificates:           []tls.Certificate{*c.TLS()},
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("tls-server: %w", err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		<-sigs
		ln.Close()
	}()
	return rawTLSLoop(ln, cfg)
}

// rawTLSLoop handshakes every connection, writes one byte and waits for
// the client to hang up, until the listener is closed.
func rawTLSLoop(ln net.Listener, cfg *tls.Config) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("tls-server accept: %w", err)
		}
		go func() {
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute))
			tc := tls.Server(conn, cfg)
			if err := tc.Handshake(); err != nil {
				return
			}
			if _, err := tc.Write([]byte{'\n'}); err != nil {
				return
			}
			io.Copy(io.Discard, tc)
		}()
	}
}
