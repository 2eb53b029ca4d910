package send

import (
	"time"

	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// TestConnectStages: the exported connection stage reports how far it got
// and the same failure Send records.
func TestConnectStages(t *testing.T) {
	p := testPKI(t)
	good := startServer(t, &smtptest.Server{Hostname: "mail.contoso.com", TLSConfig: testkit.ServerTLS(p.server)})
	plain := startServer(t, &smtptest.Server{})
	s := &Sender{Roots: p.roots, ServerFQDN: "server.fabrikam.com"}
	c := contosoConnector(0)
	c.Log = false

	tests := []struct {
		name   string
		target Target
		stage  Stage
		status string
	}{
		{name: "ready", target: Target{Host: "mail.contoso.com", IP: "127.0.0.1", Port: testkit.PortOf(t, good.Addr)}, stage: StageReady},
		{name: "refused", target: Target{Host: "mail.contoso.com", IP: "127.0.0.1", Port: testkit.PortOf(t, testkit.ClosedAddr(t))}, stage: StageConnect, status: StatusRefused},
		{name: "no STARTTLS", target: Target{Host: "mail.contoso.com", IP: "127.0.0.1", Port: testkit.PortOf(t, plain.Addr)}, stage: StageStartTLS, status: StatusCannotConnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cn := s.Connect(context.Background(), c, tt.target, "contoso.com", ConnectOptions{})
			if cn.Stage != tt.stage || (cn.Failure == nil) != (tt.status == "") || cn.Failure != nil && cn.Failure.Status != tt.status {
				t.Fatalf("stage %s failure %+v", cn.Stage, cn.Failure)
			}
			if cn.Failure != nil {
				if cn.Client() != nil || !strings.HasPrefix(cn.Failure.LastError.String(), "{LED="+tt.status) || cn.Failure.Stage != tt.stage {
					t.Errorf("failure = %+v", cn.Failure)
				}
				return
			}
			if cn.Client() == nil || cn.TLS == nil || !cn.TLS.Verdict.OK || cn.TLS.VersionID == 0 || len(cn.PeerChain) == 0 || !cn.STARTTLSOffered {
				t.Fatalf("connection = %+v", cn)
			}
			if _, ok := cn.TLSExtensions["STARTTLS"]; ok {
				t.Error("STARTTLS offered again under TLS")
			}
			if err := cn.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestConnectObservation: FinishHandshake completes a rejected handshake so
// the protocol and the certificate request can be seen; the failure is the
// same 4.7.320 as without it.
func TestConnectObservation(t *testing.T) {
	p := testPKI(t)
	wrong := testkit.Cert(t, certs.Template{Subject: "CN=SERVER1", SANs: []string{"SERVER1"}}, time.Now())
	cfg := testkit.ServerTLS(wrong)
	cfg.ClientAuth = tls.RequestClientCert
	srv := startServer(t, &smtptest.Server{TLSConfig: cfg})
	s := &Sender{Roots: p.roots, ServerFQDN: "server.fabrikam.com", Store: certs.NewStore(p.client)}
	c := contosoConnector(0)
	c.Log = false
	tgt := Target{Host: "mail.contoso.com", IP: "127.0.0.1", Port: testkit.PortOf(t, srv.Addr)}

	plain := s.Connect(context.Background(), c, tgt, "contoso.com", ConnectOptions{})
	observed := s.Connect(context.Background(), c, tgt, "contoso.com", ConnectOptions{FinishHandshake: true})
	for _, cn := range []*Connection{plain, observed} {
		if cn.Failure == nil || cn.Failure.Status != StatusCertificate || cn.Failure.Reason != string(tlscheck.SubjectMismatch) || cn.Stage != StageTLS {
			t.Fatalf("failure = %+v stage %s", cn.Failure, cn.Stage)
		}
	}
	if plain.Failure.Message != observed.Failure.Message {
		t.Errorf("messages differ:\n%s\n%s", plain.Failure.Message, observed.Failure.Message)
	}
	if plain.TLS.Version != "" || plain.TLS.ClientCertificateRequested {
		t.Errorf("an aborted handshake reported %q, requested %t", plain.TLS.Version, plain.TLS.ClientCertificateRequested)
	}
	if observed.TLS.Version == "" || !observed.TLS.ClientCertificateRequested || observed.TLS.ClientCertificate == nil {
		t.Errorf("observed TLS = %+v", observed.TLS)
	}

	// The server saw both sessions; drain them before the SNI cases.
	waitSession(t, srv)
	waitSession(t, srv)

	// SNI: the host name by default, overridable, none for "" — as sent
	// and as the server received it.
	for _, tt := range []struct {
		name *string
		want string
	}{{nil, "mail.contoso.com"}, {ptr("other.example"), "other.example"}, {ptr(""), ""}} {
		cn := s.Connect(context.Background(), c, tgt, "contoso.com", ConnectOptions{ServerName: tt.name, FinishHandshake: true})
		if cn.TLS == nil || cn.TLS.ServerName != tt.want {
			t.Errorf("SNI = %+v, want %q", cn.TLS, tt.want)
		}
		if sess := waitSession(t, srv); sess.TLS == nil || sess.TLS.ServerName != tt.want {
			t.Errorf("server saw SNI %+v, want %q", sess.TLS, tt.want)
		}
	}
}

func ptr(s string) *string { return &s }

// TestTargets resolves as Send does and reports DNS failures with Send's
// status.
func TestTargets(t *testing.T) {
	dns := &testkit.DNS{
		MX:    map[string][]*net.MX{"contoso.com": {{Host: "mx1.contoso.com.", Pref: 10}}, "null.example": {{Host: ".", Pref: 0}}},
		Hosts: map[string][]string{"mx1.contoso.com": {"127.0.0.1", "127.0.0.2"}},
		Fail:  map[string]error{"broken.example": errors.New("server misbehaving")},
	}
	s := &Sender{Resolver: dns}
	got, f := s.Targets(context.Background(), Connector{}, "contoso.com")
	if f != nil || len(got) != 2 || got[0] != (Target{Host: "mx1.contoso.com", IP: "127.0.0.1", Port: 25, FromMX: true}) || got[1].IP != "127.0.0.2" {
		t.Fatalf("targets = %+v %+v", got, f)
	}
	if got[0].Addr() != "127.0.0.1:25" {
		t.Errorf("addr = %s", got[0].Addr())
	}
	for domain, status := range map[string]string{"null.example": StatusNullMX, "broken.example": StatusDNSFailed} {
		_, f := s.Targets(context.Background(), Connector{}, domain)
		if f == nil || f.Status != status || f.Stage != StageResolve {
			t.Errorf("%s: %+v", domain, f)
		}
	}
}
