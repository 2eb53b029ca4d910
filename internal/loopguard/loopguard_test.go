package loopguard

import (
	"context"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:53", "127.8.9.1", "[::1]:25", "::1", "[::ffff:127.0.0.1]:53"} {
		if err := Check(addr); err != nil {
			t.Errorf("Check(%q) = %v, want nil", addr, err)
		}
	}
	for _, addr := range []string{"10.0.0.2:53", "192.168.1.1", "8.8.8.8:53", "[2001:db8::1]:25", "localhost:53", "mail.contoso.com:25", ""} {
		if err := Check(addr); err == nil {
			t.Errorf("Check(%q) = nil, want refused", addr)
		}
	}
}

func TestSystemInTests(t *testing.T) {
	r := System()
	if _, err := r.LookupMX(context.Background(), "contoso.com"); err == nil {
		t.Fatal("MX lookup through the system resolver succeeded in a test binary")
	}
	if _, err := r.LookupHost(context.Background(), "mail.contoso.com"); err == nil {
		t.Fatal("host lookup through the system resolver succeeded in a test binary")
	}
	if _, err := r.LookupTXT(context.Background(), "_mta-sts.contoso.com"); err == nil {
		t.Fatal("TXT lookup through the system resolver succeeded in a test binary")
	}
	if a, err := r.LookupHost(context.Background(), "127.0.0.1"); err != nil || len(a) != 1 {
		t.Fatalf("loopback literal: %v %v", a, err)
	}
}

func TestOutsideTests(t *testing.T) {
	active = false
	defer func() { active = true }()
	if err := Check("10.0.0.2:53"); err != nil {
		t.Fatalf("outside tests Check refused: %v", err)
	}
	if _, ok := System().(Resolver); ok {
		t.Fatal("outside tests System is the refusing resolver")
	}
}
