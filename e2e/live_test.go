package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// liveConfig is an on-premises configuration with the admin API on a
// loopback port, so the CLI finds the running server.
func liveConfig(t *testing.T) (cfg, smtpAddr string, pki *labpki.PKI) {
	t.Helper()
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	port, adminPort := testkit.FreePort(t), testkit.FreePort(t)
	cfg = filepath.Join(dir, "onprem.yaml")
	testkit.WriteFile(t, cfg, "# live change e2e\n"+testkit.LabOnPrem+
		fmt.Sprintf("admin:\n  listen: 127.0.0.1:%d\n", adminPort)+
		testkit.DefaultFrontend(port, pki.Server1.Name()))
	return cfg, fmt.Sprintf("127.0.0.1:%d", port), pki
}

// heldMessage is the message held sessions complete.
const heldMessage = "Subject: held\r\n\r\nhello\r\n"

// holdSessions opens n sessions mid-transaction.
func holdSessions(t *testing.T, addr string, n int) []*testkit.Session {
	t.Helper()
	out := make([]*testkit.Session, 0, n)
	t.Cleanup(func() {
		for _, h := range out {
			h.Close()
		}
	})
	for range n {
		h, err := testkit.DialTLS(addr)
		if err != nil {
			t.Fatalf("hold a session: %v", err)
		}
		out = append(out, h)
		if _, err := h.Mail("sender@tenant.example", nil); err != nil {
			t.Fatalf("hold a session: MAIL: %v", err)
		}
	}
	return out
}

// finishAll completes the held sessions concurrently and checks each got
// 250 over the certificate it negotiated before the change.
func finishAll(t *testing.T, held []*testkit.Session, want string) {
	t.Helper()
	type result struct {
		code int
		err  error
		tp   string
	}
	results := make(chan result, len(held))
	for _, h := range held {
		go func() {
			defer h.Quit()
			code, err := h.Finish("user@contoso.com", heldMessage)
			results <- result{code, err, h.Thumbprint}
		}()
	}
	for range held {
		r := <-results
		if r.code != 250 || r.err != nil {
			t.Errorf("held session across the change: %d %v", r.code, r.err)
		}
		if r.tp != want {
			t.Errorf("held session negotiated %s, want %s", r.tp, want)
		}
	}
}

var lineRef = func(cfg string) *regexp.Regexp {
	return regexp.MustCompile(regexp.QuoteMeta(cfg) + `:\d+: `)
}

