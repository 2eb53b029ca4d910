package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/testpeer"
)

const (
	devicePassword = "Scan-To-Mail-7f3a!"
	wrongPassword  = "not-the-Password-91"
)

// clientFrontendConfig writes a configuration with Exchange's Client
// Frontend on 127.0.0.2 (Postfix refuses to relay to an address it listens
// on itself, 127.0.0.1): STARTTLS with the SERVER1 certificate, AUTH only
// after it, ExchangeUsers only; the admin API on for live user changes; a
// short tarpit so wrong-password runs stay quick.
func clientFrontendConfig(t *testing.T) (cfgPath string, port int) {
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
  listen: 127.0.0.1:%[2]d
limits:
  auth_tarpit: 20ms
receive_connectors:
  - name: Client Frontend SERVER1
    bindings: ["127.0.0.2:%[1]d"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    auth_mechanism: [Tls, BasicAuth, BasicAuthRequireTLS]
    permission_groups: [ExchangeUsers]
    protocol_logging_level: Verbose
`, port, testkit.FreePort(t))
	cfgPath = filepath.Join(dir, "mailflow.yaml")
	testkit.WriteFile(t, cfgPath, cfg)
	return cfgPath, port
}

// swaksAuth runs swaks against server ("127.0.0.2:port") from source.
func swaksAuth(t *testing.T, server, source string, args ...string) swaksResult {
	t.Helper()
	need(t, "swaks")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--server", server, "--local-interface", source,
		"--helo", "scanner.contoso.com", "--to", "someone@fabrikam.example", "--timeout", "30"}
	out, err := exec.CommandContext(ctx, "swaks", append(base, args...)...).CombinedOutput()
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

// pyAuth runs Python's smtplib: EHLO, optional starttls(), login(), a
// message; it prints one line saying how far it got.
func pyAuth(t *testing.T, port int, source string, starttls bool, user, password string) string {
	t.Helper()
	need(t, "python3")
	script := `
import smtplib, sys
port, source, starttls, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", sys.argv[4], sys.argv[5]
s = smtplib.SMTP("127.0.0.2", port, source_address=(source, 0), timeout=20)
s.ehlo("app.contoso.com")
if starttls:
    s.starttls()
    s.ehlo("app.contoso.com")
try:
    code, msg = s.login(user, pw)
except smtplib.SMTPNotSupportedError as e:
    print("NOTSUPPORTED", e); sys.exit(0)
except smtplib.SMTPAuthenticationError as e:
    print("AUTHFAILED", e.smtp_code, e.smtp_error.decode()); sys.exit(0)
refused = s.sendmail("app@contoso.com", ["someone@fabrikam.example"], "From: app@contoso.com\r\nSubject: smtplib\r\n\r\nhello\r\n")
print("SENT", code, refused)
s.quit()
`
	st := "0"
	if starttls {
		st = "1"
	}
	out, err := exec.Command("python3", "-c", script, strconv.Itoa(port), source, st, user, password).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestAuthWithRealClients: swaks, Python's smtplib and Postfix as a SASL
// client submit through Client Frontend with the right password (added
// live with `mailflow user add`), fail with a wrong one, and cannot AUTH
// before STARTTLS. No log — protocol, tracking, mailflow's own output,
// `logs analyze` — holds a password afterwards.
func TestAuthWithRealClients(t *testing.T) {
	need(t, "swaks", "python3")
	cfg, port := clientFrontendConfig(t)
	p := startServe(t, cfg)
	awaitAdmin(t, cfg)
	front := "127.0.0.2:" + strconv.Itoa(port)
	dir := filepath.Dir(cfg)
	pwFile := filepath.Join(dir, "scanner.pw")
	testkit.WriteFile(t, pwFile, devicePassword+"\n")
	cliLive(t, "user", "add", "scanner", "--password-file", pwFile, "--config", cfg)
	if out := cliLive(t, "user", "list", "--config", cfg); !strings.Contains(out, "scanner") || strings.Contains(out, "argon2") {
		t.Fatalf("user list:\n%s", out)
	}
	st, err := os.Stat(filepath.Join(dir, "data", "users.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users.json: %v mode %v, want 0600", err, st.Mode().Perm())
	}

	// swaks
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		r := swaksAuth(t, front, "127.0.0.3", "--tls", "--auth", mech, "--auth-user", "scanner", "--auth-password", devicePassword, "--from", "scanner@contoso.com")
		if r.exit != 0 || !strings.Contains(r.out, "<~  235 2.7.0 Authentication successful") || !strings.Contains(r.out, "<~  250 2.6.0") {
			t.Fatalf("swaks --auth %s --tls: exit %d\n%s", mech, r.exit, r.out)
		}
	}
	r := swaksAuth(t, front, "127.0.0.3", "--tls", "--auth", "PLAIN", "--auth-user", "scanner", "--auth-password", wrongPassword, "--from", "scanner@contoso.com")
	if r.exit == 0 || !strings.Contains(r.out, "535 5.7.8 Authentication unsuccessful") {
		t.Fatalf("swaks wrong password: exit %d\n%s", r.exit, r.out)
	}
	r = swaksAuth(t, front, "127.0.0.3", "--auth", "PLAIN", "--auth-user", "scanner", "--auth-password", devicePassword, "--from", "scanner@contoso.com")
	if r.exit == 0 || strings.Contains(r.out, "235 ") {
		t.Fatalf("swaks AUTH without --tls succeeded: exit %d\n%s", r.exit, r.out)
	}
	// Forcing AUTH in clear text: refused, not just unadvertised.
	r = swaksAuth(t, front, "127.0.0.3", "--auth", "PLAIN", "--auth-user", "scanner", "--auth-password", devicePassword, "--auth-optional-strict", "--quit-after", "AUTH")
	if strings.Contains(r.out, "235 ") {
		t.Fatalf("AUTH before STARTTLS succeeded:\n%s", r.out)
	}

	// A user name that tries to smuggle another address into the log line.
	r = swaksAuth(t, front, "127.0.0.3", "--tls", "--auth", "LOGIN", "--auth-user", `x" remote_ip=10.9.9.9 `, "--auth-password", wrongPassword, "--from", "scanner@contoso.com")
	if r.exit == 0 || !strings.Contains(r.out, "535 5.7.8") {
		t.Fatalf("swaks with a hostile user name: exit %d\n%s", r.exit, r.out)
	}

	// Python smtplib
	if got := pyAuth(t, port, "127.0.0.4", true, "scanner", devicePassword); !strings.HasPrefix(got, "SENT 235 {}") {
		t.Fatalf("smtplib starttls()+login(): %s", got)
	}
	if got := pyAuth(t, port, "127.0.0.4", true, "scanner", wrongPassword); !strings.HasPrefix(got, "AUTHFAILED 535 5.7.8 Authentication unsuccessful") {
		t.Fatalf("smtplib wrong password: %s", got)
	}
	if got := pyAuth(t, port, "127.0.0.4", false, "scanner", devicePassword); !strings.HasPrefix(got, "NOTSUPPORTED") {
		t.Fatalf("smtplib login() without starttls(): %s", got)
	}

	// Postfix as a SASL client relaying through mailflow.
	ranPostfix := postfixSASL(t, port)

	// Live removal: the next AUTH fails.
	cliLive(t, "user", "remove", "scanner", "--config", cfg)
	r = swaksAuth(t, front, "127.0.0.5", "--tls", "--auth", "PLAIN", "--auth-user", "scanner", "--auth-password", devicePassword, "--from", "scanner@contoso.com")
	if r.exit == 0 || !strings.Contains(r.out, "535 5.7.8") {
		t.Fatalf("removed user still authenticates: exit %d\n%s", r.exit, r.out)
	}

	p.stop()
	logDir := filepath.Join(dir, "data", "logs")
	var all strings.Builder
	filepath.Walk(logDir, func(path string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(path)
			all.Write(b)
		}
		return nil
	})
	logs := all.String()
	for _, want := range []string{",<,AUTH PLAIN,", ",<,AUTH LOGIN,", ",*,scanner,authenticated", ",AUTH,", "AuthenticatedUser=scanner"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if ranPostfix {
		relayed := false
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, ",RECEIVE,") && strings.Contains(line, ",pf.contoso.test,") && strings.Contains(line, "AuthenticatedUser=scanner") &&
				strings.Contains(line, "someone@fabrikam.example") && strings.Contains(line, "scanner@contoso.com") {
				relayed = true
			}
		}
		if !relayed {
			t.Errorf("tracking log has no RECEIVE of the message Postfix relayed as scanner")
		}
	}
	all.WriteString(p.Stderr())
	code, out, errOut := mailflow(t, "logs", "analyze", "--no-progress", logDir)
	if code > 1 {
		t.Fatalf("logs analyze: exit %d\n%s\n%s", code, out, errOut)
	}
	all.WriteString(out + errOut)
	if !strings.Contains(p.Stderr(), `msg="SMTP AUTH failed" remote_ip=127.0.0.3`) {
		t.Errorf("no fail2ban line for 127.0.0.3 in the server log")
	}
	checkFail2ban(t, p.Stderr(), "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.1")
	for _, secret := range []string{devicePassword, wrongPassword,
		base64.StdEncoding.EncodeToString([]byte(devicePassword)), base64.StdEncoding.EncodeToString([]byte(wrongPassword)),
		base64.StdEncoding.EncodeToString([]byte("\x00scanner\x00" + devicePassword)),
		base64.StdEncoding.EncodeToString([]byte("scanner\x00scanner\x00" + devicePassword))} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("a log or report holds the secret %q", secret)
		}
	}
}

