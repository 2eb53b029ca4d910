package send

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailflow/internal/certs"
	"mailflow/internal/tlscheck"
)

// postfixInstance is a private Postfix (recipe in reference/peers.md) that
// receives on 127.0.0.1 and keeps what it accepts in its queue
// (defer_transports), so a test can read each message back with postcat.
type postfixInstance struct {
	dir  string // config directory
	base string
	port int
}

// maillog returns Postfix's log, for failure messages.
func (p *postfixInstance) maillog() string {
	b, _ := os.ReadFile(filepath.Join(p.base, "maillog"))
	return string(b)
}

// startPostfix runs a private Postfix receiver with extra main.cf settings.
// It skips the test when Postfix is not installed or we are not root.
func startPostfix(t *testing.T, extra map[string]string) *postfixInstance {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil {
		if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
			t.Skip("postfix is not installed: install the postfix package (CI does) to run the Postfix integration test")
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("a private Postfix instance needs root (postfix start); run as root or in CI")
	}
	base := t.TempDir()
	// The postfix user must reach its queue below the test's directories.
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	etc := filepath.Join(base, "etc")
	data := filepath.Join(base, "data")
	for _, d := range []string{etc, data, filepath.Join(base, "spool")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "chown", "postfix", data)
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Skipf("postfix is installed but %v", err)
	}
	port := freeLoopbackPort(t)
	// Listen on our port instead of 25, without chroot.
	smtpLine := regexp.MustCompile(`(?m)^smtp\s+inet\s.*$`)
	if !smtpLine.Match(master) {
		t.Fatal("master.cf has no smtp inet line to replace")
	}
	master = smtpLine.ReplaceAll(master, []byte("127.0.0.1:"+strconv.Itoa(port)+" inet n - n - - smtpd"))
	if err := os.WriteFile(filepath.Join(etc, "master.cf"), master, 0o644); err != nil {
		t.Fatal(err)
	}
	// A minimal main.cf: main.cf.proto's empty placeholders (sendmail_path
	// = …) are fatal errors.
	if err := os.WriteFile(filepath.Join(etc, "main.cf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{
		"queue_directory": filepath.Join(base, "spool"), "data_directory": data,
		"setgid_group": "postdrop", "mail_owner": "postfix", "compatibility_level": "3.6",
		"shlib_directory": "/usr/lib/postfix", "meta_directory": "/etc/postfix",
		"inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4", "myhostname": "pf.contoso.test",
		"mydestination": "", "mynetworks": "127.0.0.0/8", "relay_domains": "contoso.com",
		"defer_transports": "smtp,relay", "alias_maps": "", "alias_database": "",
		"maillog_file": filepath.Join(base, "maillog"), "maillog_file_prefixes": "/var,/tmp," + base,
		"smtpd_tls_received_header": "yes",
	}
	for k, v := range extra {
		settings[k] = v
	}
	args := []string{"-c", etc, "-e"}
	for k, v := range settings {
		args = append(args, k+"="+v)
	}
	run(t, "postconf", args...)
	inst := &postfixInstance{dir: etc, base: base, port: port}
	if out, err := exec.Command("postfix", "-c", etc, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(base, "maillog"))
		t.Fatalf("postfix start: %v\n%s\nmaillog:\n%s", err, out, log)
	}
	t.Cleanup(func() {
		exec.Command("postsuper", "-c", etc, "-d", "ALL").Run()
		exec.Command("postfix", "-c", etc, "stop").Run()
	})
	return inst
}

// message returns the queue file of the message a 250 reply named.
func (p *postfixInstance) message(t *testing.T, status string) string {
	t.Helper()
	m := regexp.MustCompile(`queued as ([0-9A-Za-z]+)`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("no queue id in %q", status)
	}
	out, err := exec.Command("postcat", "-c", p.dir, "-q", m[1]).CombinedOutput()
	if err != nil {
		t.Fatalf("postcat %s: %v\n%s", m[1], err, out)
	}
	return string(out)
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestPostfixReceiver delivers to a real Postfix that requires TLS and a
// trusted client certificate (domain security): Postfix, not our own code,
// judges our STARTTLS, our certificate and our DATA framing.
func TestPostfixReceiver(t *testing.T) {
	p := testPKI(t)
	dir := t.TempDir()
	// smtpd_tls_chain_files wants the key before its certificates.
	key := filepath.Join(dir, "server.key")
	chain := filepath.Join(dir, "server.crt")
	ca := filepath.Join(dir, "ca.pem")
	der, err := x509.MarshalPKCS8PrivateKey(p.server.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteCertPEM(chain, p.server); err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteCertPEM(ca, p.root); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pf := startPostfix(t, map[string]string{
		"smtpd_tls_security_level": "encrypt",
		"smtpd_tls_chain_files":    key + "," + chain,
		"smtpd_tls_ask_ccert":      "yes",
		"smtpd_tls_req_ccert":      "yes",
		"smtpd_tls_CAfile":         ca,
	})
	dns := &fakeDNS{hosts: map[string][]string{"mail.contoso.com": {"127.0.0.1"}}}
	c := contosoConnector(pf.port)
	c.Log = false
	c.CommandTimeout = 30 * time.Second
	s := &Sender{Store: certs.NewStore(p.client), Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: dns}

	m := message("user@contoso.com")
	m.Body = BytesBody([]byte("From: sender@fabrikam.com\nSubject: postfix test\n\n.leading dot\nbare CR\rline\nlast\n"))
	r := s.Send(context.Background(), c, m)[0]
	if r.Outcome != Delivered {
		t.Fatalf("result = %+v\nmaillog:\n%s", r, pf.maillog())
	}
	if r.TLS == nil || r.TLS.ClientCertificate == nil || !r.TLS.Verdict.OK {
		t.Errorf("TLS = %+v", r.TLS)
	}
	queued := pf.message(t, r.Status)
	for _, want := range []string{
		"sender: sender@fabrikam.com", "recipient: user@contoso.com",
		"(Client CN \"mail.fabrikam.com\", Issuer \"Lab Root CA\" (verified OK))",
		"helo_name=mail.fabrikam.com",
		"\n.leading dot\nbare CR\nline\nlast\n",
	} {
		if !strings.Contains(queued, want) {
			t.Errorf("queued message lacks %q:\n%s", want, queued)
		}
	}

	// Without a client certificate Postfix answers EHLO under TLS with
	// "421 4.7.1 … No client certificate presented": never delivered.
	s.Store = nil
	r = s.Send(context.Background(), c, message("user@contoso.com"))[0]
	if r.Outcome != Deferred || !strings.Contains(r.Detail, "421 4.7.1") {
		t.Errorf("without a client certificate: %+v", r)
	}
	t.Logf("without a client certificate Postfix gave: %s", r.Detail)

	// Postfix's certificate does not hold the expected name: 4.7.320.
	s.Store = certs.NewStore(p.client)
	c.TLSDomain = "mail.other.example"
	r = s.Send(context.Background(), c, message("user@contoso.com"))[0]
	if r.Outcome != Deferred || r.Status != StatusCertificate || r.Reason != string(tlscheck.SubjectMismatch) {
		t.Errorf("mismatch: %+v", r)
	}
}