// Live changes of the real binary, each with sessions held open across
// it: `mailflow connector set` against the running server, a file edit
// with SIGHUP, `mailflow cert import` of a renewal. Invalid changes (CLI
// and SIGHUP) are refused with file, line, key and fix and change
// nothing; the server keeps running on its configuration.
func TestLiveChangesOfTheRunningBinary(t *testing.T) {
	cfg, addr, pki := liveConfig(t)
	p := startServe(t, cfg)
	a, b := pki.Server1, pki.Contoso
	if got := testkit.Presented(t, addr); got != a.Thumbprint {
		t.Fatalf("at start the connector presents %s, want SERVER1 %s", got, a.Thumbprint)
	}

	// 1. `mailflow connector set` reaches the running server.
	held := holdSessions(t, addr, 10)
	code, out, errOut := mailflow(t, "connector", "set", "Default Frontend SERVER1", "--config", cfg, "--tls-certificate-name", b.Name())
	if code != 0 || !strings.Contains(out, "applied live") {
		t.Fatalf("connector set: exit %d\n%s%s", code, out, errOut)
	}
	if got := testkit.Presented(t, addr); got != b.Thumbprint {
		t.Fatalf("after connector set new sessions get %s, want mail.contoso.com %s", got, b.Thumbprint)
	}
	finishAll(t, held, a.Thumbprint)

	// 2. Invalid changes through the CLI: refused, file byte-identical,
	// live certificate unchanged.
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		key  string
	}{
		{"pin matching nothing", []string{"--tls-certificate-name", "<I>CN=Nobody CA<S>CN=nobody.contoso.com"}, "receive_connectors[0].tls_certificate_name"},
		{"bad range", []string{"--remote-ip-ranges", "10.0.0.0/33"}, "receive_connectors[0].remote_ip_ranges[0]"},
		{"unknown key", []string{"--unset", "tls-certificat-name"}, "receive_connectors[0].tls_certificat_name"},
	} {
		args := append([]string{"connector", "set", "Default Frontend SERVER1", "--config", cfg}, tt.args...)
		code, out, errOut := mailflow(t, args...)
		if code == 0 {
			t.Fatalf("%s: accepted\n%s", tt.name, out)
		}
		if !lineRef(cfg).MatchString(errOut) || !strings.Contains(errOut, tt.key+": ") || !strings.Contains(errOut, "Fix: ") {
			t.Errorf("%s: the refusal does not name file:line, %s and a fix:\n%s", tt.name, tt.key, errOut)
		}
		if now, _ := os.ReadFile(cfg); !bytes.Equal(now, good) {
			t.Fatalf("%s: refused change modified the file", tt.name)
		}
		if got := testkit.Presented(t, addr); got != b.Thumbprint {
			t.Fatalf("%s: after the refusal new sessions get %s", tt.name, got)
		}
	}

	// 3. Edit the file and SIGHUP: back to SERVER1.
	held = holdSessions(t, addr, 10)
	mark := p.mark()
	testkit.WriteFile(t, cfg, strings.Replace(string(good), b.Name(), a.Name(), 1))
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, mark, 30*time.Second, "configuration applied")
	if got := testkit.Presented(t, addr); got != a.Thumbprint {
		t.Fatalf("after SIGHUP new sessions get %s, want SERVER1 %s", got, a.Thumbprint)
	}
	finishAll(t, held, b.Thumbprint)

	// 4. SIGHUP with an invalid file: logged with file:line, the running
	// configuration stays, the server keeps serving.
	valid, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	held = holdSessions(t, addr, 3)
	mark = p.mark()
	testkit.WriteFile(t, cfg, strings.Replace(string(valid), a.Name(), "<I>CN=Nobody CA<S>CN=nobody.contoso.com", 1))
	p.signal(t, syscall.SIGHUP)
	line := p.waitLog(t, mark, 30*time.Second, "configuration refused")
	if !lineRef(cfg).MatchString(line) || !strings.Contains(line, "receive_connectors[0].tls_certificate_name") || !strings.Contains(line, "Fix: ") {
		t.Fatalf("the refusal is not logged with file:line, key and fix:\n%s", line)
	}
	if got := testkit.Presented(t, addr); got != a.Thumbprint {
		t.Fatalf("after an invalid SIGHUP new sessions get %s, want the running SERVER1 %s", got, a.Thumbprint)
	}
	finishAll(t, held, a.Thumbprint)
	select {
	case <-p.exited:
		t.Fatal("mailflow exited after an invalid SIGHUP")
	default:
	}
	testkit.WriteFile(t, cfg, string(valid))

	// 5. Certificates through the CLI: removing the pinned certificate is
	// refused; after pinning mail.contoso.com, its renewal imported live is
	// presented without re-pinning.
	code, _, errOut = mailflow(t, "cert", "remove", a.Thumbprint, "--config", cfg)
	if code == 0 || !strings.Contains(errOut, "receive_connectors[0].tls_certificate_name") {
		t.Fatalf("cert remove of the pinned certificate: exit %d\n%s", code, errOut)
	}
	if now, _ := os.ReadFile(cfg); !bytes.Equal(now, valid) {
		t.Fatal("refused removal modified the file")
	}
	if code, out, errOut := mailflow(t, "connector", "set", "Default Frontend SERVER1", "--config", cfg, "--tls-certificate-name", b.Name()); code != 0 {
		t.Fatalf("pin mail.contoso.com: exit %d\n%s%s", code, out, errOut)
	}
	held = holdSessions(t, addr, 5)
	code, out, errOut = mailflow(t, "cert", "import", pki.RenewedFile, "--config", cfg)
	if code != 0 || !strings.Contains(out, pki.Renewed.Thumbprint) || !strings.Contains(out, "applied live") {
		t.Fatalf("cert import: exit %d\n%s%s", code, out, errOut)
	}
	if got := testkit.Presented(t, addr); got != pki.Renewed.Thumbprint {
		t.Fatalf("after importing the renewal new sessions get %s, want %s", got, pki.Renewed.Thumbprint)
	}
	finishAll(t, held, b.Thumbprint)
	if code, out, errOut := mailflow(t, "cert", "remove", a.Thumbprint, "--config", cfg); code != 0 {
		t.Fatalf("cert remove of the no longer pinned SERVER1: exit %d\n%s%s", code, out, errOut)
	}
}
