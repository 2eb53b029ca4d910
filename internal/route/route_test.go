package route

import (
	"errors"
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	accepted := []string{"contoso.com", "*.corp.contoso.com"}
	connectors := []SendConnector{
		{Name: "Internet", AddressSpaces: []string{"*"}},
		{Name: "Fabrikam wildcard", AddressSpaces: []string{"*.fabrikam.com"}},
		{Name: "Fabrikam EU", AddressSpaces: []string{"*.eu.fabrikam.com"}},
		{Name: "Fabrikam exact", AddressSpaces: []string{"fabrikam.com"}},
		{Name: "Outbound to Office 365", AddressSpaces: []string{"contoso.mail.onmicrosoft.com"}},
		{Name: "Tie first", AddressSpaces: []string{"tailspin.com"}},
		{Name: "Tie second", AddressSpaces: []string{"tailspin.com"}},
		{Name: "Costly", AddressSpaces: []string{"SMTP:woodgrove.com;10"}},
		{Name: "Cheap", AddressSpaces: []string{"SMTP:woodgrove.com;2"}},
	}
	r := New(accepted, connectors)
	tests := []struct {
		domain    string
		local     bool
		connector string
		space     string
	}{
		{"contoso.com", true, "", "contoso.com"},
		{"CONTOSO.COM.", true, "", "contoso.com"},
		{"a.corp.contoso.com", true, "", "*.corp.contoso.com"},
		{"corp.contoso.com", false, "Internet", "*"}, // the wildcard excludes the bare domain
		{"fabrikam.com", false, "Fabrikam exact", "fabrikam.com"},
		{"mail.fabrikam.com", false, "Fabrikam wildcard", "*.fabrikam.com"},
		{"a.b.fabrikam.com", false, "Fabrikam wildcard", "*.fabrikam.com"}, // any depth
		{"eu.fabrikam.com", false, "Fabrikam wildcard", "*.fabrikam.com"},
		{"paris.eu.fabrikam.com", false, "Fabrikam EU", "*.eu.fabrikam.com"},
		{"notfabrikam.com", false, "Internet", "*"}, // suffix must start at a label boundary
		{"contoso.mail.onmicrosoft.com", false, "Outbound to Office 365", "contoso.mail.onmicrosoft.com"},
		{"tailspin.com", false, "Tie first", "tailspin.com"},
		{"woodgrove.com", false, "Cheap", "woodgrove.com"},
		{"example.org", false, "Internet", "*"},
	}
	for _, tc := range tests {
		t.Run(tc.domain, func(t *testing.T) {
			d, err := r.Route(tc.domain)
			if err != nil {
				t.Fatalf("Route(%q): %v", tc.domain, err)
			}
			if d.Local != tc.local || d.Connector != tc.connector || d.Space != tc.space {
				t.Errorf("Route(%q) = %+v, want Local=%v Connector=%q Space=%q", tc.domain, d, tc.local, tc.connector, tc.space)
			}
		})
	}
}

func TestRouteNoRoute(t *testing.T) {
	r := New([]string{"contoso.com"}, []SendConnector{{Name: "Fabrikam", AddressSpaces: []string{"*.fabrikam.com"}}})
	for _, domain := range []string{"fabrikam.com", "example.org", "", "  "} {
		_, err := r.Route(domain)
		var nre *NoRouteError
		if !errors.As(err, &nre) {
			t.Fatalf("Route(%q) error = %v, want *NoRouteError", domain, err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "550 5.4.4 Unable to route") {
			t.Errorf("Route(%q) error %q does not start with 550 5.4.4 Unable to route", domain, msg)
		}
		if strings.TrimSpace(domain) != "" && (!strings.Contains(msg, domain) || !strings.Contains(msg, "add the address space")) {
			t.Errorf("Route(%q) error %q does not name the domain and the fix", domain, msg)
		}
		if nre.Status() != "550 5.4.4" {
			t.Errorf("Status() = %q", nre.Status())
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
		{" Contoso.COM. ", "contoso.com", 1, false},
		{"*.contoso.com", "*.contoso.com", 1, false},
		{"*", "*", 1, false},
		{"SMTP:*;100", "*", 100, false},
		{"smtp:contoso.com;3", "contoso.com", 3, false},
		{"x400:c=us;a= ;p=contoso", "", 0, true},
		{"contoso.com;0", "", 0, true},
		{"contoso.com;abc", "", 0, true},
		{"*contoso.com", "", 0, true},
		{"mail*.contoso.com", "", 0, true},
		{"a.*.com", "", 0, true},
		{"contoso..com", "", 0, true},
		{"", "", 0, true},
		{"*.", "*", 1, false}, // root wildcard with trailing dot
		{strings.Repeat("a", 64) + ".com", "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			as, err := ParseAddressSpace(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseAddressSpace(%q) = %+v, want error", tc.in, as)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddressSpace(%q): %v", tc.in, err)
			}
			if as.Pattern != tc.pattern || as.Cost != tc.cost {
				t.Errorf("ParseAddressSpace(%q) = %+v, want pattern %q cost %d", tc.in, as, tc.pattern, tc.cost)
			}
		})
	}
}

func TestInvalidEntriesAreReportedAndIgnored(t *testing.T) {
	r := New([]string{"bad..domain"}, []SendConnector{{Name: "Broken", AddressSpaces: []string{"mail*.contoso.com"}}})
	inv := r.Invalid()
	if len(inv) != 2 {
		t.Fatalf("Invalid() = %v, want 2 entries", inv)
	}
	if !strings.Contains(inv[1].Error(), `"Broken"`) {
		t.Errorf("Invalid()[1] = %v, want it to name the connector", inv[1])
	}
	if _, err := r.Route("mail1.contoso.com"); err == nil {
		t.Error("an invalid address space matched")
	}
}

func FuzzParseAddressSpace(f *testing.F) {
	for _, s := range []string{"contoso.com", "*.contoso.com", "*", "SMTP:*.a.b;5", "*contoso.com", "a..b", "smtp:;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := ParseAddressSpace(s)
		if err != nil {
			return
		}
		// A parsed space must round-trip and must match what it names.
		again, err := ParseAddressSpace(as.Pattern)
		if err != nil || again.Pattern != as.Pattern {
			t.Fatalf("pattern %q from %q does not re-parse: %v", as.Pattern, s, err)
		}
		switch {
		case as.Pattern == "*":
			if !as.Matches("x.example") {
				t.Fatal("* does not match")
			}
		case strings.HasPrefix(as.Pattern, "*."):
			if as.Matches(as.Pattern[2:]) || !as.Matches("x"+as.Pattern[1:]) {
				t.Fatalf("wildcard %q matching is wrong", as.Pattern)
			}
		default:
			if !as.Matches(as.Pattern) || as.Matches("x."+as.Pattern) {
				t.Fatalf("exact %q matching is wrong", as.Pattern)
			}
		}
	})
}

func BenchmarkRoute(b *testing.B) {
	var conns []SendConnector
	for i := range 50 {
		conns = append(conns, SendConnector{Name: "c", AddressSpaces: []string{"*.d" + string(rune('a'+i%26)) + ".example.com"}})
	}
	conns = append(conns, SendConnector{Name: "Internet", AddressSpaces: []string{"*"}})
	r := New([]string{"contoso.com"}, conns)
	for b.Loop() {
		if _, err := r.Route("mail.dz.example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