// postfixSASL relays one message through a private Postfix that
// authenticates to mailflow (smtp_sasl_auth_enable, TLS required): with a
// wrong password Postfix logs the 535 and keeps the message; after the
// password map is fixed and the queue flushed, Postfix reports status=sent.
func postfixSASL(t *testing.T, port int) bool {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil {
		if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
			t.Log("postfix not installed: Postfix SASL client part skipped")
			return false
		}
	}
	pwDir := t.TempDir()
	os.Chmod(pwDir, 0o755)
	pwMap := filepath.Join(pwDir, "sasl_passwd")
	relay := "[127.0.0.2]:" + strconv.Itoa(port)
	// First without TLS and with the right password: mailflow does not
	// offer AUTH in clear text, so Postfix cannot log in and MAIL is
	// refused; then TLS required and a wrong password; then the fix.
	testkit.WriteFile(t, pwMap, relay+" scanner:"+devicePassword+"\n")
	pf := testpeer.StartPostfix(t, map[string]string{
		"relayhost":                  relay,
		"relay_domains":              "",
		"defer_transports":           "",
		"smtp_sasl_auth_enable":      "yes",
		"smtp_sasl_password_maps":    "texthash:" + pwMap,
		"smtp_sasl_security_options": "noanonymous",
		"smtp_tls_security_level":    "none",
	})
	pollUntil(t, "Postfix to listen", func() (bool, string) {
		s, err := testkit.Dial(pf.Addr())
		if err != nil {
			return false, err.Error()
		}
		s.Close()
		return true, ""
	})
	r := swaksAuth(t, pf.Addr(), "127.0.0.1", "--from", "scanner@contoso.com")
	if r.exit != 0 {
		t.Fatalf("submitting to Postfix: exit %d\n%s", r.exit, r.out)
	}
	pollUntil(t, "Postfix, without TLS, to be refused for want of AUTH", func() (bool, string) {
		return strings.Contains(pf.Maillog(), "530 5.7.1 Client was not authenticated"), pf.Maillog()
	})
	if strings.Contains(pf.Maillog(), "status=sent") {
		t.Fatalf("Postfix relayed without TLS:\n%s", pf.Maillog())
	}
	testkit.WriteFile(t, pwMap, relay+" scanner:"+wrongPassword+"\n")
	pf.Reconfigure(t, map[string]string{"smtp_tls_security_level": "encrypt"})
	r = swaksAuth(t, pf.Addr(), "127.0.0.1", "--from", "scanner@contoso.com")
	if r.exit != 0 {
		t.Fatalf("submitting to Postfix: exit %d\n%s", r.exit, r.out)
	}
	pollUntil(t, "Postfix to report the refused SASL login", func() (bool, string) {
		return strings.Contains(pf.Maillog(), "SASL authentication failed") && strings.Contains(pf.Maillog(), "535 5.7.8"), pf.Maillog()
	})
	testkit.WriteFile(t, pwMap, relay+" scanner:"+devicePassword+"\n")
	testpeer.Run(t, "postfix", "-c", pf.Dir, "reload")
	testpeer.Run(t, "postqueue", "-c", pf.Dir, "-f")
	pollUntil(t, "Postfix to relay through mailflow (status=sent)", func() (bool, string) {
		if !strings.Contains(pf.Maillog(), "status=sent") {
			testpeer.Run(t, "postqueue", "-c", pf.Dir, "-f")
			return false, pf.Maillog()
		}
		return true, ""
	})
	if strings.Contains(pf.Maillog(), devicePassword) {
		t.Errorf("Postfix's own log holds the password (a test set-up problem)")
	}
	return true
}

