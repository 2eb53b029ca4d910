package node_test

import (
	"fmt"

	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// onprem is an on-premises configuration with one receive connector on
// 127.0.0.1:port pinned to pin (the lab's self-signed SERVER1 certificate
// in most tests).
func onprem(port int, pin string) string {
	return "# live-change fixture\n" + testkit.LabOnPrem + "admin:\n  listen: off\n" +
		testkit.DefaultFrontend(port, pin) + "    protocol_logging_level: Verbose\n"
}

// fixture is a lab PKI and a configuration file in a temporary directory.
type fixture struct {
	dir, cfg string
	port     int
	pki      *labpki.PKI
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, cfg: filepath.Join(dir, "onprem.yaml"), port: testkit.FreePort(t), pki: pki}
	f.write(t, onprem(f.port, pki.Server1.Name()))
	return f
}

func (f *fixture) write(t *testing.T, content string) {
	t.Helper()
	testkit.WriteFile(t, f.cfg, content)
}

func (f *fixture) read(t *testing.T) []byte {
	t.Helper()
	return testkit.ReadFile(t, f.cfg)
}

// start runs the server and closes it when the test ends.
func start(t *testing.T, cfg string) *node.Node {
	t.Helper()
	return startWith(t, cfg, node.Options{})
}

// startWith is start with options (a clock, a logger); the logger is the
// test's unless given.
func startWith(t *testing.T, cfg string, opts node.Options) *node.Node {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testkit.Logger(t)
	}
	srv, err := node.Start(cfg, opts)
	if err != nil {
		t.Fatalf("start %s: %v", cfg, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

// dialPlain connects and says EHLO, in plaintext, or fails the test.
func dialPlain(t *testing.T, addr string) *testkit.Session {
	t.Helper()
	s, err := testkit.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func body(subject string) string {
	return "From: <sender@tenant.example>\r\nTo: <user@contoso.com>\r\nSubject: " + subject + "\r\n\r\nhello\r\n"
}

// senderConfig is a sending node's configuration: server SENDER for
// sender.example, trusting only what trust lists (YAML lines under
// trust:, e.g. "  ca_files: [ca.pem]\n"), relaying anything 127.0.0.1
// submits on port, with the send_connectors section given.
func senderConfig(trust string, port int, sendConnectors string) string {
	return fmt.Sprintf(`server:
  name: SENDER
  fqdn: sender.example
  data_dir: ./sender-data
accepted_domains: [sender.example]
trust:
%s  system_roots: false
admin:
  listen: off
receive_connectors:
  - name: Relay from loopback
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.1/32"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    anonymous_relay: true
send_connectors:
%s`, trust, port, sendConnectors)
}
