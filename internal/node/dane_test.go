package node_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/dnsres/dnstest"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// TestDANERecordedEverywhere: a DANE failure of an MX delivery (the
// receiver renewed its key, the TLSA record names the old one) is recorded
// with Exchange Online's 450 4.7.323 tlsa-invalid and the TLSA record seen
// in the queue's last error, the message tracking log and the SmtpSend
// protocol log; publishing the new record and retrying delivers.
func TestDANERecordedEverywhere(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	gen := func(file string) *certs.Certificate {
		c, err := certs.Generate(certs.Template{Subject: "CN=mx.dane.test", SANs: []string{"mx.dane.test"}, KeyType: "ecdsa-p256",
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if file != "" {
			if err := certs.WritePEM(filepath.Join(dir, file), c); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	renewed, old := gen("renewed.pem"), gen("")
	oldRec, _ := tlscheck.RecordFor(old.Leaf, 3, 1, 1)
	newRec, _ := tlscheck.RecordFor(renewed.Leaf, 3, 1, 1)

	recvPort := testkit.FreePort(t)
	recvCfg := filepath.Join(dir, "receiver.yaml")
	testkit.WriteFile(t, recvCfg, fmt.Sprintf(`server:
  name: MX1
  fqdn: mx.dane.test
  data_dir: ./receiver-data
accepted_domains: [dane.test]
certificates:
  - file: renewed.pem
admin:
  listen: off
receive_connectors:
  - name: Default Frontend MX1
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
`, recvPort))
	receiver := start(t, recvCfg)

	dns := dnstest.Start(t)
	dns.Add(t, "dane.test. 60 IN MX 10 mx.dane.test.", "mx.dane.test. 60 IN A 127.0.0.1")
	owner := fmt.Sprintf("_%d._tcp.mx.dane.test.", recvPort)
	dns.Add(t, owner+" 60 IN TLSA "+oldRec.String())
	dns.Secure("dane.test")

	sendPort := testkit.FreePort(t)
	sendCfg := filepath.Join(dir, "sender.yaml")
	testkit.WriteFile(t, sendCfg, fmt.Sprintf(`server:
  name: SENDER
  fqdn: sender.example
  data_dir: ./sender-data
accepted_domains: [sender.example]
dns:
  resolvers: ["%s"]
  dnssec: trust_ad
admin:
  listen: off
receive_connectors:
  - name: Relay from loopback
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.1/32"]
    anonymous_relay: true
send_connectors:
  - name: Internet
    address_spaces: ["*"]
    port: %d
    protocol_logging_level: Verbose
`, dns.Addr, sendPort, recvPort))
	sender := start(t, sendCfg)

	s := dialPlain(t, fmt.Sprintf("127.0.0.1:%d", sendPort))
	if code, err := s.Send("alice@sender.example", "user@dane.test", "Subject: dane\r\n\r\nhello\r\n"); err != nil || code != 250 {
		t.Fatalf("submit: %d %v", code, err)
	}
	s.Quit()

	var rcpt queue.Recipient
	testkit.Poll(t, 30*time.Second, "the first delivery attempt", func() (bool, string) {
		for _, m := range sender.Queue().List() {
			for _, r := range m.Recipients {
				rcpt = r
				return r.Attempts > 0, fmt.Sprint(r.State, " ", r.LastError)
			}
		}
		return false, "queue empty"
	})
	if rcpt.State != queue.StateRetry || !strings.Contains(fmt.Sprint(rcpt.LastError), "450 4.7.323 tlsa-invalid") || !strings.Contains(fmt.Sprint(rcpt.LastError), oldRec.String()) {
		t.Fatalf("queue: %s %v; want Retry with 450 4.7.323 and the TLSA record seen", rcpt.State, rcpt.LastError)
	}
	logDir := sender.Runtime().Cfg.LogDir()
	for _, sub := range []string{"MessageTracking", filepath.Join("ProtocolLog", "SmtpSend")} {
		// The tracking record follows the queue's bookkeeping: wait for it.
		testkit.Eventually(t, 10*time.Second, sub+" holding the 4.7.323 failure with the TLSA record "+oldRec.String(), func() bool {
			sender.FlushLogs()
			return dirContains(t, filepath.Join(logDir, sub), "4.7.323", oldRec.String())
		})
	}
	if n := mailboxCount(t, receiver, "dane.test"); n != 0 {
		t.Fatalf("delivered despite tlsa-invalid")
	}

	// Publish the renewed key's record beside the old one, retry.
	dns.Add(t, owner+" 60 IN TLSA "+newRec.String())
	if err := sender.Queue().Retry(""); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "delivery after publishing the new TLSA record", func() bool {
		return mailboxCount(t, receiver, "dane.test") == 1
	})
}

// dirContains reports whether some file under dir holds every string.
func dirContains(t *testing.T, dir string, wants ...string) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		all := true
		for _, w := range wants {
			if !strings.Contains(string(data), w) {
				all = false
			}
		}
		found = all
		return nil
	})
	return found
}
