// Package testpeer owns test support for running real third-party mail
// servers as peers on loopback, so integration tests of different packages
// (the send connectors, the probe) are judged by an implementation nobody
// here wrote. It starts a private Postfix instance following the recipe in
// the project's reference notes (reference/peers.md): its own configuration
// directory, queue and log, listening on 127.0.0.1 only, never port 25.
//
// It is imported by tests only; production code must not depend on it.
package testpeer

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// Postfix is a private Postfix instance started by StartPostfix.
type Postfix struct {
	Dir  string // configuration directory (postfix -c Dir)
	Base string // instance root: spool, data, maillog
	Port int    // smtpd listens on 127.0.0.1:Port
}

// Addr is "127.0.0.1:port".
func (p *Postfix) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)) }

// Maillog returns Postfix's log, for failure messages.
func (p *Postfix) Maillog() string {
	b, _ := os.ReadFile(filepath.Join(p.Base, "maillog"))
	return string(b)
}

// StartPostfix runs a private Postfix receiver on 127.0.0.1 with extra
// main.cf settings; it keeps what it accepts in its queue
// (defer_transports), so a test can read each message back with Message.
// It skips the test when Postfix is not installed or the test does not run
// as root (postfix start needs it), and stops the instance at cleanup.
func StartPostfix(t testing.TB, extra map[string]string) *Postfix {
	t.Helper()
	return startPostfix(t, extra, "")
}

// StartPostfixResolving is StartPostfix for an instance that resolves
// through its own resolv.conf: Postfix resolves through libc, which reads
// /etc/resolv.conf only, so the instance is started inside a private mount
// namespace where resolvConf is bind-mounted over /etc/resolv.conf, with
// chroot off for every service (a chrooted smtp would read the copy in its
// queue directory instead). Its children inherit the namespace; the rest of
// the machine is untouched. The DANE sender test uses it to point Postfix
// at a validating unbound on loopback.
func StartPostfixResolving(t testing.TB, extra map[string]string, resolvConf string) *Postfix {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed: needed to give Postfix its own resolv.conf")
	}
	return startPostfix(t, extra, resolvConf)
}

func startPostfix(t testing.TB, extra map[string]string, resolvConf string) *Postfix {
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
	Run(t, "chown", "postfix", data)
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Skipf("postfix is installed but %v", err)
	}
	port := testkit.FreePort(t)
	// Listen on our port instead of 25, without chroot.
	smtpLine := regexp.MustCompile(`(?m)^smtp\s+inet\s.*$`)
	if !smtpLine.Match(master) {
		t.Fatal("master.cf has no smtp inet line to replace")
	}
	master = smtpLine.ReplaceAll(master, []byte("127.0.0.1:"+strconv.Itoa(port)+" inet n - n - - smtpd"))
	if resolvConf != "" {
		// Column 5 (chroot) of every service: n.
		chroot := regexp.MustCompile(`(?m)^(\S+\s+(?:inet|unix|unix-dgram|fifo|pass)\s+\S+\s+\S+\s+)y(\s)`)
		master = chroot.ReplaceAll(master, []byte("${1}n${2}"))
	}
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
	if resolvConf == "" {
		// Without its own resolv.conf the instance would ask the
		// machine's resolver (which may be on the local network) for the
		// name of every client not in /etc/hosts: tests stay on loopback.
		settings["smtpd_peername_lookup"] = "no"
	}
	for k, v := range extra {
		settings[k] = v
	}
	args := []string{"-c", etc, "-e"}
	for k, v := range settings {
		args = append(args, k+"="+v)
	}
	Run(t, "postconf", args...)
	inst := &Postfix{Dir: etc, Base: base, Port: port}
	start := exec.Command("postfix", "-c", etc, "start")
	if resolvConf != "" {
		start = exec.Command("unshare", "-m", "sh", "-c", `mount --bind "$1" /etc/resolv.conf && exec postfix -c "$2" start`, "sh", resolvConf, etc)
	}
	if out, err := start.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(base, "maillog"))
		t.Fatalf("postfix start: %v\n%s\nmaillog:\n%s", err, out, log)
	}
	t.Cleanup(func() {
		exec.Command("postsuper", "-c", etc, "-d", "ALL").Run()
		exec.Command("postfix", "-c", etc, "stop").Run()
	})
	return inst
}

// Message returns the queue file (postcat) of the message a 250 reply named
// ("250 2.0.0 Ok: queued as 4Xyz…").
func (p *Postfix) Message(t testing.TB, status string) string {
	t.Helper()
	m := regexp.MustCompile(`queued as ([0-9A-Za-z]+)`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("no queue id in %q", status)
	}
	out, err := exec.Command("postcat", "-c", p.Dir, "-q", m[1]).CombinedOutput()
	if err != nil {
		t.Fatalf("postcat %s: %v\n%s", m[1], err, out)
	}
	return string(out)
}

// Run runs a command and fails the test with its output when it fails.
func Run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// WriteChainFiles writes c's private key and its chain as two PEM files in
// dir (name.key, name.crt), in the order Postfix's smtpd_tls_chain_files and
// smtp_tls_chain_files want them: key first, then the certificates.
func WriteChainFiles(t testing.TB, dir, name string, c *certs.Certificate) (keyFile, chainFile string) {
	t.Helper()
	keyFile = filepath.Join(dir, name+".key")
	chainFile = filepath.Join(dir, name+".crt")
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatalf("testpeer: key of %s: %v", c.Subject, err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteCertPEM(chainFile, c); err != nil {
		t.Fatal(err)
	}
	// Postfix reads them as its own user after dropping privileges.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return keyFile, chainFile
}
