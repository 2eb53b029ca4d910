package config

import (
	"slices"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c := mustParse(t, head+`receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
send_connectors:
  - name: Out
    address_spaces: ["*"]
    require_tls: true
  - name: Plain
    address_spaces: [contoso.com]
`)
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.Server.DataDir, "./data"},
		{"retry", c.Queue.RetryIntervals, []Duration{Duration(time.Minute), Duration(5 * time.Minute), Duration(15 * time.Minute), Duration(30 * time.Minute), Duration(time.Hour)}},
		{"expiry", c.Queue.Expiry, Duration(24 * time.Hour)},
		{"concurrency", c.Queue.Concurrency, 20},
		{"max_message_size", c.Limits.MaxMessageSize, ByteSize(37748736)},
		{"max_recipients", c.Limits.MaxRecipients, 200},
		{"max_connections_per_ip", c.Limits.MaxConnectionsPerIP, 50},
		{"max_connections", c.Limits.MaxConnections, 5000},
		{"max_outbound_connections", c.Limits.MaxOutboundConnections, 100},
		{"read_timeout", c.Limits.ReadTimeout, Duration(5 * time.Minute)},
		{"data_timeout", c.Limits.DataTimeout, Duration(10 * time.Minute)},
		{"max_protocol_errors", c.Limits.MaxProtocolErrors, 10},
		{"tls_handshake_timeout", c.Limits.TLSHandshakeTimeout, Duration(30 * time.Second)},
		{"admin.listen", c.Admin.Listen, "127.0.0.1:8025"},
		{"rc.auth", c.ReceiveConnectors[0].AuthMechanism, []string{"Tls"}},
		{"rc.perm", c.ReceiveConnectors[0].PermissionGroups, []string{"AnonymousUsers"}},
		{"rc.logging", c.ReceiveConnectors[0].ProtocolLoggingLevel, "None"},
		{"rc.ranges", c.ReceiveConnectors[0].RemoteIPRanges, []string{"0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"rc.fqdn", c.ReceiveConnectors[0].FQDN, "s1.contoso.com"},
		{"rc.max_message_size", c.ReceiveConnectors[0].MaxMessageSize, ByteSize(37748736)},
		{"rc.max_recipients", c.ReceiveConnectors[0].MaxRecipientsPerMessage, 200},
		{"rc.enabled", c.ReceiveConnectors[0].IsEnabled(), true},
		{"sc.port", c.SendConnectors[0].Port, 25},
		{"sc.level with require_tls", c.SendConnectors[0].TLSAuthLevel, "EncryptionOnly"},
		{"sc.level without require_tls", c.SendConnectors[1].TLSAuthLevel, ""},
		{"sc.fqdn", c.SendConnectors[0].FQDN, "s1.contoso.com"},
		{"sc.connect_timeout", c.SendConnectors[0].ConnectTimeout, Duration(30 * time.Second)},
		{"sc.logging", c.SendConnectors[0].ProtocolLoggingLevel, "None"},
	}
	for _, ch := range checks {
		if !equal(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case []string:
		return slices.Equal(x, b.([]string))
	case []Duration:
		return slices.Equal(x, b.([]Duration))
	}
	return a == b
}

// TestExplicitValuesWin: written values are kept, including a receive
// connector's own limits over the server-wide ones.
func TestExplicitValuesWin(t *testing.T) {
	c := mustParse(t, head+`  data_dir: /var/lib/mailflow
queue:
  retry_intervals: [30s, 2m]
  expiry: 2d
  concurrency: 4
limits:
  max_message_size: 10MB
  max_recipients: 50
  read_timeout: 90s
receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    max_message_size: "25 MB (26,214,400 bytes)"
    fqdn: a.contoso.com
  - name: B
    bindings: ["0.0.0.0:2525"]
admin:
  listen: "off"
`)
	if c.Server.DataDir != "/var/lib/mailflow" || c.DataDir() != "/var/lib/mailflow" {
		t.Errorf("data_dir = %s / %s", c.Server.DataDir, c.DataDir())
	}
	if !slices.Equal(c.Queue.RetryIntervals, []Duration{Duration(30 * time.Second), Duration(2 * time.Minute)}) {
		t.Errorf("retry = %v", c.Queue.RetryIntervals)
	}
	if c.Queue.Expiry != Duration(48*time.Hour) || c.Queue.Concurrency != 4 {
		t.Errorf("queue = %+v", c.Queue)
	}
	if c.Limits.MaxMessageSize != 10<<20 || c.Limits.MaxRecipients != 50 || c.Limits.ReadTimeout != Duration(90*time.Second) {
		t.Errorf("limits = %+v", c.Limits)
	}
	a, b := c.ReceiveConnector("A"), c.ReceiveConnector("B")
	if a.MaxMessageSize != 26214400 || a.FQDN != "a.contoso.com" {
		t.Errorf("A = %+v", a)
	}
	if b.MaxMessageSize != 10<<20 || b.MaxRecipientsPerMessage != 50 {
		t.Errorf("B did not inherit limits: %+v", b)
	}
	if c.AdminEnabled() {
		t.Error("admin listen off still enabled")
	}
}

// TestCodeBuiltConfig: a Config made in code (as other packages' tests do)
// gets the same defaults and validation.
func TestCodeBuiltConfig(t *testing.T) {
	c := &Config{
		Server:            Server{Name: "S1", FQDN: "s1.contoso.com"},
		ReceiveConnectors: []ReceiveConnector{{Name: "A", Bindings: []string{"127.0.0.1:2525"}}},
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	rc := &c.ReceiveConnectors[0]
	if rc.Key != "receive_connectors[0]" || len(rc.ParsedBindings()) != 1 || len(rc.Ranges()) != 2 {
		t.Errorf("connector = %+v", rc)
	}
	c.ReceiveConnectors[0].Bindings = nil
	err := c.Validate()
	es := AsErrors(err)
	if len(es) != 1 || es[0].Key != "receive_connectors[0].bindings" || es[0].Line != 0 {
		t.Errorf("want one error without line for empty bindings, got %v", err)
	}
}
