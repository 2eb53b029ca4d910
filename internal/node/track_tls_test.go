package node_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// Two messages to one next hop go over one connection; the message
// tracking log records the TLS verdict of that connection for both: the
// first as made, the second as reused.
func TestTrackingRecordsTLSVerdictPerMessageOnReusedConnection(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	ca, err := certs.Generate(certs.Template{Subject: "CN=Reuse CA", IsCA: true, KeyType: "ecdsa-p256", NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := certs.WriteCertPEM(caFile, ca); err != nil {
		t.Fatal(err)
	}
	cert, err := certs.Generate(certs.Template{Subject: "CN=mail.reuse.test", SANs: []string{"mail.reuse.test"}, KeyType: "ecdsa-p256",
		Issuer: ca, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "recv.pem")
	if err := certs.WritePEM(certFile, cert); err != nil {
		t.Fatal(err)
	}
	recvPort, sendPort := testkit.FreePort(t), testkit.FreePort(t)
	recvCfg := filepath.Join(dir, "receiver.yaml")
	testkit.WriteFile(t, recvCfg, fmt.Sprintf(`server:
  name: RECEIVER
  fqdn: mail.reuse.test
  data_dir: ./receiver-data
accepted_domains: [reuse.test]
trust:
  system_roots: false
certificates:
  - file: %s
admin:
  listen: off
receive_connectors:
  - name: Default
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    tls_certificate_name: %q
`, certFile, recvPort, cert.Name()))
	receiver := start(t, recvCfg)

	// One connection at most to the hop, kept long enough that the second
	// message finds it idle.
	sendCfg := filepath.Join(dir, "sender.yaml")
	testkit.WriteFile(t, sendCfg, senderConfig(fmt.Sprintf("  ca_files: [%s]\n", caFile), sendPort, fmt.Sprintf(`  - name: To reuse
    address_spaces: [reuse.test]
    smart_hosts: ["127.0.0.1"]
    port: %d
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: mail.reuse.test
    max_per_domain_connections: 1
    connection_idle_timeout: 5m
`, recvPort)))
	sender := start(t, sendCfg)

	for i := 1; i <= 2; i++ {
		s := dialPlain(t, fmt.Sprintf("127.0.0.1:%d", sendPort))
		if _, err := s.Mail("alice@sender.example", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rcpt("user@reuse.test"); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Data(strings.NewReader(fmt.Sprintf("From: alice@sender.example\r\nSubject: reuse %d\r\n\r\nhello\r\n", i))); err != nil {
			t.Fatalf("DATA: %v %v", r, err)
		}
		s.Quit()
		testkit.Eventually(t, 30*time.Second, fmt.Sprintf("message %d in the receiver's mailbox", i), func() bool {
			return mailboxCount(t, receiver, "reuse.test") == i
		})
	}

	trackDir := filepath.Join(sender.Runtime().Cfg.LogDir(), "MessageTracking")
	var sends []tracking.Event
	testkit.Eventually(t, 30*time.Second, "two SEND events in the sender's tracking log", func() bool {
		evs, err := tracking.Search(trackDir, tracking.Filter{Recipient: "user@reuse.test"})
		if err != nil {
			return false
		}
		sends = sends[:0]
		for _, e := range evs {
			if e.EventID == tracking.EventSend {
				sends = append(sends, e)
			}
		}
		return len(sends) == 2
	})
	want := []string{"TLS=TLS 1.3", "Thumbprint=" + cert.Thumbprint, "Subject=CN=mail.reuse.test", "Policy=DomainValidation", "Verdict=Pass"}
	reused := map[string]int{}
	for _, e := range sends {
		t.Logf("%s %s custom-data %q", e.EventID, e.Subject, e.CustomData)
		for _, w := range want {
			if !strings.Contains(e.CustomData, w) {
				t.Errorf("SEND of %q: custom-data %q lacks %q", e.Subject, e.CustomData, w)
			}
		}
		switch {
		case strings.Contains(e.CustomData, "Reused=true"):
			reused["true"]++
		case strings.Contains(e.CustomData, "Reused=false"):
			reused["false"]++
		}
	}
	if open, limit := sender.OutboundConnections(); open != 1 || limit != 100 {
		t.Errorf("outbound connections %d of %d, want the kept one of the default 100", open, limit)
	}
	if reused["true"] != 1 || reused["false"] != 1 {
		t.Errorf("reuse recorded %v, want one new and one reused connection", reused)
	}
}

// limits.max_outbound_connections reaches the send connection pool.
func TestMaxOutboundConnectionsConfigured(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sender.yaml")
	testkit.WriteFile(t, cfg, senderConfig("", testkit.FreePort(t), `  - name: Out
    address_spaces: ["*"]
    smart_hosts: ["127.0.0.1"]
`)+"limits:\n  max_outbound_connections: 7\n")
	n := start(t, cfg)
	if open, limit := n.OutboundConnections(); open != 0 || limit != 7 {
		t.Errorf("outbound connections %d of %d, want 0 of 7", open, limit)
	}
}
