package route

import (
	"errors"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/domain/domaintest"
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
		{"corp.contoso.com", true, "", "*.corp.contoso.com"}, // the wildcard covers the bare domain
		{"fabrikam.com", false, "Fabrikam exact", "fabrikam.com"},
		{"mail.fabrikam.com", false, "Fabrikam wildcard", "*.fabrikam.com"},
		{"a.b.fabrikam.com", false, "Fabrikam wildcard", "*.fabrikam.com"}, // any depth
		{"eu.fabrikam.com", false, "Fabrikam EU", "*.eu.fabrikam.com"},
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
	for _, domain := range []string{"notfabrikam.com", "example.org", "", "  "} {
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

// Routing answers the shared domain-matching table, for accepted domains
// and for send connector address spaces alike.
func TestDomainMatchingTable(t *testing.T) {
	for _, tc := range domaintest.Cases {
		local := New([]string{tc.Pattern}, nil)
		d, err := local.Route(tc.Domain)
		if got := err == nil && d.Local; got != tc.Want {
			t.Errorf("accepted %q: Route(%q) local = %v (%+v, %v), want %v", tc.Pattern, tc.Domain, got, d, err, tc.Want)
		}
		remote := New(nil, []SendConnector{{Name: "Out", AddressSpaces: []string{"SMTP:" + tc.Pattern + ";1"}}})
		d, err = remote.Route(tc.Domain)
		if got := err == nil && d.Connector == "Out"; got != tc.Want {
			t.Errorf("address space %q: Route(%q) = %+v, %v, want matched=%v", tc.Pattern, tc.Domain, d, err, tc.Want)
		}
	}
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
