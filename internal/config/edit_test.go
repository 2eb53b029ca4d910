package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exampleCopy(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "onprem.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, string(data))
}

// comments are the comment texts of the example that every edit must keep.
var comments = []string{
	"# added to the system roots for validating peers",
	"# PEM: chain + private key in one file",
	"# PKCS#12",
	"# empty = automatic selection by fqdn",
	"# The cloud tenant connects from 127.0.0.2",
	"# mail flow example", // deliberately absent: proves the check can fail
}

func checkComments(t *testing.T, data []byte) {
	t.Helper()
	for _, c := range comments[:len(comments)-1] {
		if !bytes.Contains(data, []byte(c)) {
			t.Errorf("comment %q lost:\n%s", c, data)
		}
	}
	if bytes.Contains(data, []byte(comments[len(comments)-1])) {
		t.Error("the control comment should not be there")
	}
}

func TestSetReceiveConnectorField(t *testing.T) {
	tests := []struct {
		name, connector, key string
		value                any
		check                func(t *testing.T, c *Config)
	}{
		{"string into quoted value", "default frontend server1", "tls_certificate_name", "<I>CN=Contoso Lab CA<S>CN=server1.contoso.local",
			func(t *testing.T, c *Config) {
				if got := c.ReceiveConnector("Default Frontend SERVER1").TLSCertificateName; got != "<I>CN=Contoso Lab CA<S>CN=server1.contoso.local" {
					t.Errorf("tls_certificate_name = %q", got)
				}
			}},
		{"new key", "Default Frontend SERVER1", "enabled", false,
			func(t *testing.T, c *Config) {
				if c.ReceiveConnector("Default Frontend SERVER1").IsEnabled() {
					t.Error("still enabled")
				}
			}},
		{"list from a command-line string", "Inbound from Office 365", "remote_ip_ranges", "127.0.0.2/32, 127.0.0.4",
			func(t *testing.T, c *Config) {
				if got := c.ReceiveConnector("Inbound from Office 365").RemoteIPRanges; len(got) != 2 || got[1] != "127.0.0.4" {
					t.Errorf("remote_ip_ranges = %v", got)
				}
			}},
		{"bool from string", "Inbound from Office 365", "require_tls", "false",
			func(t *testing.T, c *Config) {
				if c.ReceiveConnector("Inbound from Office 365").RequireTLS {
					t.Error("require_tls still true")
				}
			}},
		{"size from string", "Inbound from Office 365", "max_message_size", "10MB",
			func(t *testing.T, c *Config) {
				if got := c.ReceiveConnector("Inbound from Office 365").MaxMessageSize; got != 10<<20 {
					t.Errorf("max_message_size = %d", got)
				}
			}},
		{"nil removes the key", "Default Frontend SERVER1", "protocol_logging_level", nil,
			func(t *testing.T, c *Config) {
				if got := c.ReceiveConnector("Default Frontend SERVER1").ProtocolLoggingLevel; got != LoggingNone {
					t.Errorf("protocol_logging_level = %q, want the default None", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := exampleCopy(t)
			if err := SetReceiveConnectorField(path, tt.connector, tt.key, tt.value); err != nil {
				t.Fatalf("Set: %v", err)
			}
			data := readFile(t, path)
			checkComments(t, data)
			c, err := Load(path)
			if err != nil {
				t.Fatalf("edited file does not load: %v\n%s", err, data)
			}
			tt.check(t, c)
		})
	}
}

// TestEditKeepsLayout: an edit changes the edited line and nothing else
// except the spacing before line comments.
func TestEditKeepsLayout(t *testing.T) {
	path := exampleCopy(t)
	before := readFile(t, path)
	if err := SetReceiveConnectorField(path, "Inbound from Office 365", "fqdn", "hybrid.contoso.com"); err != nil {
		t.Fatal(err)
	}
	after := readFile(t, path)
	norm := func(b []byte) []string {
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if i := strings.Index(l, " #"); i > 0 {
				l = strings.TrimRight(l[:i], " ") + " " + strings.TrimLeft(l[i:], " ")
			}
			out = append(out, l)
		}
		return out
	}
	b, a := norm(before), norm(after)
	if len(a) != len(b) {
		t.Fatalf("line count changed %d → %d:\n%s", len(b), len(a), after)
	}
	changed := 0
	for i := range b {
		if a[i] != b[i] {
			changed++
			if a[i] != "    fqdn: hybrid.contoso.com" {
				t.Errorf("line %d changed: %q → %q", i+1, b[i], a[i])
			}
		}
	}
	if changed != 1 {
		t.Errorf("%d lines changed, want 1", changed)
	}
}

// TestEditRefusesInvalid: an edit that would make the file invalid is
// refused with the validation error and the file stays byte-identical.
func TestEditRefusesInvalid(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(path string) error
		errHas string
	}{
		{"bad range", func(p string) error {
			return SetReceiveConnectorField(p, "Inbound from Office 365", "remote_ip_ranges", []string{"10.0.0.0/33"})
		}, `"10.0.0.0/33" is not an IP range`},
		{"overlap", func(p string) error {
			return SetReceiveConnectorField(p, "Inbound from Office 365", "remote_ip_ranges", []string{"0.0.0.0/0"})
		}, "same remote IP range"},
		{"open relay", func(p string) error {
			return SetReceiveConnectorField(p, "Default Frontend SERVER1", "anonymous_relay", true)
		}, "open relay"},
		{"require tls without Tls", func(p string) error {
			return SetReceiveConnectorField(p, "Inbound from Office 365", "auth_mechanism", "None")
		}, "lacks Tls"},
		{"wrong type", func(p string) error {
			return SetReceiveConnectorField(p, "Inbound from Office 365", "require_tls", []string{"x"})
		}, "want true or false"},
		{"bad string for a bool", func(p string) error {
			return SetReceiveConnectorField(p, "Inbound from Office 365", "require_tls", "maybe")
		}, `"maybe" is not true or false`},
		{"unknown key", func(p string) error {
			return SetReceiveConnectorField(p, "Inbound from Office 365", "tls_certifcate_name", "x")
		}, "did you mean tls_certificate_name?"},
		{"unknown connector", func(p string) error {
			return SetReceiveConnectorField(p, "Inbound", "fqdn", "a.contoso.com")
		}, `existing: "Default Frontend SERVER1", "Inbound from Office 365"`},
		{"no send connectors", func(p string) error {
			return SetSendConnectorField(p, "Out", "fqdn", "a.contoso.com")
		}, "the file has no send connectors"},
		{"duplicate name", func(p string) error {
			return SetReceiveConnectorField(p, "Inbound from Office 365", "name", "default frontend server1")
		}, "already exists"},
		{"certificate twice", func(p string) error {
			return AddCertificate(p, CertificateRef{File: "./certs/mail-contoso.pfx"})
		}, "already listed"},
		{"remove unknown certificate", func(p string) error {
			return RemoveCertificate(p, "certs/nope.pem")
		}, "listed: certs/server1-selfsigned.pem, certs/mail-contoso.pfx"},
		{"pfx with key file", func(p string) error {
			return AddCertificate(p, CertificateRef{File: "certs/x.pfx", KeyFile: "certs/x.key"})
		}, "PFX file holds its own private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := exampleCopy(t)
			before := readFile(t, path)
			err := tt.edit(path)
			if err == nil {
				t.Fatalf("edit accepted:\n%s", readFile(t, path))
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			if after := readFile(t, path); !bytes.Equal(before, after) {
				t.Errorf("file changed although the edit was refused:\n%s", after)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the config (temporary file left?)", len(entries))
			}
		})
	}
}