// checkFail2ban runs fail2ban-regex with the shipped filter
// (examples/fail2ban/mailflow-auth.conf) over mailflow's log: it must find
// one failure per "SMTP AUTH failed" line, name the attacker addresses the
// test used, and never an address smuggled in through a user name.
func checkFail2ban(t *testing.T, serverLog string, allowed ...string) {
	t.Helper()
	if _, err := exec.LookPath("fail2ban-regex"); err != nil {
		t.Log("fail2ban-regex not installed (CI installs fail2ban): filter check skipped")
		return
	}
	logFile := filepath.Join(t.TempDir(), "mailflow.log")
	if err := os.WriteFile(logFile, []byte(serverLog+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("fail2ban-regex", "-o", "ip", logFile, filepath.Join("..", "examples", "fail2ban", "mailflow-auth.conf")).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	ips := strings.Fields(string(out))
	want := strings.Count(serverLog, `msg="SMTP AUTH failed"`)
	if len(ips) != want || want == 0 {
		t.Errorf("fail2ban matched %d lines, mailflow logged %d failures:\n%s", len(ips), want, out)
	}
	seen := map[string]bool{}
	for _, ip := range ips {
		seen[ip] = true
		if !slices.Contains(allowed, ip) {
			t.Errorf("fail2ban would ban %s, which no client of the test used", ip)
		}
	}
	if !seen[allowed[0]] {
		t.Errorf("fail2ban did not find %s:\n%s", allowed[0], out)
	}
}

// TestBasicAuthInClearRefused: BasicAuth without BasicAuthRequireTLS on a
// range beyond loopback stops `mailflow serve` and fails `mailflow
// connector validate` with the fix; allowed explicitly, the server starts
// and says so loudly.
func TestBasicAuthInClearRefused(t *testing.T) {
	port := testkit.FreePort(t)
	clear := fmt.Sprintf(`  - name: Devices in clear
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["192.0.2.0/24"]
    auth_mechanism: [BasicAuth]
    permission_groups: [ExchangeUsers]
`, port)
	cfg, _ := relayConfig(t, clear)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "serve", "--config", cfg).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serve with BasicAuth in clear text: err %v (context %v), want a refusal\n%s", err, ctx.Err(), out)
	}
	for _, want := range []string{`"Devices in clear" accepts BasicAuth without BasicAuthRequireTLS`, "allow_basic_auth_without_tls: true", "BasicAuthRequireTLS to auth_mechanism"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("refusal lacks %q:\n%s", want, out)
		}
	}
	code, stdout, stderr := mailflow(t, "connector", "validate", "Devices in clear", "--config", cfg)
	if code == 0 || !strings.Contains(stdout+stderr, "allow_basic_auth_without_tls") {
		t.Fatalf("connector validate: exit %d\n%s%s", code, stdout, stderr)
	}

	cfg, _ = relayConfig(t, clear+"    allow_basic_auth_without_tls: true\n")
	if se := serveAndStop(t, cfg); !strings.Contains(se, "CLEAR-TEXT PASSWORDS") || !strings.Contains(se, `\"Devices in clear\"`) {
		t.Errorf("start-up log lacks the clear-text warning:\n%s", se)
	}
}

