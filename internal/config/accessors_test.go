package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/domain/domaintest"
)

func TestPaths(t *testing.T) {
	c := &Config{Path: filepath.Join("/etc", "mailflow", "onprem.yaml"), Server: Server{DataDir: "./data"}}
	tests := []struct{ got, want string }{
		{c.Resolve("certs/a.pem"), "/etc/mailflow/certs/a.pem"},
		{c.Resolve("../x"), "/etc/x"},
		{c.Resolve("/abs/a.pem"), "/abs/a.pem"},
		{c.Resolve(""), ""},
		{c.DataDir(), "/etc/mailflow/data"},
		{c.LogDir(), "/etc/mailflow/data/logs"},
		{c.AdminTokenFile(), "/etc/mailflow/data/admin.token"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: got %s, want %s", i, tt.got, tt.want)
		}
	}
	c.Server.LogDir = "/var/log/mailflow"
	c.Admin.TokenFile = "secret/token"
	if c.LogDir() != "/var/log/mailflow" || c.AdminTokenFile() != "/etc/mailflow/secret/token" {
		t.Errorf("LogDir %s, AdminTokenFile %s", c.LogDir(), c.AdminTokenFile())
	}
	if (&Config{}).Resolve("a/../b") != "b" {
		t.Error("Resolve without Path should clean relative to the working directory")
	}
}

func TestLineAndErrorAt(t *testing.T) {
	c := mustParse(t, head+`receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    tls_certificate_name: "<I>CN=CA<S>CN=a"
  - name: B
    bindings:
      - "0.0.0.0:2525"
`)
	tests := map[string]int{
		"server":                1,
		"server.fqdn":           3,
		"receive_connectors":    4,
		"receive_connectors[0]": 5,
		"receive_connectors[0].tls_certificate_name": 7,
		"receive_connectors[1].bindings[0]":          10,
		"receive_connectors[1].fqdn":                 8, // defaulted: the connector's line
		"receive_connectors[7].fqdn":                 4, // no such entry: the list's line
		"certificates[0].file":                       0, // nothing written
	}
	for key, want := range tests {
		if got := c.Line(key); got != want {
			t.Errorf("Line(%s) = %d, want %d", key, got, want)
		}
	}
	e := c.ErrorAt("receive_connectors[0].tls_certificate_name", "tls_certificate_name matches nothing", "install the certificate")
	if e.Error() != `t.yaml:7: receive_connectors[0].tls_certificate_name: tls_certificate_name matches nothing. Fix: install the certificate` {
		t.Errorf("ErrorAt = %s", e)
	}
}

// TestChecks: a Check's problems join the file's, and checks do not run
// on a structurally invalid file.
func TestChecks(t *testing.T) {
	path := writeFile(t, head+`certificates:
  - file: certs/missing.pem
`)
	ran := 0
	certCheck := func(c *Config) error {
		ran++
		ref := c.Certificates[0]
		return Errors{c.ErrorAt(ref.Key+".file", "unreadable certificate "+c.Resolve(ref.File), "check the path")}
	}
	_, err := Load(path, certCheck)
	es := AsErrors(err)
	if len(es) != 1 || es[0].Line != 5 || es[0].Key != "certificates[0].file" || !strings.Contains(es[0].Msg, filepath.Dir(path)) {
		t.Errorf("check error = %v", err)
	}
	plain := func(*Config) error { return errFake }
	if _, err := Load(path, plain); err == nil || !strings.Contains(err.Error(), errFake.Error()) {
		t.Errorf("plain check error lost: %v", err)
	}
	bad := writeFile(t, "server:\n  name: S1\n")
	ran = 0
	if _, err := Load(bad, certCheck); err == nil || ran != 0 {
		t.Errorf("checks ran on an invalid file (ran %d, err %v)", ran, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("missing file error = %v", err)
	}
}

var errFake = &fakeError{}

type fakeError struct{}

func (*fakeError) Error() string { return "disk on fire" }

// SmartHostAddresses reads smart hosts with the one host parser
// (domain.SplitHostPort): "[ip]" and "[ip]:port" mean that address, no DNS.
func TestSmartHosts(t *testing.T) {
	sc := SendConnector{SmartHosts: []string{"a.contoso.com", "2001:db8::1", "b.contoso.com:26", "[192.0.2.1]", "[192.0.2.1]:2526"}, Port: 2525}
	want := []string{"a.contoso.com:2525", "[2001:db8::1]:2525", "b.contoso.com:26", "192.0.2.1:2525", "192.0.2.1:2526"}
	if got := sc.SmartHostAddresses(); !slices.Equal(got, want) {
		t.Errorf("SmartHostAddresses = %v, want %v", got, want)
	}
}

// The accepted-domain and address-space accessors answer the shared
// domain-matching table.
func TestDomainMatchingTable(t *testing.T) {
	for _, tc := range domaintest.Cases {
		c := &Config{AcceptedDomains: []string{tc.Pattern}}
		if got := c.IsAcceptedDomain(tc.Domain); got != tc.Want {
			t.Errorf("accepted_domains [%s]: IsAcceptedDomain(%q) = %v, want %v", tc.Pattern, tc.Domain, got, tc.Want)
		}
		sc := SendConnector{AddressSpaces: []string{"SMTP:" + tc.Pattern + ";1"}}
		if got := sc.Matches(tc.Domain); got != tc.Want {
			t.Errorf("address_spaces [SMTP:%s;1]: Matches(%q) = %v, want %v", tc.Pattern, tc.Domain, got, tc.Want)
		}
	}
}

func TestQueueDSNSources(t *testing.T) {
	dir := t.TempDir()
	c := &Config{Path: filepath.Join(dir, "mailflow.yaml"), Queue: Queue{Backend: QueuePostgres}}
	t.Setenv("MAILFLOW_QUEUE_DSN", "")
	if _, err := c.QueueDSN(); err == nil || !strings.Contains(err.Error(), "MAILFLOW_QUEUE_DSN") {
		t.Fatalf("no DSN anywhere: %v, want an error naming the three ways", err)
	}
	t.Setenv("MAILFLOW_QUEUE_DSN", "postgres://env")
	if got, _ := c.QueueDSN(); got != "postgres://env" {
		t.Fatalf("from the environment: %q", got)
	}
	os.WriteFile(filepath.Join(dir, "queue.dsn"), []byte("postgres://file\n"), 0o600)
	c.Queue.DSNFile = "queue.dsn"
	if got, _ := c.QueueDSN(); got != "postgres://file" {
		t.Fatalf("from dsn_file (relative to the config): %q", got)
	}
	c.Queue.DSN = "postgres://inline"
	if got, _ := c.QueueDSN(); got != "postgres://inline" {
		t.Fatalf("inline dsn: %q", got)
	}
}
