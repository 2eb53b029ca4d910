package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// markedLine returns the 1-based line holding the marker "#<-", which the
// cases below put on the line an error must point at.
func markedLine(t *testing.T, doc string) int {
	t.Helper()
	for i, l := range strings.Split(doc, "\n") {
		if strings.Contains(l, "#<-") {
			return i + 1
		}
	}
	t.Fatal("case has no #<- marker")
	return 0
}

const head = `server:
  name: S1
  fqdn: s1.contoso.com
`

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		key    string
		msgHas string
		fixHas string
	}{
		{
			name: "unknown key suggests the nearest",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    tls_certifcate_name: "<I>CN=x<S>CN=y" #<-
`,
			key: "receive_connectors[0].tls_certifcate_name", msgHas: "unknown key", fixHas: "did you mean tls_certificate_name?",
		},
		{
			name: "PowerShell spelling finds the key",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    RemoteIPRanges: ["10.0.0.0/8"] #<-
`,
			key: "receive_connectors[0].RemoteIPRanges", msgHas: "unknown key", fixHas: "did you mean remote_ip_ranges?",
		},
		{
			name: "key of another section",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    tls_auth_level: DomainValidation #<-
`,
			key: "receive_connectors[0].tls_auth_level", msgHas: "unknown key", fixHas: "in a send connector",
		},
		{
			name: "unknown top-level key lists the keys",
			doc: head + `frobnicate: 1 #<-
`,
			key: "frobnicate", msgHas: "unknown key", fixHas: "receive_connectors",
		},
		{
			name: "key set twice",
			doc: `server:
  name: S1
  fqdn: s1.contoso.com
  name: S2 #<-
`,
			key: "server.name", msgHas: "set twice (first on line 2)", fixHas: "keep one",
		},
		{
			name: "list where a value is wanted",
			doc: `server:
  name: [S1] #<-
  fqdn: s1.contoso.com
`,
			key: "server.name", msgHas: "want a single value", fixHas: "one value",
		},
		{
			name: "value where a list is wanted",
			doc: head + `receive_connectors:
  - name: A
    bindings: "0.0.0.0:25" #<-
`,
			key: "receive_connectors[0].bindings", msgHas: "want a list", fixHas: `bindings: ["0.0.0.0:25"]`,
		},
		{
			name: "yes is not a boolean",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    require_tls: yes #<-
`,
			key: "receive_connectors[0].require_tls", msgHas: "want true or false", fixHas: "true or false",
		},
		{
			name: "bad number",
			doc: head + `queue:
  concurrency: lots #<-
`,
			key: "queue.concurrency", msgHas: "whole number", fixHas: "whole number",
		},
		{
			name: "section that is not a mapping",
			doc: head + `limits: 5 #<-
`,
			key: "limits", msgHas: "want a mapping", fixHas: "max_message_size",
		},
		{
			name: "missing server name",
			doc: `server: #<-
  fqdn: s1.contoso.com
`,
			key: "server.name", msgHas: "server name is missing", fixHas: "name: SERVER1",
		},
		{
			name: "missing server fqdn",
			doc: `server: #<-
  name: S1
`,
			key: "server.fqdn", msgHas: "fqdn is missing", fixHas: "fqdn:",
		},
		{
			name: "bad server name",
			doc: `server:
  name: "SERVER 1" #<-
  fqdn: s1.contoso.com
`,
			key: "server.name", msgHas: "not a server name", fixHas: "letters",
		},
		{
			name: "fqdn is an IP",
			doc: `server:
  name: S1
  fqdn: 192.0.2.1 #<-
`,
			key: "server.fqdn", msgHas: "IP address, not a name", fixHas: "host name",
		},
		{
			name: "accepted domain syntax",
			doc: head + `accepted_domains:
  - contoso.com
  - "contoso..com" #<-
`,
			key: "accepted_domains[1]", msgHas: "empty label", fixHas: "contoso.com",
		},
		{
			name: "accepted domain mid wildcard",
			doc: head + `accepted_domains: [mail.*.contoso.com] #<-
`,
			key: "accepted_domains[0]", msgHas: "wildcard", fixHas: "*.contoso.com",
		},
		{
			name: "accepted domain twice",
			doc: head + `accepted_domains:
  - contoso.com
  - Contoso.COM #<-
`,
			key: "accepted_domains[1]", msgHas: "listed twice", fixHas: "remove one",
		},
		{
			name: "duplicate receive connector names ignore case",
			doc: head + `receive_connectors:
  - name: Default
    bindings: ["0.0.0.0:25"]
  - name: DEFAULT #<-
    bindings: ["0.0.0.0:2525"]
`,
			key: "receive_connectors[1].name", msgHas: `named "Default" already exists (receive_connectors[0], line 5)`, fixHas: "another name",
		},
		{
			name: "duplicate send connector names",
			doc: head + `send_connectors:
  - name: Out
    address_spaces: ["*"]
  - name: out #<-
    address_spaces: [contoso.com]
`,
			key: "send_connectors[1].name", msgHas: "already exists", fixHas: "another name",
		},
		{
			name: "connector name with backslash",
			doc: head + `receive_connectors:
  - name: 'SERVER1\Default' #<-
    bindings: ["0.0.0.0:25"]
`,
			key: "receive_connectors[0].name", msgHas: "backslash", fixHas: "separates server and connector",
		},
		{
			name: "empty bindings",
			doc: head + `receive_connectors:
  - name: A
    bindings: [] #<-
`,
			key: "receive_connectors[0].bindings", msgHas: "no bindings", fixHas: "0.0.0.0:25",
		},
		{
			name: "no bindings key points at the connector",
			doc: head + `receive_connectors:
  - name: A #<-
    fqdn: a.contoso.com
`,
			key: "receive_connectors[0].bindings", msgHas: "no bindings", fixHas: "0.0.0.0:25",
		},
		{
			name: "bad binding",
			doc: head + `receive_connectors:
  - name: A
    bindings:
      - "0.0.0.0:25"
      - "localhost:25" #<-
`,
			key: "receive_connectors[0].bindings[1]", msgHas: "not host names", fixHas: "IP:port",
		},
		{
			name: "bad remote ip range",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    remote_ip_ranges: ["10.0.0.0/33"] #<-
`,
			key: "receive_connectors[0].remote_ip_ranges[0]", msgHas: `"10.0.0.0/33" is not an IP range`, fixHas: "CIDR",
		},
		{
			name: "reversed range",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    remote_ip_ranges:
      - 10.0.0.0/8
      - 192.0.2.9-192.0.2.1 #<-
`,
			key: "receive_connectors[0].remote_ip_ranges[1]", msgHas: "greater than the last", fixHas: "first-last",
		},
		{
			name: "overlapping ranges that do not nest on one binding",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    remote_ip_ranges: ["10.0.0.0-10.0.0.100"]
  - name: B
    bindings: ["0.0.0.0:25"]
    remote_ip_ranges: ["10.0.0.50-10.0.0.200"] #<-
`,
			key: "receive_connectors[1].remote_ip_ranges[0]", msgHas: `overlaps 10.0.0.0-10.0.0.100 of receive connector "A" (line 5)`, fixHas: "contain the other",
		},
		{
			name: "same binding and identical ranges",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    remote_ip_ranges: ["10.0.0.0/8"]
  - name: B
    bindings: [":25"]
    remote_ip_ranges: ["10.0.0.0-10.255.255.255"] #<-
`,
			key: "receive_connectors[1].remote_ip_ranges[0]", msgHas: "same remote IP range", fixHas: "disable one",
		},
		{
			name: "unknown auth mechanism",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    auth_mechanism: [Tls, Tsl] #<-
`,
			key: "receive_connectors[0].auth_mechanism[1]", msgHas: `"Tsl" is not an auth mechanism`, fixHas: "ExternalAuthoritative",
		},
		{
			name: "None with others",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    auth_mechanism: [None, Tls] #<-
`,
			key: "receive_connectors[0].auth_mechanism", msgHas: "None cannot be combined", fixHas: "keep only None",
		},
		{
			name: "ExternalAuthoritative without ExchangeServers",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    remote_ip_ranges: ["10.0.0.1"]
    auth_mechanism: [Tls, ExternalAuthoritative] #<-
`,
			key: "receive_connectors[0].auth_mechanism", msgHas: "requires the ExchangeServers", fixHas: "add ExchangeServers",
		},
		{
			name: "unknown permission group",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    permission_groups: [AnonymousUser] #<-
`,
			key: "receive_connectors[0].permission_groups[0]", msgHas: "not a permission group", fixHas: "did you mean AnonymousUsers?",
		},
		{
			name: "tls certificate name without markers",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    tls_certificate_name: mail.contoso.com #<-
`,
			key: "receive_connectors[0].tls_certificate_name", msgHas: "<I>issuer<S>subject", fixHas: "$($cert.Issuer)",
		},
		{
			name: "tls certificate name with empty subject",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    tls_certificate_name: "<i>CN=CA<s> " #<-
`,
			key: "receive_connectors[0].tls_certificate_name", msgHas: "the subject is empty", fixHas: "<I>",
		},
		{
			// The same check as certificate selection (certs.NameProblem):
			// a subject that is no distinguished name is refused here, not
			// only later when certificates are matched.
			name: "tls certificate name with a subject that is not a DN",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    tls_certificate_name: "<I>CN=CA<S>mail.contoso.com" #<-
`,
			key: "receive_connectors[0].tls_certificate_name", msgHas: "not a distinguished name", fixHas: "<I>",
		},
		{
			name: "require_tls without Tls",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    auth_mechanism: [None]
    require_tls: true #<-
`,
			key: "receive_connectors[0].require_tls", msgHas: "lacks Tls", fixHas: "add Tls",
		},
		{
			name: "domain security without Tls",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    auth_mechanism: [None]
    domain_secure_enabled: true #<-
    tls_sender_certificate_name: mail.protection.outlook.com
`,
			key: "receive_connectors[0].domain_secure_enabled", msgHas: "needs Tls", fixHas: "add Tls",
		},
		{
			name: "domain security without sender certificate name",
			doc: head + `receive_connectors:
  - name: A #<-
    bindings: ["0.0.0.0:25"]
    domain_secure_enabled: true
`,
			key: "receive_connectors[0].tls_sender_certificate_name", msgHas: "tls_sender_certificate_name is empty", fixHas: "mail.protection.outlook.com",
		},
		{
			name: "protocol logging level",
			doc: head + `receive_connectors:
  - name: A
    bindings: ["0.0.0.0:25"]
    protocol_logging_level: Verbos #<-
`,
			key: "receive_connectors[0].protocol_logging_level", msgHas: "not a protocol logging level", fixHas: "did you mean Verbose?",
		},
		{
			name: "open relay",
			doc: head + `receive_connectors:
  - name: Relay
    bindings: ["0.0.0.0:25"]
    remote_ip_ranges: ["0.0.0.0/1", "128.0.0.0/1"] #<-
    anonymous_relay: true
`,
			key: "receive_connectors[0].remote_ip_ranges", msgHas: "open relay", fixHas: "allow_open_relay: true",
		},
		{
			name: "open relay by default ranges",
			doc: head + `receive_connectors:
  - name: Relay #<-
    bindings: ["0.0.0.0:25"]
    permission_groups: [ExchangeServers]
    auth_mechanism: [Tls, ExternalAuthoritative]
`,
			key: "receive_connectors[0].remote_ip_ranges", msgHas: "ExternalAuthoritative", fixHas: "narrow remote_ip_ranges",
		},
		{
			name: "max message size zero",
			doc: head + `limits:
  max_message_size: 0 #<-
`,
			key: "limits.max_message_size", msgHas: "must be positive", fixHas: "36MB",
		},
		{
			name: "bad byte size",
			doc: head + `limits:
  max_message_size: 36 MiBs #<-
`,
			key: "limits.max_message_size", msgHas: "unknown unit", fixHas: "512KB",
		},
		{
			name: "duration without unit",
			doc: head + `limits:
  read_timeout: 300 #<-
`,
			key: "limits.read_timeout", msgHas: "no unit", fixHas: "90s",
		},
		{
			name: "explicit zero limit",
			doc: head + `limits:
  max_connections: 0 #<-
`,
			key: "limits.max_connections", msgHas: "positive", fixHas: "default (5000)",
		},
		{
			name: "outbound connection limit not positive",
			doc: head + `limits:
  max_outbound_connections: -3 #<-
`,
			key: "limits.max_outbound_connections", msgHas: "-3 must be a positive number", fixHas: "default (100)",
		},
		{
			name: "retry interval not positive",
			doc: head + `queue:
  retry_intervals:
    - 1m
    - -5m #<-
`,
			key: "queue.retry_intervals[1]", msgHas: "not positive", fixHas: "5m",
		},
		{
			name: "empty retry schedule",
			doc: head + `queue:
  retry_intervals: [] #<-
`,
			key: "queue.retry_intervals", msgHas: "empty", fixHas: "1m, 5m",
		},
		{
			name: "unknown queue backend",
			doc: head + `queue:
  backend: mysql #<-
`,
			key: "queue.backend", msgHas: "not a queue backend", fixHas: "postgres",
		},
		{
			name: "dsn without the postgres backend",
			doc: head + `queue:
  dsn: postgres://u:p@127.0.0.1/q #<-
`,
			key: "queue.dsn", msgHas: "backend is bbolt", fixHas: "backend: postgres",
		},
		{
			name: "dsn and dsn_file",
			doc: head + `queue:
  backend: postgres
  dsn: postgres://u:p@127.0.0.1/q
  dsn_file: queue.dsn #<-
`,
			key: "queue.dsn_file", msgHas: "both", fixHas: "MAILFLOW_QUEUE_DSN",
		},
		{
			name: "address space",
			doc: head + `send_connectors:
  - name: Out
    address_spaces: ["*.", "contoso.com"] #<-
`,
			key: "send_connectors[0].address_spaces[0]", msgHas: "not an address space", fixHas: "*.contoso.com",
		},
		{
			name: "send connector without address spaces",
			doc: head + `send_connectors:
  - name: Out #<-
    smart_hosts: [mail.contoso.com]
`,
			key: "send_connectors[0].address_spaces", msgHas: "no address spaces", fixHas: "address_spaces:",
		},
		{
			name: "smart host port",
			doc: head + `send_connectors:
  - name: Out
    address_spaces: [contoso.com]
    smart_hosts: ["mail.contoso.com:99999"] #<-
`,
			key: "send_connectors[0].smart_hosts[0]", msgHas: "1 to 65535", fixHas: "192.0.2.10:2525",
		},
		{
			name: "smart host name",
			doc: head + `send_connectors:
  - name: Out
    address_spaces: [contoso.com]
    smart_hosts: ["mail_contoso.com"] #<-
`,
			key: "send_connectors[0].smart_hosts[0]", msgHas: "contains", fixHas: "host name",
		},
		{
			name: "tls auth level value",
			doc: head + `send_connectors:
  - name: Out
    address_spaces: [contoso.com]
    require_tls: true
    tls_auth_level: DomainValidaton #<-
`,
			key: "send_connectors[0].tls_auth_level", msgHas: "not a TLS authentication level", fixHas: "did you mean DomainValidation?",
		},
		{
			name: "tls auth level without require_tls",
			doc: head + `send_connectors:
  - name: Out
    address_spaces: [contoso.com]
    tls_auth_level: CertificateValidation #<-
`,
			key: "send_connectors[0].tls_auth_level", msgHas: "require_tls: true", fixHas: "set require_tls: true",
		},
		{
			name: "tls domain wildcard not left-most",
			doc: head + `send_connectors:
  - name: Out
    address_spaces: [contoso.com]
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: "mail.*.contoso.com" #<-
`,
			key: "send_connectors[0].tls_domain", msgHas: "left-most", fixHas: "*.contoso.com",
		},
		{
			name: "tls domain without DomainValidation",
			doc: head + `send_connectors:
  - name: Out
    address_spaces: [contoso.com]
    require_tls: true
    tls_domain: mail.contoso.com #<-
`,
			key: "send_connectors[0].tls_domain", msgHas: "only checked with tls_auth_level DomainValidation", fixHas: "DomainValidation",
		},
		{
			name: "source ip",
			doc: head + `send_connectors:
  - name: Out
    address_spaces: [contoso.com]
    source_ip: 127.0.0.300 #<-
`,
			key: "send_connectors[0].source_ip", msgHas: "not a local IP address", fixHas: "127.0.0.2",
		},
		{
			name: "send connector port",
			doc: head + `send_connectors:
  - name: Out
    address_spaces: [contoso.com]
    port: 0 #<-
`,
			key: "send_connectors[0].port", msgHas: "not from 1 to 65535", fixHas: "25",
		},
		{
			name: "admin beyond loopback",
			doc: head + `admin:
  listen: 0.0.0.0:8025 #<-
  tls_certificate_name: "<I>CN=CA<S>CN=admin.contoso.com"
`,
			key: "admin.listen", msgHas: "reachable from other machines", fixHas: "allow_non_loopback: true",
		},
		{
			name: "admin beyond loopback without certificate",
			doc: head + `admin: #<-
  listen: 192.0.2.1:8025
  allow_non_loopback: true
`,
			key: "admin.tls_certificate_name", msgHas: "no TLS certificate", fixHas: "tls_certificate_name",
		},
		{
			name: "admin listen syntax",
			doc: head + `admin:
  listen: "8025" #<-
`,
			key: "admin.listen", msgHas: "not IP:port", fixHas: "127.0.0.1:8025",
		},
		{
			name: "metrics listen syntax",
			doc: head + `metrics:
  listen: "metrics.local" #<-
`,
			key: "metrics.listen", msgHas: "not IP:port", fixHas: "127.0.0.1:9125",
		},
		{
			name: "metrics listen host",
			doc: head + `metrics:
  listen: "prometheus:9125" #<-
`,
			key: "metrics.listen", msgHas: "not an IP address", fixHas: "remove the key",
		},
		{
			name: "pfx with key file",
			doc: head + `certificates:
  - file: certs/a.pfx
    key_file: certs/a.key #<-
`,
			key: "certificates[0].key_file", msgHas: "PFX file holds its own private key", fixHas: "remove key_file",
		},
		{
			name: "certificate listed twice",
			doc: head + `certificates:
  - file: certs/a.pem
  - file: ./certs/a.pem #<-
`,
			key: "certificates[1].file", msgHas: "listed twice", fixHas: "remove one",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantKey := tt.key
			wantLine := markedLine(t, tt.doc)
			cfg, err := Parse("test.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse accepted the file: %+v", cfg)
			}
			if cfg != nil {
				t.Error("Parse returned a Config with an error")
			}
			es := AsErrors(err)
			if len(es) == 0 {
				t.Fatalf("error is not a config error: %v", err)
			}
			var found *Error
			for _, e := range es {
				if e.Key == wantKey && strings.Contains(e.Msg, tt.msgHas) {
					found = e
					break
				}
			}
			if found == nil {
				t.Fatalf("no error with key %s and message containing %q; got:\n%v", wantKey, tt.msgHas, err)
			}
			if found.File != "test.yaml" {
				t.Errorf("File = %q, want test.yaml", found.File)
			}
			if found.Line != wantLine {
				t.Errorf("Line = %d, want %d (%v)", found.Line, wantLine, found)
			}
			if found.Fix == "" || !strings.Contains(found.Fix, tt.fixHas) {
				t.Errorf("Fix = %q, want it to contain %q", found.Fix, tt.fixHas)
			}
			text := found.Error()
			if !strings.HasPrefix(text, "test.yaml:") || !strings.Contains(text, wantKey+": ") || !strings.Contains(text, "Fix: ") {
				t.Errorf("Error() = %q lacks file:line: key: … Fix:", text)
			}
			var one *Error
			if !errors.As(err, &one) {
				t.Error("errors.As cannot find an *Error")
			}
		})
	}
}

// TestNoFollowOnErrors: a value of the wrong type is reported once, not
// again by validation as missing or empty.
func TestNoFollowOnErrors(t *testing.T) {
	doc := head + `receive_connectors:
  - name: A
    bindings: "0.0.0.0:25"
`
	_, err := Parse("t.yaml", []byte(doc))
	es := AsErrors(err)
	if len(es) != 1 {
		t.Fatalf("want exactly one error, got %d:\n%v", len(es), err)
	}
}

// TestAllErrorsAtOnce: several problems come back together, one per line,
// sorted by line.
func TestAllErrorsAtOnce(t *testing.T) {
	doc := `server:
  name: S1
accepted_domains: ["bad domain"]
receive_connectors:
  - name: A
    bindings: ["nope"]
    remote_ip_ranges: ["10.0.0.0/33"]
`
	_, err := Parse("t.yaml", []byte(doc))
	es := AsErrors(err)
	wantKeys := []string{"server.fqdn", "accepted_domains[0]", "receive_connectors[0].bindings[0]", "receive_connectors[0].remote_ip_ranges[0]"}
	if len(es) != len(wantKeys) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(wantKeys), err)
	}
	for i, k := range wantKeys {
		if es[i].Key != k {
			t.Errorf("error %d key = %s, want %s", i, es[i].Key, k)
		}
		if i > 0 && es[i].Line < es[i-1].Line {
			t.Errorf("errors not sorted by line: %d after %d", es[i].Line, es[i-1].Line)
		}
	}
	if n := strings.Count(err.Error(), "\n"); n != len(wantKeys)-1 {
		t.Errorf("Error() has %d newlines, want one problem per line", n)
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		line      int
		msgHas    string
	}{
		{"tab indentation", "server:\n\tname: S1\n", 2, "YAML syntax"},
		{"bad mapping", "server:\n  name: S1\n  fqdn: a: b\n", 3, "YAML syntax"},
		{"empty file", "", 1, "empty"},
		{"comment only", "# nothing\n", 1, "empty"},
		{"not a mapping", "- a\n- b\n", 1, "must be a mapping"},
		{"second document", head + "---\nserver:\n  name: S2\n", 4, "second YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.doc))
			es := AsErrors(err)
			if len(es) != 1 {
				t.Fatalf("want one error, got %v", err)
			}
			e := es[0]
			if e.Line != tt.line || !strings.Contains(e.Msg, tt.msgHas) || e.Fix == "" {
				t.Errorf("got line %d msg %q fix %q; want line %d and %q", e.Line, e.Msg, e.Fix, tt.line, tt.msgHas)
			}
		})
	}
}

// TestAcceptedVariants: values that must load: canonicalised enums,
// nested ranges on a shared binding, anchors and merge keys.
func TestAcceptedVariants(t *testing.T) {
	doc := head + `x-common: &common
  bindings: ["0.0.0.0:25"]
  auth_mechanism: [tls]
receive_connectors:
  - name: Internet
    <<: *common
    remote_ip_ranges: ["0.0.0.0-255.255.255.255", "::/0"]
    permission_groups: [anonymoususers]
    protocol_logging_level: verbose
  - name: Partners
    <<: *common
    remote_ip_ranges: ["192.0.2.0/24"]
  - name: One host
    <<: *common
    remote_ip_ranges: ["192.0.2.75"]
  - name: Other port, same ranges
    bindings: ["0.0.0.0:2525"]
    remote_ip_ranges: ["192.0.2.75"]
  - name: Disabled duplicate
    enabled: false
    bindings: ["0.0.0.0:25"]
    remote_ip_ranges: ["192.0.2.75"]
  - name: Specific address, same range
    bindings: ["127.0.0.1:25"]
    remote_ip_ranges: ["192.0.2.0/24"]
`
	// x-common is not a key of the model: the file must be refused with
	// a clear message, and accepted once the anchor lives in a known place.
	if _, err := Parse("t.yaml", []byte(doc)); err == nil || !strings.Contains(err.Error(), `unknown key "x-common"`) {
		t.Fatalf("want unknown key x-common, got %v", err)
	}
	doc = strings.Replace(doc, "x-common: &common\n  bindings: [\"0.0.0.0:25\"]\n  auth_mechanism: [tls]\n", "", 1)
	doc = strings.Replace(doc, "  - name: Internet\n    <<: *common\n", "  - name: Internet\n    <<: &common\n      bindings: [\"0.0.0.0:25\"]\n      auth_mechanism: [tls]\n", 1)
	cfg, err := Parse("t.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	rc := cfg.ReceiveConnector("internet")
	if rc == nil {
		t.Fatal("ReceiveConnector is not case-insensitive")
	}
	if rc.AuthMechanism[0] != "Tls" || rc.PermissionGroups[0] != "AnonymousUsers" || rc.ProtocolLoggingLevel != "Verbose" {
		t.Errorf("values not canonicalised: %v %v %s", rc.AuthMechanism, rc.PermissionGroups, rc.ProtocolLoggingLevel)
	}
	if p := cfg.ReceiveConnector("Partners"); p == nil || len(p.Bindings) != 1 || p.Bindings[0] != "0.0.0.0:25" {
		t.Errorf("merge key not applied: %+v", p)
	}
	if !rc.LoggingVerbose() || cfg.ReceiveConnector("Partners").LoggingVerbose() {
		t.Error("LoggingVerbose wrong")
	}
	if cfg.ReceiveConnector("Disabled duplicate").IsEnabled() || !rc.IsEnabled() {
		t.Error("IsEnabled wrong")
	}
}

func TestValidateMTASTSAndTLSRPT(t *testing.T) {
	base := "server: {name: S1, fqdn: mail.contoso.com}\nsend_connectors:\n  - name: Internet\n    address_spaces: [\"*\"]\n"
	c, err := Parse("m.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.SendConnectors[0].MTASTS != MTASTSEnforce || !c.TLSRPT.Sending() || c.TLSRPT.From != "postmaster@mail.contoso.com" {
		t.Fatalf("defaults: %q %+v", c.SendConnectors[0].MTASTS, c.TLSRPT)
	}
	c, err = Parse("m.yaml", []byte(base+"    mta_sts: OFF\ntls_rpt: {send_reports: false}\n"))
	if err != nil || c.SendConnectors[0].MTASTS != MTASTSOff || c.TLSRPT.Sending() {
		t.Fatalf("off: %v %+v", err, c)
	}
	_, err = Parse("m.yaml", []byte(base+"    mta_sts: strict\ntls_rpt: {from: not an address}\n"))
	for _, want := range []string{"m.yaml:5: send_connectors[0].mta_sts", "tls_rpt.from", "not an e-mail address"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// The domain and host forms Exchange administrators write are accepted:
// wildcard accepted domains, the Exchange address-space form with type and
// cost, and address-literal smart hosts ("[ip]", "[ip]:port": no DNS).
func TestAcceptedDomainAndHostForms(t *testing.T) {
	doc := head + `accepted_domains: [contoso.com, "*.fabrikam.com"]
send_connectors:
  - name: Out
    address_spaces: ["SMTP:*.contoso.com;1", "smtp:tailspin.com;5", "*"]
    smart_hosts: ["[192.0.2.1]", "[192.0.2.1]:2525", "[IPv6:2001:db8::25]:26"]
`
	cfg, err := Parse("t.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []string{"192.0.2.1:25", "192.0.2.1:2525", "[2001:db8::25]:26"}
	if got := cfg.SendConnectors[0].SmartHostAddresses(); !slices.Equal(got, want) {
		t.Errorf("SmartHostAddresses = %v, want %v", got, want)
	}
	if !cfg.IsAcceptedDomain("sub.fabrikam.com") || !cfg.SendConnectors[0].Matches("mail.contoso.com") {
		t.Error("wildcard patterns do not match")
	}
}