func TestSendConnectorEdit(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "tenant.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, string(data))
	if err := SetSendConnectorField(path, "OUTBOUND TO CONTOSO", "tls_domain", "*.contoso.com"); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.SendConnector("Outbound to contoso").TLSDomain; got != "*.contoso.com" {
		t.Errorf("tls_domain = %q", got)
	}
	if !bytes.Contains(readFile(t, path), []byte("# lands on on-premises")) {
		t.Error("comment lost")
	}
	before := readFile(t, path)
	if err := SetSendConnectorField(path, "Outbound to contoso", "tls_auth_level", "DomainValidaton"); err == nil || !strings.Contains(err.Error(), "did you mean DomainValidation?") {
		t.Errorf("want refused tls_auth_level, got %v", err)
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Error("file changed by a refused edit")
	}
}

func TestCertificateEdits(t *testing.T) {
	path := exampleCopy(t)
	if err := AddCertificate(path, CertificateRef{File: "certs/new.pfx", PasswordFile: "certs/new.pass"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Certificates); n != 3 || c.Certificates[2].File != "certs/new.pfx" || c.Certificates[2].PasswordFile != "certs/new.pass" || c.Certificates[2].KeyFile != "" {
		t.Fatalf("certificates = %+v", c.Certificates)
	}
	checkComments(t, readFile(t, path))
	if err := RemoveCertificate(path, "certs/server1-selfsigned.pem"); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certificates) != 2 || c.Certificates[0].File != "certs/mail-contoso.pfx" {
		t.Errorf("certificates = %+v", c.Certificates)
	}
	// Removal by a path that resolves to the same file.
	if err := RemoveCertificate(path, "./certs/new.pfx"); err != nil {
		t.Fatal(err)
	}
	// A file without certificates gets the list created.
	bare := writeFile(t, head)
	if err := AddCertificate(bare, CertificateRef{File: "a.pem"}); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(bare); err != nil || len(c.Certificates) != 1 {
		t.Errorf("after AddCertificate on a bare file: %v %+v", err, c)
	}
}

