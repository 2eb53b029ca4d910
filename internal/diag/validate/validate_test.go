package validate

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/diag/probe/probetest"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/receive"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// validateWorld is one configuration with the receive side of the 450
// 4.7.320 SubjectMismatch case
// (Default Frontend SERVER1 for everyone, Inbound from Office 365 for
// 127.0.0.2 with mail.contoso.com pinned, a connector without TLS) and
// send connectors to test servers.
type validateWorld struct {
	pki        *probetest.PKI
	path       string
	rt         *node.Runtime
	port       int // receive connectors' port on 127.0.0.1
	good       *smtptest.Server
	wrong      *smtptest.Server
	plain      *smtptest.Server
	tenantName string
}

func newValidateWorld(t *testing.T) *validateWorld {
	t.Helper()
	p := probetest.Lab(t)
	files := p.WriteFiles(t)
	w := &validateWorld{pki: p, tenantName: p.Tenant.Name()}
	w.port = testkit.FreePort(t)
	goodCfg := probetest.TLSConfig(p.Contoso)
	goodCfg.ClientAuth = tls.RequestClientCert
	w.good = probetest.SMTP(t, &smtptest.Server{Hostname: "mail.contoso.com", TLSConfig: goodCfg})
	w.wrong = probetest.SMTP(t, &smtptest.Server{TLSConfig: probetest.TLSConfig(p.Server1)})
	w.plain = probetest.SMTP(t, &smtptest.Server{})
	port := strconv.Itoa(w.port)
	yaml := `server:
  name: SERVER1
  fqdn: server1.contoso.local
  data_dir: ` + filepath.Join(t.TempDir(), "data") + `
accepted_domains: [contoso.com]
trust:
  system_roots: false
  ca_files: [lab-ca.pem]
certificates:
  - file: server1-selfsigned.pem
  - file: mail-contoso.pfx
    password_file: mail-contoso.pass
  - file: tenant.pem
receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:` + port + `"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    fqdn: server1.contoso.local
    auth_mechanism: [Tls]
  - name: Inbound from Office 365
    bindings: ["127.0.0.1:` + port + `"]
    remote_ip_ranges: ["127.0.0.2/32"]
    fqdn: mail.contoso.com
    auth_mechanism: [Tls]
    tls_certificate_name: "<I>CN=Contoso Lab CA, O=Contoso Lab, C=US<S>CN=mail.contoso.com"
  - name: Relay without TLS
    bindings: ["127.0.0.1:` + strconv.Itoa(w.port+1) + `"]
    remote_ip_ranges: ["127.0.0.0/8"]
    fqdn: relay.contoso.local
    auth_mechanism: [None]
send_connectors:
  - name: Outbound to contoso
    address_spaces: [contoso.com]
    smart_hosts: ["` + w.good.Addr + `"]
    fqdn: mail.protection.outlook.com
    source_ip: 127.0.0.2
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: mail.contoso.com
    tls_certificate_name: "` + w.tenantName + `"
  - name: Outbound to the wrong certificate
    address_spaces: [wrong.example]
    smart_hosts: ["` + w.wrong.Addr + `"]
    fqdn: mail.protection.outlook.com
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: mail.contoso.com
  - name: Outbound without STARTTLS
    address_spaces: [plain.example]
    smart_hosts: ["` + w.plain.Addr + `"]
    fqdn: mail.protection.outlook.com
    require_tls: true
  - name: Outbound by MX
    address_spaces: [mx.example]
    fqdn: mail.protection.outlook.com
`
	w.path = probetest.WriteFile(t, files.Dir, "mailflow.yaml", yaml)
	cfg, err := config.Load(w.path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	w.rt, err = node.BuildFrom(cfg, probetest.Now)
	if err != nil {
		t.Fatalf("runtime: %v", err)
	}
	return w
}

// refuseAll is a Submitter for a receive server that never gets a message
// in these tests.
type refuseAll struct{}

func (refuseAll) PutBody(context.Context, queue.Envelope, queue.Body) (string, error) {
	return "", errors.New("the probe tests accept no mail")
}

// serveReceive runs the world's receive connectors: a real mailflow
// receive side.
func (w *validateWorld) serveReceive(t *testing.T) {
	t.Helper()
	srv := receive.NewService(receive.Options{Submitter: refuseAll{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.Apply(w.rt.Recv); err != nil {
		t.Skipf("cannot listen on the chosen ports: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
}

// TestProbeSourceLandsOnOtherCertificate: against a real mailflow receive
// side, --source 127.0.0.2 lands on the IP-scoped connector and meets its
// certificate; the offline validation of each connector predicts exactly
// the certificate the probe then observes.
func TestProbeSourceLandsOnOtherCertificate(t *testing.T) {
	w := newValidateWorld(t)
	w.serveReceive(t)
	p := w.pki
	target := "127.0.0.1:" + strconv.Itoa(w.port)
	for _, tt := range []struct {
		source, connector string
		cert              *certs.Certificate
		result            string
	}{
		{source: "", connector: "Default Frontend SERVER1", cert: p.Server1, result: probe.Fail},
		{source: "127.0.0.2", connector: "Inbound from Office 365", cert: p.Contoso, result: probe.Pass},
	} {
		t.Run(tt.connector, func(t *testing.T) {
			r := probe.Run(context.Background(), probe.Options{
				Target: target, Source: tt.source, EHLO: "mail.protection.outlook.com", Level: tlscheck.DomainValidation,
				Expect: "mail.contoso.com", Roots: probetest.LabRoots(t), Now: probetest.Clock,
				ConnectTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second,
			})
			if r.Verdict.Result != tt.result || r.TLS == nil || len(r.TLS.Chain) == 0 {
				t.Fatalf("verdict = %+v", r.Verdict)
			}
			if got := r.TLS.Chain[0].Thumbprint; got != tt.cert.Thumbprint {
				t.Errorf("presented %s, want %s (%s)", got, tt.cert.Thumbprint, tt.cert.Subject)
			}
			if tt.source != "" && r.Source != tt.source {
				t.Errorf("connected from %s", r.Source)
			}
			v, err := Connector(context.Background(), w.rt, tt.connector, "receive", Options{
				Level: tlscheck.DomainValidation, Expect: "mail.contoso.com", Now: probetest.Clock})
			if err != nil {
				t.Fatal(err)
			}
			if v.Receive.Certificate == nil || v.Receive.Certificate.Thumbprint != r.TLS.Chain[0].Thumbprint || v.Result != tt.result {
				t.Errorf("validation predicted %+v (%s), the probe saw %s (%s)", v.Receive.Certificate, v.Result, r.TLS.Chain[0].Thumbprint, r.Verdict.Result)
			}
		})
	}
}

// TestValidateReceive judges receive connectors offline.
func TestValidateReceive(t *testing.T) {
	w := newValidateWorld(t)
	p := w.pki
	tests := []struct {
		name, connector, expect string
		level                   tlscheck.Level
		result, status, reason  string
		recommended             *certs.Certificate
		elsewhere               string
	}{
		{name: "self-signed SERVER1 for mail.contoso.com", connector: "Default Frontend SERVER1", expect: "mail.contoso.com", level: tlscheck.DomainValidation,
			result: probe.Fail, status: send.StatusCertificate, reason: string(tlscheck.SubjectMismatch), recommended: p.Contoso, elsewhere: "127.0.0.2/32"},
		{name: "pinned mail.contoso.com", connector: "Inbound from Office 365", expect: "mail.contoso.com", level: tlscheck.DomainValidation, result: probe.Pass},
		{name: "default expectation is the connector FQDN", connector: "Default Frontend SERVER1", level: tlscheck.CertificateValidation,
			result: probe.Fail, status: send.StatusCertificate, reason: string(tlscheck.UntrustedRoot), recommended: p.Contoso},
		{name: "EncryptionOnly takes the self-signed", connector: "Default Frontend SERVER1", level: tlscheck.EncryptionOnly, result: probe.Pass},
		{name: "no TLS", connector: "Relay without TLS", expect: "relay.contoso.local", level: tlscheck.DomainValidation,
			result: probe.Fail, status: probe.StatusStartTLSRequired, reason: send.ReasonStartTLSAbsent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Connector(context.Background(), w.rt, tt.connector, "", Options{Level: tt.level, Expect: tt.expect, Now: probetest.Clock})
			if err != nil {
				t.Fatal(err)
			}
			rv := v.Receive
			if v.Kind != "receive" || v.Result != tt.result || rv.Verdict.Status != tt.status || rv.Verdict.Reason != tt.reason {
				t.Fatalf("result %s, verdict %+v", v.Result, rv.Verdict)
			}
			if tt.recommended != nil && (rv.Fix == nil || rv.Fix.Recommended == nil || rv.Fix.Recommended.Thumbprint != tt.recommended.Thumbprint) {
				t.Fatalf("fix = %+v", rv.Fix)
			}
			if tt.recommended != nil {
				want := `Set-ReceiveConnector "` + tt.connector + `" -TlsCertificateName "` + tt.recommended.Name() + `"`
				if rv.Fix.Exchange != want {
					t.Errorf("exchange = %q, want %q", rv.Fix.Exchange, want)
				}
			}
			if tt.elsewhere != "" && (len(rv.Elsewhere) != 1 || rv.Elsewhere[0].Range != tt.elsewhere || rv.Elsewhere[0].Connector != "Inbound from Office 365") {
				t.Errorf("elsewhere = %+v", rv.Elsewhere)
			}
			var buf bytes.Buffer
			if err := v.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), "mailflow probe 127.0.0.1:") && tt.connector != "Relay without TLS" {
				t.Errorf("no live check command:\n%s", buf.String())
			}
			if v.ExitCode() != map[string]int{probe.Pass: 0, probe.Fail: 1}[tt.result] {
				t.Errorf("exit %d", v.ExitCode())
			}
		})
	}
	// The live check lands on the IP-scoped connector.
	v, _ := Connector(context.Background(), w.rt, "Inbound from Office 365", "", Options{Level: tlscheck.DomainValidation, Expect: "mail.contoso.com", Now: probetest.Clock})
	if !strings.Contains(v.Receive.ProbeCommand, "--source 127.0.0.2") {
		t.Errorf("probe command = %q", v.Receive.ProbeCommand)
	}
}

// TestValidateSend tests send connectors host by host through the sender's
// own connection code, with the connector's source IP, policy and client
// certificate, and sends a test message.
func TestValidateSend(t *testing.T) {
	w := newValidateWorld(t)
	v, err := Connector(context.Background(), w.rt, "Outbound to contoso", "", Options{
		SendTest: "admin@contoso.com", From: "tenant@tenant.example", Now: probetest.Clock})
	if err != nil {
		t.Fatal(err)
	}
	sv := v.Send
	if v.Kind != "send" || v.Result != probe.Pass || len(sv.Hosts) != 1 || sv.Expect != "mail.contoso.com" {
		t.Fatalf("validation = %+v hosts %+v", v, sv.Hosts)
	}
	host := sv.Hosts[0]
	if host.Verdict.Result != probe.Pass || host.Source != "127.0.0.2" || host.TLS == nil || !host.TLS.ClientCertificateRequested ||
		host.TLS.ClientCertificate == nil || host.TLS.ClientCertificate.Thumbprint != w.pki.Tenant.Thumbprint {
		t.Fatalf("host = %+v TLS %+v", host.Verdict, host.TLS)
	}
	if sv.ClientCertificate == nil || sv.ClientCertificate.Thumbprint != w.pki.Tenant.Thumbprint {
		t.Errorf("client certificate = %+v", sv.ClientCertificate)
	}
	if sv.Test == nil || sv.Test.Outcome != "Delivered" {
		t.Fatalf("test = %+v", sv.Test)
	}
	// The server's view: two sessions (the check, the message), both from
	// 127.0.0.2 with the tenant's certificate; the second carried the message.
	var msgs []smtptest.Message
	for range 2 {
		s := <-w.good.Sessions()
		if ip, _, _ := net.SplitHostPort(s.Remote); ip != "127.0.0.2" {
			t.Errorf("session from %s", s.Remote)
		}
		if s.TLS == nil || len(s.TLS.PeerCertificates) == 0 || certs.Thumbprint(s.TLS.PeerCertificates[0].Raw) != w.pki.Tenant.Thumbprint {
			t.Errorf("session TLS = %+v", s.TLS)
		}
		msgs = append(msgs, s.Messages...)
	}
	if len(msgs) != 1 || msgs[0].Rcpts[0] != "admin@contoso.com" || !strings.Contains(msgs[0].Body, "Subject: mailflow connector validation: Outbound to contoso") {
		t.Errorf("messages = %+v", msgs)
	}
	var buf bytes.Buffer
	if err := v.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`✓ PASS  send connector "Outbound to contoso"`, "Source IP    127.0.0.2", "Test message tenant@tenant.example → admin@contoso.com", "✓ Delivered: 250"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, buf.String())
		}
	}

	for _, tt := range []struct {
		connector, status, reason, result string
	}{
		{connector: "Outbound to the wrong certificate", status: send.StatusCertificate, reason: string(tlscheck.SubjectMismatch), result: probe.Fail},
		// The connector's own status, not the cloud's 451 5.7.3.
		{connector: "Outbound without STARTTLS", status: send.StatusCannotConnect, reason: send.ReasonStartTLSAbsent, result: probe.Fail},
	} {
		v, err := Connector(context.Background(), w.rt, tt.connector, "send", Options{Now: probetest.Clock})
		if err != nil {
			t.Fatal(err)
		}
		h := v.Send.Hosts[0]
		if v.Result != tt.result || h.Verdict.Status != tt.status || h.Verdict.Reason != tt.reason || v.ExitCode() != 1 {
			t.Errorf("%s: %s %+v", tt.connector, v.Result, h.Verdict)
		}
	}

	// MX connectors need a domain; with one, its MX are tested.
	v, err = Connector(context.Background(), w.rt, "Outbound by MX", "", Options{Now: probetest.Clock})
	if err != nil || v.Result != probe.Error || v.ExitCode() != 2 {
		t.Errorf("MX without --domain: %v %+v", err, v)
	}
	dns := &probetest.DNS{MX: map[string][]*net.MX{"mx.example": {{Host: "mx1.mx.example.", Pref: 10}}}, Hosts: map[string][]string{"mx1.mx.example": {"127.0.0.1"}}}
	v, err = Connector(context.Background(), w.rt, "Outbound by MX", "", Options{Domain: "mx.example", Now: probetest.Clock,
		Resolver: dns, Dialer: probetest.Redirect(map[string]string{"127.0.0.1:25": w.plain.Addr})})
	if err != nil || v.Result != probe.Pass || len(v.Send.Hosts) != 1 || v.Send.Hosts[0].Host != "mx1.mx.example" {
		t.Errorf("MX with --domain (opportunistic TLS, no STARTTLS): %v %+v", err, v)
	} else if !strings.Contains(v.Send.Hosts[0].Verdict.Summary, "without TLS") {
		t.Errorf("summary = %q", v.Send.Hosts[0].Verdict.Summary)
	}

	if _, err := Connector(context.Background(), w.rt, "Nope", "", Options{}); err == nil || !strings.Contains(err.Error(), `"Outbound to contoso" (send)`) {
		t.Errorf("unknown connector: %v", err)
	}
	if _, err := Connector(context.Background(), w.rt, "Outbound to contoso", "receive", Options{}); err == nil {
		t.Error("a send connector was validated as a receive connector")
	}
}

