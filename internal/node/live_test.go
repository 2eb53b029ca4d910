package node_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// A valid live change reaches new sessions at once; a session that began
// before it finishes its transaction with the settings it started with.
func TestSetConnectorLiveKeepsSessionsInFlight(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.cfg)
	addr := srv.Receiver().Addrs()[0].String()
	a, b := f.pki.Server1, f.pki.Contoso

	// One session mid-transaction after STARTTLS, one connected but still
	// in plaintext.
	inTLS, err := testkit.DialTLS(addr)
	if err != nil {
		t.Fatal(err)
	}
	if inTLS.Thumbprint != a.Thumbprint {
		t.Fatalf("before the change the connector presents %s, want SERVER1 %s", inTLS.Thumbprint, a.Thumbprint)
	}
	if _, err := inTLS.Mail("sender@tenant.example", nil); err != nil {
		t.Fatal(err)
	}
	plain := dialPlain(t, addr)
	before := srv.Runtime()

	if err := srv.SetConnector("receive", "Default Frontend SERVER1", map[string]any{"tls_certificate_name": b.Name()}); err != nil {
		t.Fatalf("valid change refused: %v", err)
	}
	if srv.Runtime() == before {
		t.Fatal("the runtime was not swapped")
	}
	if got := testkit.Presented(t, addr); got != b.Thumbprint {
		t.Fatalf("new session after the change got %s, want mail.contoso.com %s", got, b.Thumbprint)
	}
	if code, err := inTLS.Finish("user@contoso.com", body("in flight")); code != 250 {
		t.Fatalf("session in flight across the change: %d %v", code, err)
	}
	if cs, _ := inTLS.TLSConnectionState(); len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0].Raw == nil {
		t.Fatal("session lost its TLS state")
	}
	inTLS.Quit()
	// A session accepted before the change keeps the connector it was
	// accepted with, certificate included, even for a later STARTTLS.
	if err := plain.Secure(); err != nil {
		t.Fatal(err)
	}
	if got := plain.Thumbprint; got != a.Thumbprint {
		t.Fatalf("session accepted before the change, STARTTLS after: %s, want SERVER1 %s", got, a.Thumbprint)
	}
	if code, err := plain.Send("sender@tenant.example", "user@contoso.com", body("plain then tls")); code != 250 {
		t.Fatalf("session accepted before the change: %d %v", code, err)
	}
	plain.Quit()

	// The file holds the change (comments kept) and a restart would agree.
	data := string(f.read(t))
	if !strings.Contains(data, `tls_certificate_name: "`+b.Name()+`"`) || !strings.Contains(data, "# live-change fixture") {
		t.Fatalf("file after the change:\n%s", data)
	}
	rt, err := node.Build(f.cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := rt.Recv.Connectors[0].Selection.Cert.Thumbprint; got != b.Thumbprint {
		t.Fatalf("a restart would present %s, want %s", got, b.Thumbprint)
	}
}

