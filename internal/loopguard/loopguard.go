// Package loopguard keeps test binaries on this machine: inside a test
// binary (testing.Testing), or in a process started with Env=1 (the
// end-to-end tests' mailflow binaries), a DNS query or connection to an address outside
// 127.0.0.0/8 and ::1 is refused with an error naming what to inject, so a
// test that forgot dns.resolvers or a dialer fails instead of asking the
// machine's resolver (which may be on the local network). Outside tests
// every check passes.
package loopguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
)

// Env, set to "1" in the environment, turns the guard on outside a test
// binary: the end-to-end tests set it for the mailflow processes they run.
const Env = "MAILFLOW_TEST_LOOPBACK_ONLY"

// active is read once; tests of this package flip it.
var active = testing.Testing() || os.Getenv(Env) == "1"

// Check returns an error when a test binary is about to reach addr
// ("host:port" or a bare host) and addr is not a loopback IP address.
// Names are refused too: a test resolves them itself.
func Check(addr string) error {
	if !active {
		return nil
	}
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err == nil && ip.Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("test binary refused to reach %s: tests talk only to 127.0.0.0/8 or [::1] (inject a loopback resolver or dialer)", addr)
}

// Resolver is what a test binary gets where code would fall back to the
// system resolver: every lookup fails, so the test must inject its own.
// Outside tests System returns net.DefaultResolver.
type Resolver struct{}

func refused(name string) error {
	return &net.DNSError{Err: "test binary refused the system resolver: inject a loopback resolver (dns.resolvers or a test DNS)", Name: name}
}

// LookupMX fails: tests inject their DNS.
func (Resolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, refused(name)
}

// LookupHost fails unless host is a loopback literal.
func (Resolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() {
		return []string{host}, nil
	}
	return nil, refused(host)
}

// LookupTXT fails: tests inject their DNS.
func (Resolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return nil, refused(name)
}

// SystemResolver is the resolver for MX, address and TXT lookups with
// nothing injected: net.DefaultResolver, or in a test binary a Resolver
// that fails.
type SystemResolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// System returns net.DefaultResolver, or Resolver{} in a test binary.
func System() SystemResolver {
	if active {
		return Resolver{}
	}
	return net.DefaultResolver
}