// TestValidateJSONShape pins the JSON of a validation.
func TestValidateJSONShape(t *testing.T) {
	w := newValidateWorld(t)
	v, err := Connector(context.Background(), w.rt, "Default Frontend SERVER1", "", Options{Level: tlscheck.DomainValidation, Expect: "mail.contoso.com", Now: probetest.Clock})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Connector string `json:"connector"`
		Kind      string `json:"kind"`
		Result    string `json:"result"`
		Receive   struct {
			ID          string `json:"id"`
			Pinned      bool   `json:"pinned"`
			Sought      string `json:"sought"`
			Certificate struct {
				Thumbprint string `json:"thumbprint"`
			} `json:"certificate"`
			Elsewhere []ReceiveElsewhere `json:"elsewhere"`
			Verdict   struct {
				Status string `json:"status"`
				Reason string `json:"reason"`
			} `json:"verdict"`
			Fix struct {
				Mailflow string `json:"mailflow"`
			} `json:"fix"`
			ProbeCommand string `json:"probe_command"`
		} `json:"receive"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	r := m.Receive
	if m.Connector != "Default Frontend SERVER1" || m.Kind != "receive" || m.Result != "fail" || r.ID != `SERVER1\Default Frontend SERVER1` ||
		r.Pinned || r.Sought != "server1.contoso.local" || r.Certificate.Thumbprint != w.pki.Server1.Thumbprint ||
		r.Verdict.Reason != "SubjectMismatch" || !strings.HasPrefix(r.Fix.Mailflow, `mailflow connector set "Default Frontend SERVER1" --tls-certificate-name "<I>`) ||
		len(r.Elsewhere) != 1 || r.ProbeCommand == "" {
		t.Errorf("JSON = %s", b)
	}
	if _, err := os.Stat(w.path); err != nil {
		t.Fatal(err)
	}
}

