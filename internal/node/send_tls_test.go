package node_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// matrixCase is one receiver certificate judged by a DomainValidation send
// connector.
type matrixCase struct {
	name      string
	domain    string // recipient domain: the expected name unless tlsDomain
	tlsDomain string
	tmpl      certs.Template
	issuer    string // "ca" (trusted lab CA), "other" (untrusted CA), "" self-signed
	want      tlscheck.Reason
}

// The send side end to end: a message submitted to a mailflow sender over
// SMTP is queued, routed to a DomainValidation send connector and delivered
// to a real mailflow receiver presenting one certificate per connector.
// Only the acceptable certificates deliver; every other one defers with
// 450 4.7.320 and the exact reason, as Exchange does.
func TestSendDomainValidationMatrix(t *testing.T) {
	now := time.Now()
	valid := func(cn string, sans ...string) certs.Template {
		return certs.Template{Subject: "CN=" + cn, SANs: sans, KeyType: "ecdsa-p256",
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)}
	}
	dated := func(cn string, nb, na time.Time) certs.Template {
		t := valid(cn, cn)
		t.NotBefore, t.NotAfter = nb, na
		return t
	}
	cases := []matrixCase{
		{name: "valid", domain: "valid.test", tmpl: valid("valid.test", "valid.test"), issuer: "ca"},
		{name: "self-signed with the right name", domain: "selfsigned.test", tmpl: valid("selfsigned.test", "selfsigned.test"), want: tlscheck.UntrustedRoot},
		{name: "expired", domain: "expired.test", tmpl: dated("expired.test", now.AddDate(0, 0, -30), now.AddDate(0, 0, -1)), issuer: "ca", want: tlscheck.CertificateExpired},
		{name: "not yet valid", domain: "future.test", tmpl: dated("future.test", now.AddDate(0, 0, 1), now.AddDate(0, 0, 30)), issuer: "ca", want: tlscheck.CertificateNotYetValid},
		{name: "wrong name", domain: "wrongname.test", tmpl: valid("other.test", "other.test"), issuer: "ca", want: tlscheck.SubjectMismatch},
		{name: "untrusted CA", domain: "untrusted.test", tmpl: valid("untrusted.test", "untrusted.test"), issuer: "other", want: tlscheck.IncompleteChain},
		{name: "name only in CN", domain: "cnonly.test", tmpl: valid("cnonly.test"), issuer: "ca"},
		{name: "name only in SAN", domain: "sanonly.test", tmpl: valid("hybrid.example", "hybrid.example", "sanonly.test"), issuer: "ca"},
		{name: "wildcard certificate", domain: "wild.test", tlsDomain: "mail.wild.test", tmpl: valid("*.wild.test", "*.wild.test"), issuer: "ca"},
		{name: "wildcard one label too shallow", domain: "deep.test", tlsDomain: "a.b.deep.test", tmpl: valid("*.deep.test", "*.deep.test"), issuer: "ca", want: tlscheck.SubjectMismatch},
		{name: "wildcard tls_domain", domain: "wildtls.test", tlsDomain: "*.wildtls.test", tmpl: valid("mx.wildtls.test", "mx.wildtls.test"), issuer: "ca"},
	}

	dir := t.TempDir()
	ca, err := certs.Generate(certs.Template{Subject: "CN=Matrix CA", IsCA: true, KeyType: "ecdsa-p256", NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.Generate(certs.Template{Subject: "CN=Nobody Trusts This CA", IsCA: true, KeyType: "ecdsa-p256", NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "matrix-ca.pem")
	if err := certs.WriteCertPEM(caFile, ca); err != nil {
		t.Fatal(err)
	}

	// The receiver: one connector (and port) per case, each pinned to its
	// certificate, accepting mail for every case's domain.
	var recvCerts, recvConns, domains strings.Builder
	ports := testkit.FreePorts(t, len(cases)) // distinct: one listener per case
	for i, c := range cases {
		switch c.issuer {
		case "ca":
			c.tmpl.Issuer = ca
		case "other":
			c.tmpl.Issuer = other
		}
		cert, err := certs.Generate(c.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		file := filepath.Join(dir, fmt.Sprintf("recv-%d.pem", i))
		if err := certs.WritePEM(file, cert); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&recvCerts, "  - file: %s\n", file)
		fmt.Fprintf(&recvConns, `  - name: Case %d
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    tls_certificate_name: %q
`, i, ports[i], cert.Name())
		fmt.Fprintf(&domains, "%s, ", c.domain)
	}
	recvCfg := filepath.Join(dir, "receiver.yaml")
	testkit.WriteFile(t, recvCfg, fmt.Sprintf(`server:
  name: RECEIVER
  fqdn: receiver.test
  data_dir: ./receiver-data
accepted_domains: [%s]
trust:
  system_roots: false
certificates:
%sadmin:
  listen: off
receive_connectors:
%s`, strings.TrimSuffix(domains.String(), ", "), recvCerts.String(), recvConns.String()))
	receiver := start(t, recvCfg)

	// The sender: a relay connector for 127.0.0.1 and one DomainValidation
	// send connector per case, pointing at that case's port.
	var sendConns strings.Builder
	for i, c := range cases {
		fmt.Fprintf(&sendConns, `  - name: To case %d
    address_spaces: [%s]
    smart_hosts: ["127.0.0.1"]
    port: %d
    require_tls: true
    tls_auth_level: DomainValidation
`, i, c.domain, ports[i])
		if c.tlsDomain != "" {
			fmt.Fprintf(&sendConns, "    tls_domain: %q\n", c.tlsDomain)
		}
	}
	sendPort := testkit.FreePort(t)
	sendCfg := filepath.Join(dir, "sender.yaml")
	testkit.WriteFile(t, sendCfg, senderConfig(fmt.Sprintf("  ca_files: [%s]\n", caFile), sendPort, sendConns.String()))
	sender := start(t, sendCfg)

	// One message, one recipient per case, through the sender's SMTP.
	s := dialPlain(t, fmt.Sprintf("127.0.0.1:%d", sendPort))
	if _, err := s.Mail("alice@sender.example", nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if _, err := s.Rcpt("user@" + c.domain); err != nil {
			t.Fatalf("RCPT user@%s: %v", c.domain, err)
		}
	}
	if r, err := s.Data(strings.NewReader("From: alice@sender.example\r\nSubject: matrix\r\n\r\nhello\r\n")); err != nil {
		t.Fatalf("DATA: %v %v", r, err)
	}
	s.Quit()

	// Wait until every recipient has had its first attempt.
	var msg queue.Message
	testkit.Eventually(t, 30*time.Second, "a first delivery attempt to every recipient", func() bool {
		list := sender.Queue().List()
		if len(list) == 0 {
			// Everything delivered (would fail below) or not queued yet.
			return false
		}
		msg = list[0]
		for _, r := range msg.Recipients {
			if r.Attempts == 0 {
				return false
			}
		}
		return true
	})
	byAddr := map[string]queue.Recipient{}
	for _, r := range msg.Recipients {
		byAddr[r.Addr] = r
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := byAddr["user@"+c.domain]
			t.Logf("%s: %s %s", r.Addr, r.State, r.LastError.String())
			if r.Route != fmt.Sprintf("To case %d", i) {
				t.Errorf("routed via %q, want To case %d", r.Route, i)
			}
			if c.want == "" {
				if r.State != queue.StateDelivered {
					t.Fatalf("state %s (%s), want Delivered", r.State, r.LastError.String())
				}
				// The receiver stores locally after its 250.
				testkit.Eventually(t, 10*time.Second, "the message in the receiver's mailbox for "+c.domain, func() bool {
					return mailboxCount(t, receiver, c.domain) == 1
				})
				return
			}
			if r.State != queue.StateRetry {
				t.Fatalf("state %s (%s), want Retry (deferred)", r.State, r.LastError.String())
			}
			const status = "450 4.7.320 Certificate validation failed"
			reason := string(c.want)
			if !strings.HasPrefix(r.LastError.String(), "{LED="+status) || !strings.Contains(r.LastError.String(), "[Message="+reason+" ") ||
				!strings.Contains(r.LastError.String(), "{MSG="+reason+"}") || !strings.Contains(r.LastError.String(), "[LastAttemptedIP=127.0.0.1:"+fmt.Sprint(ports[i])+"]") {
				t.Fatalf("last error %q, want {LED=%s with [Message=%s …], {MSG=%s} and the attempted address", r.LastError.String(), status, reason, reason)
			}
			if n := mailboxCount(t, receiver, c.domain); n != 0 {
				t.Fatalf("receiver got %d messages for %s over a refused certificate", n, c.domain)
			}
		})
	}
}

// mailboxCount counts messages delivered to user@domain on srv.
func mailboxCount(t *testing.T, srv *node.Node, domain string) int {
	t.Helper()
	dir := filepath.Join(srv.Runtime().Cfg.DataDir(), "mailboxes", domain, "user", "new")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
