package config

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAddAndRemoveReceiveConnector(t *testing.T) {
	path := exampleCopy(t)
	orig, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rc := ReceiveConnector{
		Name:                     "Hybrid Receive Connector",
		Bindings:                 []string{"0.0.0.0:2526"},
		RemoteIPRanges:           []string{"127.0.0.2/32"},
		FQDN:                     "mail.contoso.com",
		AuthMechanism:            []string{"Tls"},
		PermissionGroups:         []string{"AnonymousUsers", "Partners"},
		RequireTLS:               true,
		DomainSecureEnabled:      true,
		TLSSenderCertificateName: "mail.protection.outlook.com",
	}
	if err := AddReceiveConnector(path, rc); err != nil {
		t.Fatal(err)
	}
	data := readFile(t, path)
	checkComments(t, data)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := c.ReceiveConnector("hybrid receive connector")
	if got == nil || !got.DomainSecureEnabled || got.FQDN != "mail.contoso.com" || !slices.Equal(got.PermissionGroups, rc.PermissionGroups) {
		t.Fatalf("added connector: %+v", got)
	}
	// Only the keys it sets, in the model's order, lists in flow style.
	want, err := ConnectorYAML(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(want), "name: Hybrid Receive Connector\nbindings: [\"0.0.0.0:2526\"]\n") || strings.Contains(string(want), "\nenabled:") ||
		strings.Contains(string(want), "max_message_size") {
		t.Errorf("ConnectorYAML:\n%s", want)
	}
	if !bytes.Contains(data, []byte("permission_groups: [AnonymousUsers, Partners]")) {
		t.Errorf("written:\n%s", data)
	}

	// The same name again is refused and changes nothing.
	if err := AddReceiveConnector(path, rc); err == nil || !strings.Contains(err.Error(), "Hybrid Receive Connector") {
		t.Fatalf("duplicate: %v", err)
	}
	if !bytes.Equal(data, readFile(t, path)) {
		t.Fatal("a refused add changed the file")
	}
	if err := AddReceiveConnector(path, ReceiveConnector{Bindings: []string{"0.0.0.0:2527"}}); err == nil {
		t.Fatal("a connector without a name was added")
	}

	if err := RemoveConnector(path, "receive", "HYBRID receive connector"); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReceiveConnector("Hybrid Receive Connector") != nil || len(c.ReceiveConnectors) != len(orig.ReceiveConnectors) {
		t.Fatalf("after remove: %d connectors", len(c.ReceiveConnectors))
	}
	checkComments(t, readFile(t, path))
	if err := RemoveConnector(path, "receive", "nope"); err == nil || !strings.Contains(err.Error(), `existing: "Default Frontend SERVER1"`) {
		t.Fatalf("remove unknown: %v", err)
	}
}

func TestAddSendConnectorCreatesTheList(t *testing.T) {
	path := exampleCopy(t)
	if bytes.Contains(readFile(t, path), []byte("send_connectors:")) {
		t.Skip("the example has send connectors; this test needs a file without")
	}
	sc := SendConnector{Name: "Outbound to tenant", AddressSpaces: []string{"*"}, SmartHosts: []string{"127.0.0.1:2526"},
		RequireTLS: true, TLSAuthLevel: "DomainValidation", TLSDomain: "mail.protection.outlook.com"}
	if err := AddSendConnector(path, sc); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.SendConnector("outbound to tenant"); got == nil || got.TLSAuthLevel != "DomainValidation" {
		t.Fatalf("added send connector: %+v", got)
	}
	before := readFile(t, path)
	bad := sc
	bad.Name, bad.TLSAuthLevel = "Second", "DomainValidaton"
	if err := AddSendConnector(path, bad); err == nil || !strings.Contains(err.Error(), "DomainValidation") {
		t.Fatalf("invalid add: %v", err)
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Fatal("a refused add changed the file")
	}
	if err := RemoveConnector(path, "send", "Outbound to tenant"); err != nil {
		t.Fatal(err)
	}
}

// An unknown key is refused by config itself with the error start-up
// prints: file, line, dotted key and the nearest key as the fix.
func TestSetConnectorFieldsUnknownKeyIsAStartupError(t *testing.T) {
	path := exampleCopy(t)
	before := readFile(t, path)
	err := SetConnectorFields(path, "receive", "Default Frontend SERVER1", map[string]any{"fqnd": "x.contoso.com"})
	es := AsErrors(err)
	if len(es) != 1 || es[0].Key != "receive_connectors[0].fqnd" || es[0].Line == 0 || !strings.Contains(es[0].Fix, "fqdn") ||
		!strings.Contains(err.Error(), path) {
		t.Fatalf("unknown key: %v", err)
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Fatal("a refused change modified the file")
	}
}

func TestSettableConnectorKeys(t *testing.T) {
	recv, send := SettableConnectorKeys("receive"), SettableConnectorKeys("send")
	for _, k := range []string{"tls_certificate_name", "remote_ip_ranges", "domain_secure_enabled", "max_message_size"} {
		if !slices.Contains(recv, k) {
			t.Errorf("receive keys lack %s: %v", k, recv)
		}
	}
	for _, k := range []string{"smart_hosts", "tls_auth_level", "connect_timeout", "source_ip"} {
		if !slices.Contains(send, k) {
			t.Errorf("send keys lack %s: %v", k, send)
		}
	}
	if slices.Contains(recv, "name") || slices.Contains(send, "name") || SettableConnectorKeys("other") != nil {
		t.Error("name is not settable; unknown kinds have no keys")
	}
}

// TestPutConnectors replaces a connector of the same name in place and
// appends a new one, in one validated edit; a refused edit changes nothing.
func TestPutConnectors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailflow.yaml")
	orig := `# comment kept
server:
  name: SERVER1
  fqdn: server1.contoso.local
  data_dir: ./data
accepted_domains: [contoso.com]
receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:2525"]
  - name: Inbound from Office 365
    bindings: ["127.0.0.1:2525"]
    remote_ip_ranges: ["127.0.0.9/32"]
`
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	err := PutConnectors(path,
		[]ReceiveConnector{{Name: "inbound from office 365", Bindings: []string{"127.0.0.1:2525"}, RemoteIPRanges: []string{"127.0.0.2/32"}, FQDN: "mail.contoso.com"}},
		[]SendConnector{{Name: "Outbound to Office 365", AddressSpaces: []string{"contoso.mail.onmicrosoft.com"}, SmartHosts: []string{"127.0.0.1:2526"}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.ReceiveConnectors); n != 2 {
		t.Fatalf("%d receive connectors, want 2 (one replaced)", n)
	}
	if rc := cfg.ReceiveConnectors[1]; rc.FQDN != "mail.contoso.com" || rc.RemoteIPRanges[0] != "127.0.0.2/32" {
		t.Errorf("replaced connector: %+v", rc)
	}
	if len(cfg.SendConnectors) != 1 || cfg.SendConnectors[0].Name != "Outbound to Office 365" {
		t.Errorf("send connectors: %+v", cfg.SendConnectors)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "# comment kept") {
		t.Error("the comment was lost")
	}
	// Invalid: a second binding clash is refused and nothing changes.
	err = PutConnectors(path, []ReceiveConnector{{Name: "Other", Bindings: []string{"nonsense"}}}, nil)
	if err == nil {
		t.Fatal("an invalid connector was written")
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(data) {
		t.Error("a refused edit changed the file")
	}
}