// TestUserCommandsOffline: without a running server `mailflow user` edits
// users.json itself (0600, argon2id, never the password), refuses bad
// input with the reason, and the server started afterwards accepts the
// user.
func TestUserCommandsOffline(t *testing.T) {
	need(t, "swaks")
	cfg, port := clientFrontendConfig(t)
	dir := filepath.Dir(cfg)
	pw := filepath.Join(dir, "pw")
	testkit.WriteFile(t, pw, devicePassword+"\n")
	code, out, errOut := mailflow(t, "user", "add", "printer", "--password-file", pw, "--send-as", "printer@contoso.com", "--config", cfg)
	if code != 0 || !strings.Contains(errOut, "no running server") || !strings.Contains(out, "added user printer, may send as printer@contoso.com") {
		t.Fatalf("user add offline: exit %d\n%s\n%s", code, out, errOut)
	}
	users := filepath.Join(dir, "data", "users.json")
	st, err := os.Stat(users)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users.json: %v %v", err, st)
	}
	data, _ := os.ReadFile(users)
	if strings.Contains(string(data), devicePassword) || !strings.Contains(string(data), "$argon2id$") {
		t.Fatalf("users.json:\n%s", data)
	}
	for _, bad := range [][]string{
		{"user", "add", "printer", "--password-file", pw, "--config", cfg},
		{"user", "add", "bad name", "--password-file", pw, "--config", cfg},
		{"user", "add", "x", "--config", cfg},
		{"user", "add", "y", "--password-file", pw, "--send-as", "nodomain", "--config", cfg},
		{"user", "remove", "nobody", "--config", cfg},
	} {
		if code, out, errOut := mailflow(t, bad...); code == 0 {
			t.Errorf("mailflow %v succeeded:\n%s%s", bad, out, errOut)
		}
	}
	code, out, _ = mailflow(t, "user", "list", "--json", "--config", cfg)
	if code != 0 || !strings.Contains(out, `"name": "printer"`) || strings.Contains(out, "argon2") {
		t.Fatalf("user list --json: exit %d\n%s", code, out)
	}
	p := startServe(t, cfg)
	front := "127.0.0.2:" + strconv.Itoa(port)
	r := swaksAuth(t, front, "127.0.0.3", "--tls", "--auth", "LOGIN", "--auth-user", "printer", "--auth-password", devicePassword, "--from", "printer@contoso.com")
	if r.exit != 0 || !strings.Contains(r.out, "235 2.7.0") {
		t.Fatalf("user added offline cannot log in: exit %d\n%s", r.exit, r.out)
	}
	r = swaksAuth(t, front, "127.0.0.3", "--tls", "--auth", "LOGIN", "--auth-user", "printer", "--auth-password", devicePassword, "--from", "ceo@contoso.com")
	if r.exit == 0 || !strings.Contains(r.out, "550 5.7.60 SMTP; Client does not have permissions to send as this sender") {
		t.Fatalf("SendAs not enforced: exit %d\n%s", r.exit, r.out)
	}
	p.stop()
}

