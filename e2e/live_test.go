package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailflow/internal/certs"
	"mailflow/internal/lab"
	"mailflow/internal/smtp"
)

// liveProc is a running `mailflow serve` whose stderr (the log) is read
// line by line while it runs, so a test can wait for what it logs.
type liveProc struct {
	cmd    *exec.Cmd
	exited chan struct{}

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every new line
}

// startLive runs `mailflow serve --config cfg` and returns once the admin
// API is up (the last line serve prints when ready).
func startLive(t *testing.T, cfg string) *liveProc {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--config", cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &liveProc{cmd: cmd, exited: make(chan struct{}), changed: make(chan struct{})}
	ready := make(chan bool, 1)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if !sent && strings.Contains(sc.Text(), "admin API on") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	go func() {
		// Wait only once the pipes are drained (os/exec's rule).
		readers.Wait()
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("mailflow log:\n%s", p.log())
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			<-p.exited
			t.Fatalf("mailflow serve exited before it was ready:\n%s", p.log())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("mailflow serve not ready within 60s:\n%s", p.log())
	}
	return p
}

func (p *liveProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// mark is the number of log lines so far; waitLog looks only after it.
func (p *liveProc) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// waitLog waits for a log line after mark that contains every part.
func (p *liveProc) waitLog(t *testing.T, mark int, within time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for _, l := range p.lines[min(mark, len(p.lines)):] {
			all := true
			for _, part := range parts {
				all = all && strings.Contains(l, part)
			}
			if all {
				p.mu.Unlock()
				return l
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.exited:
			t.Fatalf("mailflow exited while waiting for a log line with %q", parts)
		case <-deadline.C:
			t.Fatalf("no log line with %q within %v", parts, within)
		}
	}
}

func (p *liveProc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

func (p *liveProc) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("mailflow did not stop within 30s of SIGINT; killing it")
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// liveConfig is an on-premises configuration with the admin API on a
// loopback port, so the CLI finds the running server.
func liveConfig(t *testing.T) (cfg, smtpAddr string, pki *lab.PKI) {
	t.Helper()
	dir := t.TempDir()
	pki, err := lab.NewPKI(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	port, adminPort := freePort(t), freePort(t)
	cfg = filepath.Join(dir, "onprem.yaml")
	writeFile(t, cfg, fmt.Sprintf(`# live change e2e
server:
  name: SERVER1
  fqdn: server1.contoso.local
  data_dir: ./data
accepted_domains: [contoso.com]
trust:
  ca_files: [certs/lab-ca.pem]
  system_roots: false
certificates:
  - file: certs/server1-selfsigned.pem
  - file: certs/mail-contoso.pfx
    password_file: certs/mail-contoso.pass
admin:
  listen: 127.0.0.1:%d
receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
    fqdn: server1.contoso.local
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    tls_certificate_name: "%s"
`, adminPort, port, pki.Server1.Name()))
	return cfg, fmt.Sprintf("127.0.0.1:%d", port), pki
}

// mailflow runs the CLI and returns its exit code, stdout and stderr.
func mailflow(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("mailflow %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// heldSession is an SMTP session opened and taken to MAIL FROM, then held.
type heldSession struct {
	c          *smtp.Client
	thumbprint string
}

func openHeld(addr string, mail bool) (*heldSession, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClient(conn, smtp.ClientOptions{Timeout: 20 * time.Second})
	fail := func(step string, err error) (*heldSession, error) {
		c.Close()
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	if _, err := c.Greeting(); err != nil {
		return fail("greeting", err)
	}
	if _, err := c.Hello("client.test"); err != nil {
		return fail("EHLO", err)
	}
	cs, err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}) // the test compares thumbprints
	if err != nil {
		return fail("STARTTLS", err)
	}
	if _, err := c.Hello("client.test"); err != nil {
		return fail("EHLO after STARTTLS", err)
	}
	if mail {
		if _, err := c.Mail("sender@tenant.example", nil); err != nil {
			return fail("MAIL", err)
		}
	}
	return &heldSession{c: c, thumbprint: certs.Thumbprint(cs.PeerCertificates[0].Raw)}, nil
}

// finish sends RCPT and DATA and returns the DATA reply code.
func (h *heldSession) finish() (int, error) {
	defer h.c.Quit()
	if _, err := h.c.Rcpt("user@contoso.com"); err != nil {
		return 0, err
	}
	r, err := h.c.Data(strings.NewReader("Subject: held\r\n\r\nhello\r\n"))
	return r.Code, err
}

func presented(t *testing.T, addr string) string {
	t.Helper()
	h, err := openHeld(addr, false)
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	h.c.Quit()
	return h.thumbprint
}

// holdSessions opens n sessions mid-transaction.
func holdSessions(t *testing.T, addr string, n int) []*heldSession {
	t.Helper()
	out := make([]*heldSession, 0, n)
	for range n {
		h, err := openHeld(addr, true)
		if err != nil {
			t.Fatalf("hold a session: %v", err)
		}
		out = append(out, h)
	}
	t.Cleanup(func() {
		for _, h := range out {
			h.c.Close()
		}
	})
	return out
}

// finishAll completes the held sessions concurrently and checks each got
// 250 over the certificate it negotiated before the change.
func finishAll(t *testing.T, held []*heldSession, want string) {
	t.Helper()
	type result struct {
		code int
		err  error
		tp   string
	}
	results := make(chan result, len(held))
	for _, h := range held {
		go func() {
			code, err := h.finish()
			results <- result{code, err, h.thumbprint}
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
	p := startLive(t, cfg)
	a, b := pki.Server1, pki.Contoso
	if got := presented(t, addr); got != a.Thumbprint {
		t.Fatalf("at start the connector presents %s, want SERVER1 %s", got, a.Thumbprint)
	}

	// 1. `mailflow connector set` reaches the running server.
	held := holdSessions(t, addr, 10)
	code, out, errOut := mailflow(t, "connector", "set", "Default Frontend SERVER1", "--config", cfg, "--tls-certificate-name", b.Name())
	if code != 0 || !strings.Contains(out, "applied live") {
		t.Fatalf("connector set: exit %d\n%s%s", code, out, errOut)
	}
	if got := presented(t, addr); got != b.Thumbprint {
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
		if got := presented(t, addr); got != b.Thumbprint {
			t.Fatalf("%s: after the refusal new sessions get %s", tt.name, got)
		}
	}

	// 3. Edit the file and SIGHUP: back to SERVER1.
	held = holdSessions(t, addr, 10)
	mark := p.mark()
	writeFile(t, cfg, strings.Replace(string(good), b.Name(), a.Name(), 1))
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, mark, 30*time.Second, "configuration applied")
	if got := presented(t, addr); got != a.Thumbprint {
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
	writeFile(t, cfg, strings.Replace(string(valid), a.Name(), "<I>CN=Nobody CA<S>CN=nobody.contoso.com", 1))
	p.signal(t, syscall.SIGHUP)
	line := p.waitLog(t, mark, 30*time.Second, "configuration refused")
	if !lineRef(cfg).MatchString(line) || !strings.Contains(line, "receive_connectors[0].tls_certificate_name") || !strings.Contains(line, "Fix: ") {
		t.Fatalf("the refusal is not logged with file:line, key and fix:\n%s", line)
	}
	if got := presented(t, addr); got != a.Thumbprint {
		t.Fatalf("after an invalid SIGHUP new sessions get %s, want the running SERVER1 %s", got, a.Thumbprint)
	}
	finishAll(t, held, a.Thumbprint)
	select {
	case <-p.exited:
		t.Fatal("mailflow exited after an invalid SIGHUP")
	default:
	}
	writeFile(t, cfg, string(valid))

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
	if got := presented(t, addr); got != pki.Renewed.Thumbprint {
		t.Fatalf("after importing the renewal new sessions get %s, want %s", got, pki.Renewed.Thumbprint)
	}
	finishAll(t, held, b.Thumbprint)
	if code, out, errOut := mailflow(t, "cert", "remove", a.Thumbprint, "--config", cfg); code != 0 {
		t.Fatalf("cert remove of the no longer pinned SERVER1: exit %d\n%s%s", code, out, errOut)
	}
}
