package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// relayConfig writes a configuration with three receive connectors on one
// binding: the default one for everybody, a relay connector for the
// application server 127.0.0.5 (ExternalAuthoritative + ExchangeServers)
// and an anonymous_relay connector for the printer 127.0.0.6. extra is
// appended to receive_connectors.
func relayConfig(t *testing.T, extra string) (cfgPath string, port int) {
	t.Helper()
	dir := t.TempDir()
	if _, err := labpki.New(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	port = testkit.FreePort(t)
	cfg := fmt.Sprintf(`server:
  name: SERVER1
  fqdn: server1.contoso.local
  data_dir: ./data
accepted_domains: [contoso.com]
certificates:
  - file: certs/server1-selfsigned.pem
admin:
  listen: "off"
receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:%[1]d"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    protocol_logging_level: Verbose
  - name: Relay from app server
    bindings: ["127.0.0.1:%[1]d"]
    remote_ip_ranges: ["127.0.0.5/32"]
    auth_mechanism: [ExternalAuthoritative]
    permission_groups: [ExchangeServers]
    protocol_logging_level: Verbose
  - name: Printer relay
    bindings: ["127.0.0.1:%[1]d"]
    remote_ip_ranges: ["127.0.0.6/32"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    anonymous_relay: true
    protocol_logging_level: Verbose
%[2]s`, port, extra)
	cfgPath = filepath.Join(dir, "relay.yaml")
	testkit.WriteFile(t, cfgPath, cfg)
	return cfgPath, port
}

// swaksResult is one swaks run: its exit code and transcript.
type swaksResult struct {
	exit int
	out  string
}

func swaks(t *testing.T, port int, source, from, to string) swaksResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swaks",
		"--server", "127.0.0.1", "--port", strconv.Itoa(port),
		"--local-interface", source,
		"--helo", "probe.fabrikam.example",
		"--from", from, "--to", to,
		"--header", "Subject: relay test from "+source,
		"--timeout", "30")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return swaksResult{0, string(out)}
	case errors.As(err, &ee):
		return swaksResult{ee.ExitCode(), string(out)}
	}
	t.Fatalf("swaks: %v\n%s", err, out)
	return swaksResult{}
}

// TestRelayWithSwaks: swaks, from different loopback addresses,
// against `mailflow serve`: only the addresses inside a relay connector's
// ranges relay to a foreign domain; everyone reaches the accepted domain;
// the protocol log names each session's permissions.
func TestRelayWithSwaks(t *testing.T) {
	need(t, "swaks")
	cfg, port := relayConfig(t, "")
	p := startServe(t, cfg)

	cases := []struct {
		source, to string
		relayed    bool
	}{
		{"127.0.0.2", "victim@elsewhere.example", false},
		{"127.0.0.7", "victim@elsewhere.example", false},
		{"127.0.0.2", "user@contoso.com", true},
		{"127.0.0.5", "partner@elsewhere.example", true},
		{"127.0.0.6", "scan@elsewhere.example", true},
	}
	for _, tc := range cases {
		r := swaks(t, port, tc.source, "app@fabrikam.example", tc.to)
		switch {
		case tc.relayed && (r.exit != 0 || !regexp.MustCompile(`(?m)^<-  250 2\.6\.0 `).MatchString(r.out)):
			t.Errorf("from %s to %s: swaks exit %d, want the message queued:\n%s", tc.source, tc.to, r.exit, r.out)
		case !tc.relayed && (r.exit != 24 || !strings.Contains(r.out, "<** 550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain")):
			// swaks exits 24 when the server refuses every recipient.
			t.Errorf("from %s to %s: swaks exit %d, want 550 5.7.54 at RCPT:\n%s", tc.source, tc.to, r.exit, r.out)
		}
	}

	p.stop()
	logs := readAll(t, filepath.Join(filepath.Dir(cfg), "data", "logs", "ProtocolLog", "SmtpReceive"))
	for _, want := range []string{
		`SERVER1\\Relay from app server,[0-9A-F]{16},\d+,127\.0\.0\.1:\d+,127\.0\.0\.5:\d+,\*,SMTPSubmit SMTPAcceptAnyRecipient SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender BypassAntiSpam BypassMessageSizeLimit AcceptRoutingHeaders,Set Session Permissions`,
		`SERVER1\\Printer relay,[0-9A-F]{16},\d+,127\.0\.0\.1:\d+,127\.0\.0\.6:\d+,\*,SMTPSubmit SMTPAcceptAnyRecipient SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender AcceptRoutingHeaders,Set Session Permissions`,
		`SERVER1\\Default Frontend SERVER1,[0-9A-F]{16},\d+,127\.0\.0\.1:\d+,127\.0\.0\.2:\d+,\*,SMTPSubmit SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender AcceptRoutingHeaders,Set Session Permissions`,
		`127\.0\.0\.7:\d+,>,550 5\.7\.54 SMTP; Unable to relay recipient in non-accepted domain`,
	} {
		if !regexp.MustCompile(want).MatchString(logs) {
			t.Errorf("protocol log lacks %s\n%s", want, logs)
		}
	}
}

