package domain_test

import (
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/domain"
	"github.com/mailflowhq/mailflow/internal/domain/domaintest"
)

func TestMatch(t *testing.T) {
	for _, tc := range domaintest.Cases {
		if got := domain.Match(tc.Pattern, tc.Domain); got != tc.Want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.Pattern, tc.Domain, got, tc.Want)
		}
		as, err := domain.ParseAddressSpace("SMTP:" + tc.Pattern + ";1")
		if err != nil {
			t.Fatalf("ParseAddressSpace(SMTP:%s;1): %v", tc.Pattern, err)
		}
		if got := as.Matches(tc.Domain); got != tc.Want {
			t.Errorf("AddressSpace(%q).Matches(%q) = %v, want %v", tc.Pattern, tc.Domain, got, tc.Want)
		}
	}
	if domain.Match("*", "") || domain.Match("contoso.com", " ") {
		t.Error("an empty domain matched")
	}
}

func TestProblem(t *testing.T) {
	tests := []struct {
		in       string
		wildcard bool
		ok       bool
	}{
		{"contoso.com", false, true},
		{"xn--bcher-kva.example", false, true},
		{"localhost", false, true},
		{"*.contoso.com", true, true},
		{"*.contoso.com", false, false},
		{"mail.*.com", true, false},
		{"m*.contoso.com", true, false},
		{"*contoso.com", true, false},
		{"contoso.com.", false, false},
		{"-a.com", false, false},
		{"a-.com", false, false},
		{"mail_contoso.com", false, false},
		{"bücher.example", false, false},
		{strings.Repeat("a", 64) + ".com", false, false},
		{strings.Repeat("a.", 127) + "com", false, false},
		{"", false, false},
		{"::1", false, false},
	}
	for _, tt := range tests {
		if p := domain.Problem(tt.in, tt.wildcard); (p == "") != tt.ok {
			t.Errorf("Problem(%q, %v) = %q, want ok=%v", tt.in, tt.wildcard, p, tt.ok)
		}
	}
}

func TestParseAddressSpace(t *testing.T) {
	tests := []struct {
		in      string
		pattern string
		cost    int
		wantErr bool
	}{
		{"contoso.com", "contoso.com", 1, false},
		{" Contoso.COM ", "contoso.com", 1, false},
		{"contoso.com.", "", 0, true},
		{"*.contoso.com", "*.contoso.com", 1, false},
		{"*", "*", 1, false},
		{"SMTP:*;100", "*", 100, false},
		{"smtp:contoso.com;3", "contoso.com", 3, false},
		{"SMTP:*.contoso.com;1", "*.contoso.com", 1, false},
		{"x400:c=us;a= ;p=contoso", "", 0, true},
		{"contoso.com;0", "", 0, true},
		{"contoso.com;abc", "", 0, true},
		{"*contoso.com", "", 0, true},
		{"mail*.contoso.com", "", 0, true},
		{"a.*.com", "", 0, true},
		{"contoso..com", "", 0, true},
		{"", "", 0, true},
		{"*.", "", 0, true},
		{strings.Repeat("a", 64) + ".com", "", 0, true},
	}
	for _, tc := range tests {
		as, err := domain.ParseAddressSpace(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseAddressSpace(%q) = %+v, want error", tc.in, as)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAddressSpace(%q): %v", tc.in, err)
		} else if as.Pattern != tc.pattern || as.Cost != tc.cost {
			t.Errorf("ParseAddressSpace(%q) = %+v, want pattern %q cost %d", tc.in, as, tc.pattern, tc.cost)
		}
	}
}

func FuzzParseAddressSpace(f *testing.F) {
	for _, s := range []string{"contoso.com", "*.contoso.com", "*", "SMTP:*.a.b;5", "*contoso.com", "a..b", "smtp:;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := domain.ParseAddressSpace(s)
		if err != nil {
			return
		}
		// A parsed space must round-trip and must match what it names.
		again, err := domain.ParseAddressSpace(as.Pattern)
		if err != nil || again.Pattern != as.Pattern {
			t.Fatalf("pattern %q from %q does not re-parse: %v", as.Pattern, s, err)
		}
		switch {
		case as.Pattern == "*":
			if !as.Matches("x.example") {
				t.Fatal("* does not match")
			}
		case strings.HasPrefix(as.Pattern, "*."):
			base := as.Pattern[2:]
			if !as.Matches(base) || !as.Matches("x."+base) || as.Matches("x"+base) {
				t.Fatalf("wildcard %q matching is wrong", as.Pattern)
			}
		default:
			if !as.Matches(as.Pattern) || as.Matches("x."+as.Pattern) {
				t.Fatalf("exact %q matching is wrong", as.Pattern)
			}
		}
	})
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
		bad  bool
	}{
		{in: "mail.contoso.com", host: "mail.contoso.com", port: 25},
		{in: " mail.contoso.com:2525 ", host: "mail.contoso.com", port: 2525},
		{in: "192.0.2.10", host: "192.0.2.10", port: 25},
		{in: "192.0.2.10:587", host: "192.0.2.10", port: 587},
		{in: "[192.0.2.1]", host: "192.0.2.1", port: 25},
		{in: "[192.0.2.1]:2525", host: "192.0.2.1", port: 2525},
		{in: "2001:db8::25", host: "2001:db8::25", port: 25},
		{in: "[2001:db8::25]", host: "2001:db8::25", port: 25},
		{in: "[2001:db8::25]:26", host: "2001:db8::25", port: 26},
		{in: "[IPv6:::1]", host: "::1", port: 25},
		{in: "[IPv6:::1]:26", host: "::1", port: 26},
		{in: "", bad: true},
		{in: ":25", bad: true},
		{in: "host:0", bad: true},
		{in: "host:x", bad: true},
		{in: "host:70000", bad: true},
		{in: "[nonsense]", bad: true},
		{in: "[mail.contoso.com]:25", bad: true},
		{in: "[fe80::1%eth0]", bad: true},
		{in: "-bad-.com", bad: true},
		{in: "mail_contoso.com", bad: true},
		{in: "a:b:c", bad: true},
	}
	for _, tt := range tests {
		host, port, err := domain.SplitHostPort(tt.in, 25)
		if tt.bad != (err != nil) || !tt.bad && (host != tt.host || port != tt.port) {
			t.Errorf("SplitHostPort(%q) = %q %d %v", tt.in, host, port, err)
		}
	}
}

func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"mail.contoso.com:25", "[192.0.2.1]:2525", "[IPv6:::1]", "2001:db8::1", "a:b:c", "[x]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := domain.SplitHostPort(s, 25)
		if err != nil {
			return
		}
		if port < 1 || port > 65535 || host == "" {
			t.Fatalf("SplitHostPort(%q) = %q %d", s, host, port)
		}
		// What it returns is itself a valid target with the same meaning.
		h2, p2, err := domain.SplitHostPort(host, port)
		if err != nil || h2 != host || p2 != port {
			t.Fatalf("SplitHostPort(%q) = %q %d does not re-read: %q %d %v", s, host, port, h2, p2, err)
		}
	})
}

func TestBase(t *testing.T) {
	for in, want := range map[string]string{"contoso.com": "contoso.com", "*.Contoso.com.": "contoso.com", " *.a.b.example ": "a.b.example", "*": ""} {
		if got := domain.Base(in); got != want {
			t.Errorf("Base(%q) = %q, want %q", in, got, want)
		}
	}
}
