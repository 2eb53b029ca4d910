package node_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// peerWorld is a receiving mailflow node for literal.test presenting
// mail.literal.test issued by a lab CA, written both as PEM and as DER.
type peerWorld struct {
	dir          string
	port         int
	receiver     *node.Node
	caPEM, caDER string
}

func newPeerWorld(t *testing.T) *peerWorld {
	t.Helper()
	now := time.Now()
	w := &peerWorld{dir: t.TempDir(), port: testkit.FreePort(t)}
	ca := testkit.Cert(t, certs.Template{Subject: "CN=Literal Lab CA", IsCA: true}, now)
	leaf := testkit.Cert(t, certs.Template{Subject: "CN=mail.literal.test", SANs: []string{"mail.literal.test"}, Issuer: ca}, now)
	w.caPEM, w.caDER = filepath.Join(w.dir, "ca.pem"), filepath.Join(w.dir, "ca.cer")
	if err := certs.WriteCertPEM(w.caPEM, ca); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.caDER, ca.Leaf.Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	leafFile := filepath.Join(w.dir, "receiver.pem")
	if err := certs.WritePEM(leafFile, leaf); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(w.dir, "receiver.yaml")
	testkit.WriteFile(t, cfg, fmt.Sprintf(`server:
  name: RECEIVER
  fqdn: receiver.literal.test
  data_dir: ./receiver-data
accepted_domains: [literal.test]
trust:
  system_roots: false
certificates:
  - file: %s
admin:
  listen: off
receive_connectors:
  - name: Inbound
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    tls_certificate_name: %q
`, leafFile, w.port, leaf.Name()))
	w.receiver = start(t, cfg)
	return w
}

// sendThrough starts a sending node whose only send connector (for
// literal.test) is sendConnector, submits one message to user@literal.test
// and waits until the receiver stored it.
func (w *peerWorld) sendThrough(t *testing.T, trust, sendConnector string) *node.Node {
	t.Helper()
	sendPort := testkit.FreePort(t)
	cfg := filepath.Join(w.dir, "sender.yaml")
	testkit.WriteFile(t, cfg, senderConfig(trust, sendPort, `  - name: To literal.test
    address_spaces: [literal.test]
`+sendConnector))
	sender := start(t, cfg)
	s := dialPlain(t, fmt.Sprintf("127.0.0.1:%d", sendPort))
	if code, err := s.Send("alice@sender.example", "user@literal.test", "From: alice@sender.example\r\nSubject: literal\r\n\r\nhello\r\n"); err != nil || code != 250 {
		t.Fatalf("submit: %d %v", code, err)
	}
	s.Quit()
	testkit.Poll(t, 30*time.Second, "the message in the receiver's mailbox", func() (bool, string) {
		last := "not attempted yet"
		if list := sender.Queue().List(); len(list) > 0 && len(list[0].Recipients) > 0 && list[0].Recipients[0].LastError != nil {
			last = "sender's last error: " + list[0].Recipients[0].LastError.String()
		}
		return mailboxCount(t, w.receiver, "literal.test") == 1, last
	})
	return sender
}

// smart_hosts: ["[127.0.0.1]:PORT"] (an address literal: no MX or address
// lookup) loads and delivers.
func TestSmartHostAddressLiteral(t *testing.T) {
	w := newPeerWorld(t)
	w.sendThrough(t, "", fmt.Sprintf("    smart_hosts: [\"[127.0.0.1]:%d\"]\n", w.port))
}

// A DER CA file in trust.ca_files is trusted by the sender (a
// DomainValidation delivery succeeds) and by the probe, both with the
// configuration's trust and with the file given on its own.
func TestDERCAFileTrustedBySenderAndProbe(t *testing.T) {
	w := newPeerWorld(t)
	sender := w.sendThrough(t, fmt.Sprintf("  ca_files: [%q]\n", w.caDER), fmt.Sprintf(`    smart_hosts: ["127.0.0.1"]
    port: %d
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: mail.literal.test
`, w.port))

	fileOnly, err := certs.TrustPool([]string{w.caDER}, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, roots := range map[string]*x509.CertPool{"configuration trust": sender.Runtime().Roots, "--ca file": fileOnly} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r := probe.Run(ctx, probe.Options{
			Target: fmt.Sprintf("127.0.0.1:%d", w.port), Level: tlscheck.DomainValidation, Expect: "mail.literal.test",
			EHLO: "probe.sender.example", Roots: roots,
		})
		cancel()
		if r.Verdict.Result != probe.Pass {
			t.Errorf("probe with %s: %s %s", name, r.Verdict.Result, r.Verdict.Summary)
		}
	}
}
