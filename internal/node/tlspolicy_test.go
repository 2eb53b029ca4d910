package node_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/dnsres/dnstest"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlsrpt/tlsrpttest"
)

// TestMTASTSAndTLSRPTEndToEnd: a mailflow node relays mail submitted by
// Python's smtplib to MX hosts of domains with MTA-STS policies served over
// HTTPS on loopback (test CA in trust.ca_files), resolving through the
// configured DNS. An enforce policy that does not list the MX defers, a
// testing one delivers and reports, REQUIRETLS goes through to a validated
// host offering it, TLS-Required: No delivers despite the enforce policy.
// The next day the TLS-RPT reports arrive as messages in a mailflow mailbox
// and hold up under Python's email and json modules.
func TestMTASTSAndTLSRPTEndToEnd(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.Generate(certs.Template{Subject: "CN=STS Test CA", IsCA: true, KeyType: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "sts-ca.pem")
	if err := certs.WriteCertPEM(caFile, ca); err != nil {
		t.Fatal(err)
	}
	issue := func(sans ...string) tls.Certificate {
		c, err := certs.Generate(certs.Template{SANs: sans, Issuer: ca, KeyType: "ecdsa-p256", ServerAuth: true})
		if err != nil {
			t.Fatal(err)
		}
		return *c.TLS()
	}
	domains := []string{"strict.test", "relaxed.test", "good.test"}

	// The policy server.
	policies := map[string]string{
		"strict.test":  "version: STSv1\nmode: enforce\nmx: mx.other.test\nmax_age: 86400\n",
		"relaxed.test": "version: STSv1\nmode: testing\nmx: mx.other.test\nmax_age: 86400\n",
		"good.test":    "version: STSv1\nmode: enforce\nmx: *.good.test\nmax_age: 86400\n",
	}
	var down atomic.Bool
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		host, _, _ := net.SplitHostPort(r.Host)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, policies[strings.TrimPrefix(host, "mta-sts.")])
	}))
	var stsNames, mxNames []string
	for _, d := range domains {
		stsNames, mxNames = append(stsNames, "mta-sts."+d), append(mxNames, "mx."+d)
	}
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{issue(stsNames...)}}
	hs.StartTLS()
	defer hs.Close()
	_, hp, _ := net.SplitHostPort(hs.Listener.Addr().String())

	// The receiving MX hosts: one test server offering REQUIRETLS.
	mx := &smtptest.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{issue(mxNames...)}},
		Extensions: []string{"PIPELINING", "ENHANCEDSTATUSCODES", "REQUIRETLS"}}
	mx.Start(t)
	_, mxPort, _ := net.SplitHostPort(mx.Addr)

	// DNS.
	d := dnstest.Start(t)
	for _, dom := range domains {
		d.Add(t, fmt.Sprintf("%s. 60 IN MX 10 mx.%s.", dom, dom), fmt.Sprintf("mx.%s. 60 IN A 127.0.0.1", dom),
			fmt.Sprintf("mta-sts.%s. 60 IN A 127.0.0.1", dom), fmt.Sprintf(`_mta-sts.%s. 60 IN TXT "v=STSv1; id=20260101"`, dom))
	}
	d.Add(t, `_smtp._tls.strict.test. 60 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@contoso.com"`,
		`_smtp._tls.relaxed.test. 60 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@contoso.com"`)

	port := testkit.FreePort(t)
	cfg := filepath.Join(dir, "mailflow.yaml")
	testkit.WriteFile(t, cfg, fmt.Sprintf(`server:
  name: SERVER1
  fqdn: server1.contoso.local
  data_dir: ./data
accepted_domains: [contoso.com]
trust:
  ca_files: [%s]
  system_roots: false
certificates:
  - file: certs/server1-selfsigned.pem
dns:
  resolvers: [%q]
admin:
  listen: off
tls_rpt:
  organization_name: Contoso
receive_connectors:
  - name: Relay
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    anonymous_relay: true
    tls_certificate_name: %q
send_connectors:
  - name: Internet
    address_spaces: [strict.test, relaxed.test, good.test]
    port: %s
`, caFile, d.Addr, port, pki.Server1.Name(), mxPort))
	var hport int
	fmt.Sscan(hp, &hport)
	clock := testkit.NewClock(time.Now())
	n, err := node.Start(cfg, node.Options{Logger: testkit.Logger(t), Clock: clock, MTASTSPort: hport})
	if err != nil {
		t.Fatal(err)
	}
	closeNode := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}

	script := `
import smtplib, ssl, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.contoso.com')
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
s.ehlo()
def msg(subject, extra=''):
    return ('From: alice@contoso.com\r\nSubject: %s\r\n%s\r\nhello\r\n' % (subject, extra)).encode()
s.sendmail('alice@contoso.com', ['bob@strict.test'], msg('strict'))
s.sendmail('alice@contoso.com', ['bob@relaxed.test'], msg('relaxed'))
s.sendmail('alice@contoso.com', ['bob@good.test'], msg('requiretls'), mail_options=['REQUIRETLS'])
s.sendmail('alice@contoso.com', ['carol@strict.test'], msg('optional', 'TLS-Required: No\r\n'))
s.quit()
print('submitted')
`
	if out, err := exec.Command(py, "-c", script, fmt.Sprint(port)).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}

	// Three deliveries; bob@strict.test stays deferred.
	var got []smtptest.Message
	testkit.Poll(t, 30*time.Second, "three messages at the MX", func() (bool, string) {
		select {
		case s := <-mx.Sessions():
			got = append(got, s.Messages...)
			if len(s.Messages) > 0 && strings.Contains(s.Messages[0].Body, "Subject: requiretls") {
				mailLine := ""
				for _, l := range s.Lines {
					if strings.HasPrefix(l, "MAIL FROM:") {
						mailLine = l
					}
				}
				if !strings.HasSuffix(mailLine, " REQUIRETLS") {
					t.Errorf("REQUIRETLS not passed on: %q", mailLine)
				}
			}
		default:
		}
		return len(got) == 3, fmt.Sprintf("%d messages", len(got))
	})
	for _, m := range got {
		if m.Rcpts[0] == "bob@strict.test" {
			t.Errorf("delivered to bob@strict.test despite its enforce policy")
		}
	}
	testkit.Poll(t, 30*time.Second, "bob@strict.test deferred by MTA-STS", func() (bool, string) {
		for _, m := range n.Queue().List() {
			for _, r := range m.Recipients {
				if r.Addr == "bob@strict.test" {
					return r.State == queue.StateRetry && strings.Contains(r.LastError.String(), "4.7.5") &&
						strings.Contains(r.LastError.String(), `add the line "mx: mx.strict.test"`), string(r.State) + " " + r.LastError.String()
				}
			}
		}
		return false, "not in the queue"
	})

	// The next day the reports go out through the queue to a local mailbox.
	now := clock.Now().UTC()
	clock.Advance(now.Truncate(24 * time.Hour).Add(24*time.Hour + 30*time.Minute).Sub(now))
	n.SendTLSReports(context.Background()) // or the node's hourly run did already
	box := filepath.Join(dir, "data", "mailboxes", "contoso.com", "tlsrpt", "new")
	var files []os.DirEntry
	testkit.Poll(t, 30*time.Second, "two reports in tlsrpt@contoso.com's mailbox", func() (bool, string) {
		files, _ = os.ReadDir(box)
		return len(files) == 2, fmt.Sprintf("%d files", len(files))
	})
	summaries := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(box, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		summaries[tlsrpttest.CheckWithPython(t, b)] = true
	}
	// strict.test: bob refused (validation-failure), carol delivered under
	// TLS-Required: No (also a failure: the MX is not in the policy).
	// relaxed.test: one failure in testing mode.
	for _, want := range []string{"OK sts strict.test 0 2 validation-failure", "OK sts relaxed.test 0 1 validation-failure"} {
		if !summaries[want] {
			t.Errorf("no report %q among %v", want, summaries)
		}
	}

	// A restart with the policy server down: the cached enforce policy of
	// strict.test still applies.
	closeNode()
	down.Store(true)
	n, err = node.Start(cfg, node.Options{Logger: testkit.Logger(t), Clock: testkit.NewClock(clock.Now()), MTASTSPort: hport})
	if err != nil {
		t.Fatal(err)
	}
	defer closeNode()
	s := dialPlain(t, fmt.Sprintf("127.0.0.1:%d", port))
	if code, err := s.Send("alice@contoso.com", "dave@strict.test", "Subject: after restart\r\n\r\nhello\r\n"); err != nil || code != 250 {
		t.Fatalf("submit after restart: %d %v", code, err)
	}
	s.Quit()
	testkit.Poll(t, 30*time.Second, "dave@strict.test deferred by the cached policy", func() (bool, string) {
		for _, m := range n.Queue().List() {
			for _, r := range m.Recipients {
				if r.Addr == "dave@strict.test" {
					return r.State == queue.StateRetry && strings.Contains(r.LastError.String(), "MtaStsMxMismatch"), string(r.State) + " " + r.LastError.String()
				}
			}
		}
		return false, "not in the queue"
	})
}