// bruteForceScript tries 200 wrong passwords with smtplib from one
// address, reconnecting whenever the server closes, and prints how each
// attempt was answered: a JSON object {reply code: count}.
const bruteForceScript = `
import json, smtplib, sys
port, source = int(sys.argv[1]), sys.argv[2]
counts, s = {}, None
for i in range(200):
    if s is None:
        s = smtplib.SMTP("127.0.0.2", port, source_address=(source, 0), timeout=60)
        s.ehlo("attacker.example"); s.starttls(); s.ehlo("attacker.example")
    try:
        s.login("scanner", "guess-%d" % i)
        counts["235"] = counts.get("235", 0) + 1
    except smtplib.SMTPAuthenticationError as e:
        counts[str(e.smtp_code)] = counts.get(str(e.smtp_code), 0) + 1
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException) as e:
        counts["closed"] = counts.get("closed", 0) + 1
        s = None
        continue
print(json.dumps(counts))
`

// TestBruteForceWithRealClients: against the real binary, 200 wrong
// passwords for scanner from 127.0.0.4 are slowed down and then locked
// out (454 4.7.0), while scanner keeps logging in from 127.0.0.3 — where
// it logged in before — during the attack and after it.
func TestBruteForceWithRealClients(t *testing.T) {
	need(t, "python3")
	cfg, port := clientFrontendConfig(t)
	p := startServe(t, cfg)
	awaitAdmin(t, cfg)
	pw := filepath.Join(filepath.Dir(cfg), "pw")
	testkit.WriteFile(t, pw, devicePassword+"\n")
	cliLive(t, "user", "add", "scanner", "--password-file", pw, "--config", cfg)
	if got := pyAuth(t, port, "127.0.0.3", true, "scanner", devicePassword); !strings.HasPrefix(got, "SENT 235") {
		t.Fatalf("before the attack: %s", got)
	}
	attack := exec.Command("python3", "-c", bruteForceScript, strconv.Itoa(port), "127.0.0.4")
	var out strings.Builder
	attack.Stdout, attack.Stderr = &out, &out
	if err := attack.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- attack.Wait() }()
	// Served during the attack: as soon as the attacker is locked out,
	// and until the attack ends.
	pollUntil(t, "the attacker's lock-out", func() (bool, string) {
		return strings.Contains(p.Stderr(), "SMTP AUTH lock-out: client address locked"), ""
	})
	served := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("brute-force client: %v\n%s", err, out.String())
			}
			running = false
		default:
		}
		if got := pyAuth(t, port, "127.0.0.3", true, "scanner", devicePassword); !strings.HasPrefix(got, "SENT 235") {
			t.Fatalf("the right user from 127.0.0.3 was refused during the attack: %s", got)
		}
		served++
	}
	var counts map[string]int
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &counts); err != nil {
		t.Fatalf("brute-force output: %v\n%s", err, out.String())
	}
	if counts["235"] != 0 || counts["454"] < 150 || counts["535"] == 0 || counts["535"] > 20 {
		t.Fatalf("attacker's replies %v: want a few 535, then 454 lock-out, never 235", counts)
	}
	if got := pyAuth(t, port, "127.0.0.4", true, "scanner", devicePassword); !strings.HasPrefix(got, "AUTHFAILED 454") {
		t.Errorf("the locked-out address logged in with the right password: %s", got)
	}
	t.Logf("attacker: %v; the right user was served %d time(s) during the attack", counts, served)
	p.stop()
	if strings.Contains(p.Stderr(), devicePassword) {
		t.Error("the server log holds the password")
	}
}
