package receive

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/mailbox"
)

const replyRelayDenied = "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"

// relayConnectors: the default connector for everyone, a classic relay
// connector for one application server (ExternalAuthoritative +
// ExchangeServers) and an anonymous_relay connector for one printer; all
// three share one binding, so the most specific range decides.
const relayConnectors = defaultConnector + `  - name: Relay from app server
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["127.0.0.5/32"]
    auth_mechanism: [ExternalAuthoritative]
    permission_groups: [ExchangeServers]
    protocol_logging_level: Verbose
  - name: Printer relay
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["127.0.0.6/32"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    anonymous_relay: true
    protocol_logging_level: Verbose
  - name: Internal users only
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["127.0.0.8/32"]
    auth_mechanism: [Tls]
    permission_groups: [ExchangeUsers]
    protocol_logging_level: Verbose
`

// relayForm is one recipient form from the classic relay tests, with the
// reply an anonymous client outside the trusted ranges must get.
type relayForm struct {
	rcpt string
	want string // exact reply; replyRecipientOK only for local delivery
}

var relayForms = []relayForm{
	{"user@foreign.example", replyRelayDenied},
	{"user@FOREIGN.EXAMPLE", replyRelayDenied},
	{"user", "501 5.1.3 Invalid address: no domain"},
	{`"user@foreign.example"`, "501 5.1.3 Invalid address: no domain"},
	{`"user@foreign.example"@contoso.com`, replyRecipientOK},
	{`"user%foreign.example"@contoso.com`, replyRecipientOK},
	{"user%foreign.example@contoso.com", replyRecipientOK},
	{"user%foreign.example", "501 5.1.3 Invalid address: no domain"},
	{"user%foreign.example@[127.0.0.1]", replyRelayDenied},
	{"user@foreign.example@contoso.com", "501 5.1.3 Invalid address: invalid character in domain"},
	{"user@contoso.com@foreign.example", "501 5.1.3 Invalid address: invalid character in domain"},
	{"foreign.example!user", "501 5.1.3 Invalid address: no domain"},
	{"foreign.example!user@contoso.com", replyRecipientOK},
	{"foreign.example!user@[127.0.0.1]", replyRelayDenied},
	{"user@[127.0.0.1]", replyRelayDenied},
	{"user@[IPv6:::1]", replyRelayDenied},
	{"user@localhost", replyRelayDenied},
	{"user@localhost.contoso.com", replyRelayDenied},
	{"user@sub.contoso.com", replyRelayDenied},
	{"user@contoso.com.foreign.example", replyRelayDenied},
	{"user@contoso.com.", "501 5.1.3 Invalid address: empty domain label"},
	{"user@foreign.example.", "501 5.1.3 Invalid address: empty domain label"},
	{"user@contоso.com", replyRelayDenied}, // Cyrillic о: not our domain
	{"@contoso.com:user@foreign.example", replyRelayDenied},
	{"@contoso.com,@contoso.com:user@foreign.example", replyRelayDenied},
	{"@[127.0.0.1]:user@foreign.example", replyRelayDenied},
	{"@foreign.example:user@contoso.com", replyRecipientOK},
	{"@contoso.com:user", "501 5.1.3 Invalid address: no domain"},
	{"postmaster", replyRecipientOK},
	{"postmaster@foreign.example", replyRelayDenied},
	{"user@CONTOSO.COM", replyRecipientOK},
	{"user@contoso.com", replyRecipientOK},
}

// TestOpenRelayForms (relaytest): from an anonymous client outside every
// trusted range, no form of a foreign recipient is accepted, and whatever
// is accepted is delivered to an accepted domain by the same address
// splitting the delivery side uses.
func TestOpenRelayForms(t *testing.T) {
	h := newHarness(t, harnessConfig("", relayConnectors))
	accepted := runRelayForms(t, h, "127.0.0.7", false)
	msgs := h.sub.messages()
	if len(msgs) != accepted {
		t.Fatalf("%d messages submitted, %d recipients accepted", len(msgs), accepted)
	}
	relayed := 0
	for _, m := range msgs {
		for _, to := range m.Env.To {
			_, domain, err := mailbox.SplitRecipient(to)
			if err != nil || !h.cfg.IsAcceptedDomain(domain) {
				relayed++
				t.Errorf("recipient %q accepted for delivery to %q (%v): relayed", to, domain, err)
			}
			if at := strings.LastIndexByte(to, '@'); at < 0 || !strings.EqualFold(to[at+1:], "contoso.com") {
				t.Errorf("envelope recipient %q does not end in @contoso.com", to)
			}
		}
	}
	t.Logf("%d forms, %d accepted for contoso.com, %d relayed", len(relayForms), accepted, relayed)
}