// TestValidateReceiveByVersion judges the certificate an Exchange server of
// a given version would present, and names that version's fix.
func TestValidateReceiveByVersion(t *testing.T) {
	w := newValidateWorld(t)
	p := w.pki
	for _, tt := range []struct {
		name, connector string
		version         certs.Version
		result          string
		presents        *certs.Certificate
		note            bool
		exchange        string
		mailflow        string
	}{
		{name: "2010 ignores the pin and finds the same certificate by the FQDN", connector: "Inbound from Office 365", version: certs.Exchange2010,
			result: probe.Pass, presents: p.Contoso, note: true},
		{name: "2013 honours the pin", connector: "Inbound from Office 365", version: certs.Exchange2013, result: probe.Pass, presents: p.Contoso},
		{name: "2010 Default Frontend: the fix is the FQDN", connector: "Default Frontend SERVER1", version: certs.Exchange2010,
			result: probe.Fail, presents: p.Server1, exchange: `Set-ReceiveConnector "Default Frontend SERVER1" -Fqdn mail.contoso.com`, mailflow: "--fqdn mail.contoso.com"},
		{name: "2016 Default Frontend: the fix is the pin", connector: "Default Frontend SERVER1", version: certs.Exchange2016,
			result: probe.Fail, presents: p.Server1, exchange: `-TlsCertificateName "` + p.Contoso.Name() + `"`, mailflow: "--tls-certificate-name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Connector(context.Background(), w.rt, tt.connector, "receive", Options{Level: tlscheck.DomainValidation, Expect: "mail.contoso.com", Now: probetest.Clock, Version: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			rv := v.Receive
			if v.Result != tt.result || rv.Certificate == nil || rv.Certificate.Thumbprint != tt.presents.Thumbprint {
				t.Fatalf("result %s, certificate %+v; want %s with %s", v.Result, rv.Certificate, tt.result, tt.presents.Subject)
			}
			if (rv.SelectionNote != "") != tt.note || rv.ExchangeVersion != string(tt.version) {
				t.Errorf("note %q, version %q", rv.SelectionNote, rv.ExchangeVersion)
			}
			if tt.exchange != "" && (rv.Fix == nil || !strings.Contains(rv.Fix.Exchange, tt.exchange) || !strings.Contains(rv.Fix.Mailflow, tt.mailflow)) {
				t.Errorf("fix %+v, want Exchange %q and mailflow %q", rv.Fix, tt.exchange, tt.mailflow)
			}
		})
	}
}