// TestConnectorListShowsRelay: `mailflow connector list` (offline, on the
// file) says who each connector relays for.
func TestConnectorListShowsRelay(t *testing.T) {
	cfg, _ := relayConfig(t, "")
	out, err := exec.Command(binary, "connector", "list", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("connector list: %v\n%s", err, out)
	}
	got := relaysFor(string(out))
	want := map[string]string{
		`SERVER1\Default Frontend SERVER1`: "accepted domains only",
		`SERVER1\Relay from app server`:    "any recipient from 127.0.0.5/32 (ExternalAuthoritative + ExchangeServers)",
		`SERVER1\Printer relay`:            "any recipient from 127.0.0.6/32 (anonymous_relay)",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s relays for %q, want %q\n%s", id, got[id], w, out)
		}
	}
	if len(got) != len(want) {
		t.Errorf("connectors listed: %v", got)
	}
}

// relaysFor maps each receive connector id in `connector list` output to
// its "Relays for" line.
func relaysFor(out string) map[string]string {
	m := map[string]string{}
	var cur string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "Receive connector"); ok {
			cur = strings.TrimSpace(id)
			continue
		}
		if strings.HasPrefix(line, "Send connector") {
			cur = ""
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Relays for"); ok && cur != "" {
			m[cur] = strings.TrimSpace(v)
		}
	}
	return m
}

// TestOpenRelayRefusedAtStartup: a connector relaying for the whole
// internet stops `mailflow serve` from starting unless allow_open_relay is
// set, and then the start-up log and `connector list` say so loudly.
func TestOpenRelayRefusedAtStartup(t *testing.T) {
	open := `  - name: Open relay
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["0.0.0.0/0"]
    auth_mechanism: [ExternalAuthoritative]
    permission_groups: [ExchangeServers]
`
	port := testkit.FreePort(t)
	cfg, _ := relayConfig(t, fmt.Sprintf(open, port))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "serve", "--config", cfg).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serve with an open relay: err %v (context %v), want a refusal\n%s", err, ctx.Err(), out)
	}
	if !strings.Contains(string(out), `"Open relay" is an open relay`) || !strings.Contains(string(out), "allow_open_relay: true") {
		t.Fatalf("refusal does not explain the open relay and the way out:\n%s", out)
	}

	cfg, _ = relayConfig(t, fmt.Sprintf(open, port)+"    allow_open_relay: true\n")
	list, err := exec.Command(binary, "connector", "list", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("connector list: %v\n%s", err, list)
	}
	if got := relaysFor(string(list))[`SERVER1\Open relay`]; !strings.Contains(got, "ANY recipient from ANY address") || !strings.Contains(got, "open relay") {
		t.Errorf("connector list shows the open relay as %q", got)
	}

	stderr := serveAndStop(t, cfg)
	if !strings.Contains(stderr, "OPEN RELAY") || !strings.Contains(stderr, `receive connector \"Open relay\" relays mail to any recipient for ANY address`) {
		t.Errorf("start-up log lacks the open relay warning:\n%s", stderr)
	}
	if !strings.Contains(stderr, `receive connector \"Relay from app server\" relays mail to any recipient for clients in [127.0.0.5/32]`) {
		t.Errorf("start-up log lacks the warning for the scoped relay connector:\n%s", stderr)
	}
}

// serveAndStop starts `mailflow serve`, waits until it is ready, stops it
// with SIGINT and returns everything it wrote to stderr.
func serveAndStop(t *testing.T, cfg string) string {
	t.Helper()
	p := startServe(t, cfg)
	p.stop()
	return p.Stderr()
}

// TestWildcardAcceptedDomainWithSwaks (issue 11): with "*.fabrikam.com"
// accepted, an anonymous sender's RCPT TO:<a@sub.fabrikam.com> gets 250,
// the message lands in the mailbox store, and a domain the wildcard does not
// cover is still refused as relaying.
func TestWildcardAcceptedDomainWithSwaks(t *testing.T) {
	need(t, "swaks")
	cfg, port := relayConfig(t, "")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WriteFile(t, cfg, strings.Replace(string(text), "accepted_domains: [contoso.com]", `accepted_domains: [contoso.com, "*.fabrikam.com"]`, 1))
	p := startServe(t, cfg)
	defer p.stop()

	r := swaks(t, port, "127.0.0.2", "app@tailspin.example", "a@sub.fabrikam.com")
	if r.exit != 0 || !strings.Contains(r.out, "<-  250 2.1.5 Recipient OK") || !regexp.MustCompile(`(?m)^<-  250 2\.6\.0 `).MatchString(r.out) {
		t.Fatalf("swaks to a@sub.fabrikam.com: exit %d, want 250 at RCPT and the message queued:\n%s", r.exit, r.out)
	}
	files := waitFiles(t, filepath.Join(mailboxRoot(cfg), "sub.fabrikam.com", "a", "new"), 1)
	if body, err := os.ReadFile(files[0]); err != nil || !strings.Contains(string(body), "Subject: relay test from 127.0.0.2") {
		t.Errorf("mailbox file %s lacks the message (%v):\n%s", files[0], err, body)
	}
	r = swaks(t, port, "127.0.0.2", "app@tailspin.example", "a@notfabrikam.com")
	if r.exit != 24 || !strings.Contains(r.out, "<** 550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain") {
		t.Errorf("swaks to a@notfabrikam.com: exit %d, want 550 5.7.54 at RCPT:\n%s", r.exit, r.out)
	}
}