// TestRelayFormsFromTrustedRange is the control for TestOpenRelayForms: the
// same forms from the relay connector's range are accepted for foreign
// domains, so the test above can tell a relay from a refusal.
func TestRelayFormsFromTrustedRange(t *testing.T) {
	h := newHarness(t, harnessConfig("", relayConnectors))
	runRelayForms(t, h, "127.0.0.5", true)
	foreign := 0
	for _, m := range h.sub.messages() {
		for _, to := range m.Env.To {
			if !strings.HasSuffix(strings.ToLower(to), "@contoso.com") {
				foreign++
			}
		}
	}
	if foreign == 0 {
		t.Fatal("the relay connector relayed nothing")
	}
}

// runRelayForms tries every form in its own transaction and returns how
// many were accepted. With relay, refusals for a foreign domain are
// expected to be 250 instead.
func runRelayForms(t *testing.T, h *harness, from string, relay bool) int {
	t.Helper()
	c := h.dial(t, from)
	c.ehlo("probe.relaytest.example")
	accepted := 0
	for _, f := range relayForms {
		want := f.want
		if relay && want == replyRelayDenied {
			want = replyRecipientOK
		}
		c.expect("MAIL FROM:<spammer@foreign.example>", replySenderOK)
		r := c.cmd("RCPT TO:<" + f.rcpt + ">")
		if r.Text != want {
			t.Errorf("RCPT TO:<%s> from %s: %q, want %q", f.rcpt, from, r.Text, want)
		}
		if r.Code != 250 {
			c.expect("RSET", "250 2.0.0 Resetting")
			continue
		}
		accepted++
		c.expect("DATA", replyStartData)
		c.send("Subject: relay test\r\n\r\n" + f.rcpt + "\r\n.\r\n")
		if r := c.mustReply(); !isQueued(r) {
			t.Fatalf("end of data for %s: %q", f.rcpt, r.Text)
		}
	}
	c.quit()
	return accepted
}