// An invalid change is refused with the error start-up gives for the same
// file, and changes nothing: file byte-identical, runtime and certificate
// unchanged. The same holds for SIGHUP's Reload of an invalid file.
func TestInvalidChangeRefusedAsAtStartup(t *testing.T) {
	const conn = "Default Frontend SERVER1"
	f := newFixture(t)
	srv := start(t, f.cfg)
	addr := srv.Receiver().Addrs()[0].String()
	good := f.read(t)
	nobody := "<I>CN=Nobody CA<S>CN=nobody.contoso.com"

	tests := []struct {
		name   string
		fields map[string]any
		// startup turns the good file into the file the change would
		// have written.
		startup func(string) string
		key     string
		msgHas  string
		fixHas  string
	}{
		{
			name:    "pin that matches no certificate",
			fields:  map[string]any{"tls_certificate_name": nobody},
			startup: func(s string) string { return strings.Replace(s, f.pki.Server1.Name(), nobody, 1) },
			key:     "receive_connectors[0].tls_certificate_name",
			msgHas:  "matches no loaded certificate with a private key",
			fixHas:  f.pki.Contoso.Name(),
		},
		{
			name:    "pin that is not a certificate name",
			fields:  map[string]any{"tls_certificate_name": "CN=mail.contoso.com"},
			startup: func(s string) string { return strings.Replace(s, f.pki.Server1.Name(), "CN=mail.contoso.com", 1) },
			key:     "receive_connectors[0].tls_certificate_name",
			msgHas:  "is not a certificate name",
			fixHas:  "<I>",
		},
		{
			name:   "bad remote IP range",
			fields: map[string]any{"remote_ip_ranges": []string{"10.0.0.300/8"}},
			startup: func(s string) string {
				return strings.Replace(s, `remote_ip_ranges: ["127.0.0.0/8"]`, `remote_ip_ranges: ["10.0.0.300/8"]`, 1)
			},
			key:    "receive_connectors[0].remote_ip_ranges[0]",
			msgHas: "is not an IP range",
			fixHas: "CIDR",
		},
		{
			name:   "unknown key",
			fields: map[string]any{"tls_certificat_name": f.pki.Contoso.Name()},
			startup: func(s string) string {
				return s + `    tls_certificat_name: "` + f.pki.Contoso.Name() + `"` + "\n"
			},
			key:    "receive_connectors[0].tls_certificat_name",
			msgHas: "unknown key",
			fixHas: "tls_certificate_name",
		},
		{
			name:   "require_tls without Tls",
			fields: map[string]any{"require_tls": true, "auth_mechanism": []string{"None"}},
			startup: func(s string) string {
				s = strings.Replace(s, "auth_mechanism: [Tls]", "auth_mechanism: [None]", 1)
				return strings.Replace(s, "    protocol_logging_level: Verbose\n", "    protocol_logging_level: Verbose\n    require_tls: true\n", 1)
			},
			key: "receive_connectors[0]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Runtime()
			err := srv.SetConnector("receive", conn, tt.fields)
			if err == nil {
				t.Fatal("invalid change accepted")
			}
			if got := f.read(t); !bytes.Equal(got, good) {
				t.Fatalf("refused change modified the file:\n%s", got)
			}
			if srv.Runtime() != before {
				t.Fatal("refused change swapped the runtime")
			}
			if got := testkit.Presented(t, addr); got != f.pki.Server1.Thumbprint {
				t.Fatalf("after a refused change new sessions get %s, want SERVER1 %s", got, f.pki.Server1.Thumbprint)
			}
			live := config.AsErrors(err)
			if len(live) == 0 {
				t.Fatalf("refusal is not a configuration error with file and line: %v", err)
			}
			first := live[0]
			if first.File != f.cfg || first.Line == 0 || !strings.HasPrefix(first.Key, tt.key) ||
				!strings.Contains(first.Msg, tt.msgHas) || !strings.Contains(first.Fix, tt.fixHas) || first.Fix == "" {
				t.Fatalf("refusal %q: want file %s, a line, key %s…, msg with %q, fix with %q", first, f.cfg, tt.key, tt.msgHas, tt.fixHas)
			}

			// Start-up and SIGHUP's reload of the file the change would
			// have written say exactly the same.
			f.write(t, tt.startup(string(good)))
			defer f.write(t, string(good))
			_, serr := node.Build(f.cfg, time.Now())
			if got, want := errorLines(live), errorLines(config.AsErrors(serr)); got != want {
				t.Fatalf("live refusal differs from start-up:\nlive:    %s\nstartup: %s (%v)", got, want, serr)
			}
			rerr := srv.Reload()
			if got, want := errorLines(config.AsErrors(rerr)), errorLines(live); got != want {
				t.Fatalf("reload of the invalid file said %q, want %q", got, want)
			}
			if srv.Runtime() != before {
				t.Fatal("refused reload swapped the runtime")
			}
			if got := testkit.Presented(t, addr); got != f.pki.Server1.Thumbprint {
				t.Fatalf("after a refused reload new sessions get %s", got)
			}
		})
	}
}

func errorLines(es config.Errors) string {
	var lines []string
	for _, e := range es {
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

// Unknown connectors and kinds are refused naming what exists.
func TestSetConnectorUnknownConnector(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.cfg)
	good := f.read(t)
	for _, tt := range []struct{ kind, name, want string }{
		{"receive", "Nope", `existing: "Default Frontend SERVER1"`},
		{"send", "Nope", "no send connector"},
		{"carrier-pigeon", "Default Frontend SERVER1", "use receive or send"},
	} {
		err := srv.SetConnector(tt.kind, tt.name, map[string]any{"fqdn": "x.contoso.com"})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SetConnector(%s, %s) = %v, want an error with %q", tt.kind, tt.name, err, tt.want)
		}
	}
	if !bytes.Equal(f.read(t), good) {
		t.Fatal("refused changes modified the file")
	}
}

// The offline path (CLI without a running server) refuses unknown keys
// with the same start-up error.
func TestSetConnectorFieldsOfflineUnknownKey(t *testing.T) {
	f := newFixture(t)
	good := f.read(t)
	err := config.SetConnectorFields(f.cfg, "receive", "Default Frontend SERVER1", map[string]any{"fqnd": "x.contoso.com"}, node.Check(time.Now(), nil))
	es := config.AsErrors(err)
	if len(es) != 1 || es[0].Key != "receive_connectors[0].fqnd" || es[0].Line == 0 || !strings.Contains(es[0].Fix, "fqdn") {
		t.Fatalf("offline unknown key: %v", err)
	}
	if !bytes.Equal(f.read(t), good) {
		t.Fatal("refused change modified the file")
	}
	// A known key still goes through.
	if err := config.SetConnectorFields(f.cfg, "receive", "Default Frontend SERVER1", map[string]any{"fqdn": "mail.contoso.com"}, node.Check(time.Now(), nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(f.read(t)), "fqdn: mail.contoso.com") {
		t.Fatal("valid offline change not written")
	}
}
