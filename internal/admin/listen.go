package admin

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
)

// isLoopback reports whether the API would listen on loopback only (the
// configuration's rule, config.ListenLoopback).
func isLoopback(listen string) bool {
	ok, err := config.ListenLoopback(listen)
	return err == nil && ok
}

// certificate returns the certificate the API presents beyond loopback:
// admin.tls_certificate_name is either "<I>issuer<S>subject" or a host
// name the certificate covers, chosen among certificates with a private
// key the way a receive connector chooses (valid CA-issued first, newest
// first), so a renewal is picked up the same way.
func certificate(cfg *config.Config, store *certs.Store, now time.Time) (*certs.Certificate, error) {
	name := cfg.Admin.TLSCertificateName
	if name == "" {
		return nil, errors.New("admin.tls_certificate_name is not set")
	}
	sel := store.Select(certs.NameOrHost(name, "admin API", now))
	if sel.Cert == nil {
		return nil, fmt.Errorf("admin.tls_certificate_name %q matches no certificate with a private key: %s", name, sel.Warning)
	}
	return sel.Cert, nil
}

// listenTLS decides how the API listens: nil for loopback (plain HTTP; the
// token never leaves the machine), the server TLS configuration beyond
// loopback, or an error when that is not allowed. Validation refuses such
// a configuration already; this is the belt to that brace.
func listenTLS(cfg *config.Config, store *certs.Store, now time.Time) (*tls.Config, error) {
	if isLoopback(cfg.Admin.Listen) {
		return nil, nil
	}
	if !cfg.Admin.AllowNonLoopback || cfg.Admin.TLSCertificateName == "" {
		return nil, fmt.Errorf("admin.listen %s is not loopback: set admin.allow_non_loopback: true and admin.tls_certificate_name", cfg.Admin.Listen)
	}
	c, err := certificate(cfg, store, now)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{*c.TLS()}, MinVersion: tls.VersionTLS12}, nil
}

// dialAddress is where a local client reaches the API: a wildcard listen
// address (0.0.0.0, [::], ":port") is reached on loopback.
func dialAddress(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	ip, perr := netip.ParseAddr(host)
	switch {
	case host == "":
		return net.JoinHostPort("127.0.0.1", port)
	case perr == nil && ip.IsUnspecified() && ip.Is4():
		return net.JoinHostPort("127.0.0.1", port)
	case perr == nil && ip.IsUnspecified():
		return net.JoinHostPort("::1", port)
	}
	return listen
}

// clientTLS is the TLS configuration of a local client. The client reads
// the same configuration and certificate files as the server, so it pins
// the exact certificate the server presents instead of relying on a name
// check: the listen address is often an IP the certificate does not hold,
// and a lab or private CA need not be in any trust store.
func clientTLS(want *certs.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want.Leaf.Raw) {
				return fmt.Errorf("the admin API presented a certificate other than %s (thumbprint %s) named by admin.tls_certificate_name", want.Subject, want.Thumbprint)
			}
			return nil
		},
	}
}
