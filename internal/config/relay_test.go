package config

import (
	"strings"
	"testing"
)

func TestRelayRules(t *testing.T) {
	tests := []struct {
		name         string
		rc           ReceiveConnector
		relaysForAll bool
		open         bool
	}{
		{"anonymous internet, no relay", ReceiveConnector{PermissionGroups: []string{PermAnonymousUsers}, RemoteIPRanges: []string{"0.0.0.0/0"}}, false, false},
		{"anonymous_relay on one host", ReceiveConnector{AnonymousRelay: true, RemoteIPRanges: []string{"192.0.2.10"}}, true, false},
		{"anonymous_relay on the IPv4 internet", ReceiveConnector{AnonymousRelay: true, RemoteIPRanges: []string{"0.0.0.0-255.255.255.255"}}, true, true},
		{"anonymous_relay on the IPv6 internet", ReceiveConnector{AnonymousRelay: true, RemoteIPRanges: []string{"10.0.0.0/8", "::/0"}}, true, true},
		{"anonymous_relay on split halves", ReceiveConnector{AnonymousRelay: true, RemoteIPRanges: []string{"128.0.0.0/1", "0.0.0.0/1"}}, true, true},
		{"anonymous_relay on almost everything", ReceiveConnector{AnonymousRelay: true, RemoteIPRanges: []string{"0.0.0.0-255.255.255.254"}}, true, false},
		{"ExternalAuthoritative for a partner", ReceiveConnector{AuthMechanism: []string{"Tls", "ExternalAuthoritative"}, PermissionGroups: []string{"ExchangeServers"}, RemoteIPRanges: []string{"192.0.2.0/24"}}, true, false},
		{"ExternalAuthoritative for the internet", ReceiveConnector{AuthMechanism: []string{"ExternalAuthoritative"}, PermissionGroups: []string{"exchangeservers"}, RemoteIPRanges: []string{"0.0.0.0/0"}}, true, true},
		{"ExchangeServers without ExternalAuthoritative", ReceiveConnector{AuthMechanism: []string{"Tls"}, PermissionGroups: []string{"ExchangeServers", "AnonymousUsers"}, RemoteIPRanges: []string{"0.0.0.0/0"}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rc.RelaysForAll(); got != tt.relaysForAll {
				t.Errorf("RelaysForAll = %v, want %v", got, tt.relaysForAll)
			}
			if got := tt.rc.OpenRelay(); got != tt.open {
				t.Errorf("OpenRelay = %v, want %v", got, tt.open)
			}
		})
	}
}

// TestOpenRelayAllowed: allow_open_relay turns the error into a loud
// start-up warning; a relay for a trusted range gets a quieter one; a
// disabled connector none.
func TestOpenRelayAllowed(t *testing.T) {
	doc := head + `receive_connectors:
  - name: Open
    bindings: ["0.0.0.0:25"]
    anonymous_relay: true
    allow_open_relay: true
  - name: App servers
    bindings: ["0.0.0.0:2525"]
    remote_ip_ranges: ["192.0.2.0/28"]
    anonymous_relay: true
  - name: Off
    enabled: false
    bindings: ["0.0.0.0:587"]
    anonymous_relay: true
    allow_open_relay: true
  - name: Normal
    bindings: ["0.0.0.0:26"]
`
	c := mustParse(t, doc)
	w := c.OpenRelayWarnings()
	if len(w) != 2 {
		t.Fatalf("want 2 warnings, got %d: %q", len(w), w)
	}
	if !strings.HasPrefix(w[0], "t.yaml:5: OPEN RELAY") || !strings.Contains(w[0], `"Open"`) {
		t.Errorf("warning 0 = %s", w[0])
	}
	if strings.Contains(w[1], "OPEN RELAY") || !strings.Contains(w[1], `"App servers"`) || !strings.Contains(w[1], "192.0.2.0/28") {
		t.Errorf("warning 1 = %s", w[1])
	}
	// Without allow_open_relay the same connector is refused.
	_, err := Parse("t.yaml", []byte(strings.Replace(doc, "    allow_open_relay: true\n  - name: App", "  - name: App", 1)))
	if err == nil || !strings.Contains(err.Error(), `receive connector "Open" is an open relay`) {
		t.Errorf("want open relay error, got %v", err)
	}
}

// TestBasicAuthInClearGuard: BasicAuth without BasicAuthRequireTLS is
// refused beyond loopback unless allow_basic_auth_without_tls is set.
func TestBasicAuthInClearGuard(t *testing.T) {
	conn := func(ranges, auth, extra string) string {
		return "server: {name: S1, fqdn: s1.contoso.com}\naccepted_domains: [contoso.com]\nreceive_connectors:\n" +
			"  - name: Devices\n    bindings: [\"0.0.0.0:587\"]\n    remote_ip_ranges: " + ranges + "\n    auth_mechanism: " + auth +
			"\n    permission_groups: [ExchangeUsers]\n" + extra
	}
	for _, tc := range []struct {
		text string
		ok   bool
	}{
		{conn(`["192.0.2.0/24"]`, "[BasicAuth]", ""), false},
		{conn(`["192.0.2.0/24"]`, "[Tls, BasicAuth]", ""), false},
		{conn(`["192.0.2.0/24"]`, "[Tls, BasicAuth, BasicAuthRequireTLS]", ""), true},
		{conn(`["127.0.0.0/8", "::1"]`, "[BasicAuth]", ""), true},
		{conn(`["192.0.2.0/24"]`, "[BasicAuth]", "    allow_basic_auth_without_tls: true\n"), true},
	} {
		_, err := Parse("mailflow.yaml", []byte(tc.text))
		if tc.ok != (err == nil) {
			t.Errorf("%s\n→ err %v, want ok=%v", tc.text, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "allow_basic_auth_without_tls") {
			t.Errorf("error does not name the fix: %v", err)
		}
	}
}