// TestRelayByRemoteRange: who may relay is decided by the
// connector the remote address selects.
func TestRelayByRemoteRange(t *testing.T) {
	h := newHarness(t, harnessConfig("", relayConnectors))
	cases := []struct {
		from      string
		connector string
		relay     bool
		mailReply string
	}{
		{"127.0.0.5", "Relay from app server", true, replySenderOK},
		{"127.0.0.6", "Printer relay", true, replySenderOK},
		{"127.0.0.7", "Default Frontend SERVER1", false, replySenderOK},
		{"127.0.0.2", "Default Frontend SERVER1", false, replySenderOK},
		{"127.0.0.8", "Internal users only", false, "530 5.7.1 Client was not authenticated (no permission group of this connector grants submit)"},
	}
	for _, tc := range cases {
		t.Run(tc.from, func(t *testing.T) {
			before := len(h.sub.messages())
			c := h.dial(t, tc.from)
			c.ehlo("app.contoso.com")
			if tc.mailReply != replySenderOK {
				c.expect("MAIL FROM:<app@contoso.com>", tc.mailReply)
				c.quit()
				return
			}
			c.expect("MAIL FROM:<app@contoso.com>", replySenderOK)
			c.expect("RCPT TO:<local@contoso.com>", replyRecipientOK)
			if !tc.relay {
				c.expect("RCPT TO:<someone@foreign.example>", replyRelayDenied)
				c.expect("RCPT TO:<someone@[127.0.0.1]>", replyRelayDenied)
			} else {
				c.expect("RCPT TO:<someone@foreign.example>", replyRecipientOK)
			}
			c.expect("DATA", replyStartData)
			c.send("Subject: from " + tc.from + "\r\n\r\nx\r\n.\r\n")
			if r := c.mustReply(); !isQueued(r) {
				t.Fatalf("end of data: %q", r.Text)
			}
			c.quit()
			msgs := h.sub.messages()[before:]
			want := []string{"local@contoso.com"}
			if tc.relay {
				want = append(want, "someone@foreign.example")
			}
			if len(msgs) != 1 || !slices.Equal(msgs[0].Env.To, want) || !strings.HasSuffix(msgs[0].Env.ConnectorID, `\`+tc.connector) {
				t.Fatalf("submitted %+v, want one message to %v via %s", msgs, want, tc.connector)
			}
		})
	}

	// The protocol log names each session's permissions before the
	// greeting, so an administrator sees who could relay.
	wantPerms := map[string]string{
		"127.0.0.5": "SMTPSubmit SMTPAcceptAnyRecipient SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender BypassAntiSpam BypassMessageSizeLimit AcceptRoutingHeaders",
		"127.0.0.6": "SMTPSubmit SMTPAcceptAnyRecipient SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender AcceptRoutingHeaders",
		"127.0.0.7": "SMTPSubmit SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender AcceptRoutingHeaders",
		"127.0.0.8": "None",
	}
	got := map[string][]string{}
	greetingAfter := map[string]bool{}
	lastPerm := map[string]bool{} // session id → permissions line seen, greeting not yet
	for _, rec := range h.protocolLog() {
		ip, _, _ := strings.Cut(rec.Remote, ":")
		if rec.Event == '*' && rec.Context == "Set Session Permissions" {
			got[ip] = append(got[ip], rec.Data)
			lastPerm[rec.SessionID] = true
		}
		if rec.Event == '>' && strings.HasPrefix(rec.Data, "220 ") && lastPerm[rec.SessionID] {
			greetingAfter[ip] = true
		}
	}
	for ip, want := range wantPerms {
		if len(got[ip]) != 1 || got[ip][0] != want {
			t.Errorf("Set Session Permissions for %s: %q, want [%q]", ip, got[ip], want)
		}
		if !greetingAfter[ip] {
			t.Errorf("Set Session Permissions for %s is not logged before the 220 greeting", ip)
		}
	}
}

// TestRelayDescription: what `mailflow connector list` says each connector
// relays for.
func TestRelayDescription(t *testing.T) {
	h := newHarness(t, harnessConfig("", relayConnectors))
	want := map[string]string{
		"Default Frontend SERVER1": "accepted domains only",
		"Relay from app server":    "any recipient from 127.0.0.5/32 (ExternalAuthoritative + ExchangeServers)",
		"Printer relay":            "any recipient from 127.0.0.6/32 (anonymous_relay)",
		"Internal users only":      "nobody (no permission group grants submit)",
	}
	for i := range h.cfg.ReceiveConnectors {
		rc := &h.cfg.ReceiveConnectors[i]
		if got := RelayDescription(rc); got != want[rc.Name] {
			t.Errorf("%s: %q, want %q", rc.Name, got, want[rc.Name])
		}
	}
	warnings := h.cfg.OpenRelayWarnings()
	if len(warnings) != 2 || !strings.Contains(warnings[0], `"Relay from app server" relays mail to any recipient for clients in [127.0.0.5/32]`) ||
		!strings.Contains(warnings[1], `"Printer relay" relays mail to any recipient for clients in [127.0.0.6/32]`) {
		t.Errorf("relay warnings: %q", warnings)
	}
}

// TestOpenRelayConfigurationRefused: a connector that relays for the whole
// internet does not load unless allow_open_relay says so, and then it is
// announced loudly and relays as configured.
func TestOpenRelayConfigurationRefused(t *testing.T) {
	cases := []struct {
		name, connector string
	}{
		{"anonymous_relay all IPv4", `  - name: Open
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    permission_groups: [AnonymousUsers]
    anonymous_relay: true
`},
		{"anonymous_relay default ranges", `  - name: Open
    bindings: ["127.0.0.1:{port}"]
    permission_groups: [AnonymousUsers]
    anonymous_relay: true
`},
		{"anonymous_relay split halves", `  - name: Open
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["0.0.0.0/1", "128.0.0.0/1"]
    permission_groups: [AnonymousUsers]
    anonymous_relay: true
`},
		{"anonymous_relay all IPv6", `  - name: Open
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["127.0.0.0/8", "::/0"]
    permission_groups: [AnonymousUsers]
    anonymous_relay: true
`},
		{"ExternalAuthoritative everyone", `  - name: Open
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["0.0.0.0/0"]
    auth_mechanism: [ExternalAuthoritative]
    permission_groups: [ExchangeServers]
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.ReplaceAll(harnessConfig("", tc.connector), "{port}", "2525")
			_, err := config.Parse(filepath.Join(t.TempDir(), "open.yaml"), []byte(text))
			if err == nil || !strings.Contains(err.Error(), "is an open relay") || !strings.Contains(err.Error(), "allow_open_relay: true") {
				t.Fatalf("open relay configuration: err = %v", err)
			}
			allowed := tc.connector + "    allow_open_relay: true\n"
			text = strings.ReplaceAll(harnessConfig("", allowed), "{port}", "2525")
			cfg, err := config.Parse(filepath.Join(t.TempDir(), "open.yaml"), []byte(text))
			if err != nil {
				t.Fatalf("with allow_open_relay: %v", err)
			}
			w := cfg.OpenRelayWarnings()
			if len(w) != 1 || !strings.Contains(w[0], "OPEN RELAY") || !strings.Contains(w[0], "anyone can send spam") {
				t.Fatalf("warnings %q", w)
			}
			if d := RelayDescription(&cfg.ReceiveConnectors[0]); !strings.Contains(d, "open relay") {
				t.Errorf("RelayDescription %q", d)
			}
		})
	}

	// Allowed, it relays for any address: the harness shows it.
	h := newHarness(t, harnessConfig("", cases[0].connector+"    allow_open_relay: true\n"))
	c := h.dial(t, "127.0.0.9")
	c.ehlo("anyone.example")
	c.expect("MAIL FROM:<a@foreign.example>", replySenderOK)
	c.expect("RCPT TO:<b@elsewhere.example>", replyRecipientOK)
	c.quit()
}
