package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/testkit/dnsstack"
	"github.com/mailflowhq/mailflow/internal/testpeer"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// TestPostfixDANESender proves that what `mailflow cert tlsa` prints is what
// a real DANE sender checks: a private Postfix with
// smtp_tls_security_level = dane and smtp_dns_support_level = dnssec,
// resolving through a validating unbound over a zone signed with
// ldns-signzone, defers mail to mailflow while the published TLSA record
// names another key ("no matching DANE TLSA records"), and delivers —
// "Verified TLS connection" — once the record mailflow printed is
// published.
func TestPostfixDANESender(t *testing.T) {
	need(t, "postfix", "unshare", "nsd", "unbound", "ldns-signzone", "openssl")
	if os.Geteuid() != 0 {
		t.Skip("Postfix in a private mount namespace needs root")
	}
	dir := t.TempDir()

	// mailflow, the receiver: mx.dane.test on 127.0.0.2 (Postfix refuses to
	// relay to an address it listens on itself), a self-signed certificate
	// — DANE-EE needs no CA.
	now := time.Now()
	cert, err := certs.Generate(certs.Template{Subject: "CN=mx.dane.test", SANs: []string{"mx.dane.test"}, KeyType: "ecdsa-p256",
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.WritePEM(filepath.Join(dir, "mx.pem"), cert); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	cfg := filepath.Join(dir, "mx.yaml")
	testkit.WriteFile(t, cfg, fmt.Sprintf(`server:
  name: MX1
  fqdn: mx.dane.test
  data_dir: ./data
accepted_domains: [dane.test]
certificates:
  - file: mx.pem
receive_connectors:
  - name: Default Frontend MX1
    bindings: ["127.0.0.2:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
    fqdn: mx.dane.test
admin:
  listen: 127.0.0.1:%d
`, port, testkit.FreePort(t)))

	code, out, errOut := mailflow(t, "cert", "tlsa", "--config", cfg)
	if code != 0 {
		t.Fatalf("cert tlsa: exit %d\n%s%s", code, out, errOut)
	}
	printed := strings.TrimSpace(out)
	owner := fmt.Sprintf("_%d._tcp.mx.dane.test.", port)
	if !strings.HasPrefix(printed, owner+" IN TLSA 3 1 1 ") || strings.Count(printed, "\n") != 0 {
		t.Fatalf("cert tlsa printed %q; want one %s IN TLSA 3 1 1 line", printed, owner)
	}
	startServe(t, cfg)

	// openssl, another independent DANE implementation, checks the printed
	// record against what mailflow presents.
	rrdata := strings.TrimPrefix(printed, owner+" IN TLSA ")
	sc := exec.Command("openssl", "s_client", "-starttls", "smtp", "-connect", fmt.Sprintf("127.0.0.2:%d", port),
		"-dane_tlsa_domain", "mx.dane.test", "-dane_tlsa_rrdata", rrdata)
	sc.Stdin = strings.NewReader("QUIT\r\n")
	so, _ := sc.CombinedOutput()
	if !strings.Contains(string(so), "Verification: OK") || !strings.Contains(string(so), "DANE TLSA 3 1 1") {
		t.Fatalf("openssl s_client -dane_tlsa_rrdata %q does not verify mailflow's certificate:\n%s", rrdata, so)
	}

	// The DNS: a signed zone whose TLSA names an older key, served by nsd,
	// validated by unbound on port 53 of a loopback address of its own
	// (libc knows no other port).
	old, err := certs.Generate(certs.Template{Subject: "CN=mx.dane.test", KeyType: "ecdsa-p256", NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	oldRec, _ := tlscheck.RecordFor(old.Leaf, 3, 1, 1)
	zone := func(tlsaLine string) dnsstack.Zone {
		return dnsstack.Zone{Name: "dane.test", Signed: true, Records: []string{
			"dane.test. 2 IN MX 10 mx.dane.test.", "mx.dane.test. 2 IN A 127.0.0.2", tlsaLine}}
	}
	resolverIP := freeDNSAddress(t)
	st := dnsstack.Start(t, dnsstack.Options{ResolverIP: resolverIP, ResolverPort: 53}, zone(owner+" 2 IN TLSA "+oldRec.String()))
	resolvConf := filepath.Join(dir, "resolv.conf")
	testkit.WriteFile(t, resolvConf, "nameserver "+resolverIP+"\noptions trust-ad edns0\n")

	// Postfix, the DANE sender.
	pf := testpeer.StartPostfixResolving(t, map[string]string{
		"defer_transports":        "",
		"relay_domains":           "",
		"transport_maps":          fmt.Sprintf("inline:{dane.test=smtp:dane.test:%d}", port),
		"smtp_dns_support_level":  "dnssec",
		"smtp_tls_security_level": "dane",
		"smtp_tls_loglevel":       "1",
		"smtp_host_lookup":        "dns",
		"myhostname":              "pf.sender.test",
		"maximal_backoff_time":    "10s",
		"minimal_backoff_time":    "5s",
		"queue_run_delay":         "5s",
	}, resolvConf)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Postfix maillog:\n%s\nDNS dir %s", pf.Maillog(), st.Dir())
		}
	})
	pollUntil(t, "Postfix to accept connections", func() (bool, string) {
		s, err := testkit.Dial(pf.Addr())
		if err != nil {
			return false, err.Error()
		}
		s.Close()
		return true, ""
	})
	s, err := testkit.Dial(pf.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if code, err := s.Send("alice@sender.test", "user@dane.test", "Subject: DANE via Postfix\r\n\r\nhello\r\n"); err != nil || code != 250 {
		t.Fatalf("submitting to Postfix: %d %v", code, err)
	}
	s.Close()

	pollUntil(t, "Postfix to defer: the TLSA record names another key", func() (bool, string) {
		log := pf.Maillog()
		return strings.Contains(log, "status=deferred") && strings.Contains(log, "no matching DANE TLSA records"), lastLines(log, 3)
	})
	mailbox := filepath.Join(dir, "data", "mailboxes", "dane.test", "user", "new")
	if files, _ := filepath.Glob(filepath.Join(mailbox, "*")); len(files) != 0 {
		t.Fatalf("delivered despite a mismatching TLSA record: %v", files)
	}

	// Publish what mailflow printed; flush the queue.
	st.Update(zone(strings.Replace(printed, " IN TLSA ", " 2 IN TLSA ", 1)))
	pollUntil(t, "Postfix to deliver over verified TLS", func() (bool, string) {
		if out, err := exec.Command("postqueue", "-c", pf.Dir, "-f").CombinedOutput(); err != nil {
			return false, fmt.Sprintf("postqueue -f: %v %s", err, out)
		}
		log := pf.Maillog()
		return strings.Contains(log, "status=sent"), lastLines(log, 3)
	})
	if log := pf.Maillog(); !strings.Contains(log, "Verified TLS connection established to mx.dane.test") {
		t.Errorf("Postfix did not log a verified (DANE) TLS connection:\n%s", lastLines(log, 10))
	}
	waitFiles(t, mailbox, 1)
}

// freeDNSAddress picks a loopback address whose port 53 is free (UDP and
// TCP), so the test's resolver clashes with nothing else on the machine.
func freeDNSAddress(t *testing.T) string {
	t.Helper()
	for range 50 {
		ip := fmt.Sprintf("127.53.%d.%d", rand.IntN(254)+1, rand.IntN(254)+1)
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "53"))
		if err != nil {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "53"))
		pc.Close()
		if err != nil {
			continue
		}
		ln.Close()
		return ip
	}
	t.Fatal("no loopback address with a free port 53")
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestCertTLSACheckAndRenewalWarning runs `mailflow cert tlsa --check` and
// `mailflow cert import` against TLSA records served by nsd and validated by
// unbound: the published record matches the certificate in use; importing a
// renewal with a new key warns (450 4.7.323 for DANE senders) with the
// record to publish and the rollover steps; --check then shows the mismatch.
func TestCertTLSACheckAndRenewalWarning(t *testing.T) {
	dnsstack.Require(t)
	dir := t.TempDir()
	now := time.Now()
	gen := func(file string, notBefore time.Time) *certs.Certificate {
		c, err := certs.Generate(certs.Template{Subject: "CN=mx.dane.test", SANs: []string{"mx.dane.test"}, KeyType: "ecdsa-p256",
			NotBefore: notBefore, NotAfter: now.AddDate(1, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if err := certs.WritePEM(filepath.Join(dir, file), c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	current := gen("current.pem", now.Add(-48*time.Hour))
	renewal := gen("renewal.pem", now.Add(-time.Hour))
	rec, _ := tlscheck.RecordFor(current.Leaf, 3, 1, 1)
	st := dnsstack.Start(t, dnsstack.Options{}, dnsstack.Zone{Name: "dane.test", Signed: true, Records: []string{
		"mx.dane.test. 2 IN A 127.0.0.2", "_25._tcp.mx.dane.test. 60 IN TLSA " + rec.String()}})

	cfg := filepath.Join(dir, "mx.yaml")
	testkit.WriteFile(t, cfg, fmt.Sprintf(`server:
  name: MX1
  fqdn: mx.dane.test
  data_dir: ./data
accepted_domains: [dane.test]
certificates:
  - file: current.pem
receive_connectors:
  - name: Default Frontend MX1
    bindings: ["0.0.0.0:25"]
dns:
  resolvers: ["%s"]
  dnssec: trust_ad
admin:
  listen: 127.0.0.1:%d
`, st.Resolver, testkit.FreePort(t)))

	code, out, errOut := mailflow(t, "cert", "tlsa", "--config", cfg, "--check")
	if code != 0 || !strings.Contains(out, "_25._tcp.mx.dane.test. IN TLSA "+rec.String()) || !strings.Contains(out, "(secure, TTL") || !strings.Contains(out, "MATCHES the presented certificate") {
		t.Fatalf("cert tlsa --check before the renewal: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = mailflow(t, "cert", "import", filepath.Join(dir, "renewal.pem"), "--config", cfg)
	newRec, _ := tlscheck.RecordFor(renewal.Leaf, 3, 1, 1)
	for _, want := range []string{"WARNING: receive connector \"Default Frontend MX1\"", renewal.Thumbprint, "450 4.7.323 tlsa-invalid",
		"publish the new record beside the old one(s): _25._tcp.mx.dane.test. IN TLSA " + newRec.String(), "wait at least the TTL of the TLSA records",
		"mailflow cert remove " + renewal.Thumbprint} {
		if code != 0 || !strings.Contains(errOut, want) {
			t.Errorf("cert import of a renewal with a new key: exit %d, output lacks %q\n%s%s", code, want, out, errOut)
		}
	}

	code, out, errOut = mailflow(t, "cert", "tlsa", "--config", cfg, "--check", "--resolver", st.Resolver)
	if code != 0 || !strings.Contains(out, "IN TLSA "+newRec.String()) || !strings.Contains(out, "does NOT match") || !strings.Contains(out, "; 1. publish the new record") {
		t.Fatalf("cert tlsa --check after the renewal: exit %d\n%s%s", code, out, errOut)
	}
}