// TestApplyConcurrentChange: if the file changes on disk between reading
// and writing (another process editing), Apply refuses and keeps the other
// writer's content. The Check hook runs in that window, so it plays the
// other process.
func TestApplyConcurrentChange(t *testing.T) {
	path := exampleCopy(t)
	other := []byte(head)
	interloper := func(*Config) error { return os.WriteFile(path, other, 0o640) }
	_, err := Apply(path, func(root *yaml.Node) error { return nil }, interloper)
	if err == nil || !strings.Contains(err.Error(), "changed on disk") {
		t.Fatalf("want changed-on-disk error, got %v", err)
	}
	if !bytes.Equal(readFile(t, path), other) {
		t.Error("the other writer's content was overwritten")
	}
}

func TestEditReturnsBytesWithoutWriting(t *testing.T) {
	path := exampleCopy(t)
	before := readFile(t, path)
	out, err := Edit(path, func(root *yaml.Node) error {
		setMappingValue(root, "accepted_domains", &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: []*yaml.Node{scalar("contoso.com"), scalar("fabrikam.com")}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Error("Edit wrote the file")
	}
	if !bytes.Contains(out, []byte("accepted_domains: [contoso.com, fabrikam.com]")) {
		t.Errorf("edited bytes:\n%s", out)
	}
}

func TestLayoutDetection(t *testing.T) {
	tests := []struct {
		doc     string
		indent  int
		compact bool
	}{
		{"a:\n  b: 1\nl:\n  - x\n", 2, false},
		{"a:\n    b: 1\nl:\n    - x\n", 4, false},
		{"a:\n  b: 1\nl:\n- x\n", 2, true},
		{"l: [x]\n", 2, false},
	}
	for _, tt := range tests {
		doc, err := parseDocument([]byte(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		indent, compact := layout(doc)
		if indent != tt.indent || compact != tt.compact {
			t.Errorf("layout(%q) = %d %v, want %d %v", tt.doc, indent, compact, tt.indent, tt.compact)
		}
	}
}
