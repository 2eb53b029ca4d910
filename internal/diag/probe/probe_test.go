package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/diag/probe/probetest"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// contosoDNS resolves mail.contoso.com to 127.0.0.1.
func contosoDNS() *probetest.DNS {
	return &probetest.DNS{Hosts: map[string][]string{"mail.contoso.com": {"127.0.0.1"}}}
}

// probeContoso probes mail.contoso.com:25, redirected to addr.
func probeContoso(addr string, level tlscheck.Level, roots *x509.CertPool) Options {
	return Options{
		Target: "mail.contoso.com", EHLO: "mail.protection.outlook.com", Level: level, Roots: roots,
		Now: probetest.Clock, Resolver: contosoDNS(), Dialer: probetest.Redirect(map[string]string{"127.0.0.1:25": addr}),
		ConnectTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second,
	}
}

// TestProbeVerdicts covers every verdict a validating sender can reach,
// with the status it records and the exit code.
func TestProbeVerdicts(t *testing.T) {
	p := probetest.Lab(t)
	roots := probetest.LabRoots(t)
	expired := probetest.GenCert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.CA,
		NotBefore: probetest.Now.AddDate(-2, 0, 0), NotAfter: probetest.Now.AddDate(0, 0, -3)})
	selfSignedRightName := probetest.GenCert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}})
	soon := probetest.GenCert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.CA,
		NotBefore: probetest.Now.AddDate(-1, 0, 0), NotAfter: probetest.Now.AddDate(0, 0, 10)})

	tlsServer := func(c *certs.Certificate) string {
		return probetest.SMTP(t, &smtptest.Server{TLSConfig: probetest.TLSConfig(c)}).Addr
	}
	plain := probetest.SMTP(t, &smtptest.Server{}).Addr
	refuseTLS := probetest.SMTP(t, &smtptest.Server{TLSConfig: probetest.TLSConfig(p.Contoso), Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		if cmd.Verb == "STARTTLS" {
			return smtp.Reply{Code: 454, Enhanced: "4.7.0", Lines: []string{"TLS not available due to temporary reason"}}, true
		}
		return smtp.Reply{}, false
	}}).Addr
	rude := probetest.SMTP(t, &smtptest.Server{Banner: &smtp.Reply{Code: 554, Enhanced: "5.7.1", Lines: []string{"go away"}}}).Addr

	tests := []struct {
		name    string
		addr    string
		level   tlscheck.Level
		expect  string
		result  string
		status  string
		reason  string
		exit    int
		finding string // a finding that must be present
	}{
		{name: "pass DomainValidation", addr: tlsServer(p.Contoso), level: tlscheck.DomainValidation, result: Pass, exit: 0},
		{name: "pass DomainValidation through a SAN", addr: tlsServer(p.SANOnly), level: tlscheck.DomainValidation, result: Pass, exit: 0},
		{name: "pass CertificateValidation whatever the name", addr: tlsServer(p.Tenant), level: tlscheck.CertificateValidation, result: Pass, exit: 0},
		{name: "pass EncryptionOnly with self-signed", addr: tlsServer(p.Server1), level: tlscheck.EncryptionOnly, result: Pass, exit: 0, finding: "self-signed"},
		{name: "SubjectMismatch", addr: tlsServer(p.Server1), level: tlscheck.DomainValidation, result: Fail,
			status: send.StatusCertificate, reason: string(tlscheck.SubjectMismatch), exit: 1},
		{name: "SubjectMismatch with another expected name", addr: tlsServer(p.Contoso), level: tlscheck.DomainValidation, expect: "smtp.fabrikam.com",
			result: Fail, status: send.StatusCertificate, reason: string(tlscheck.SubjectMismatch), exit: 1},
		{name: "expired", addr: tlsServer(expired), level: tlscheck.DomainValidation, result: Fail,
			status: send.StatusCertificate, reason: string(tlscheck.CertificateExpired), exit: 1},
		{name: "untrusted root", addr: tlsServer(selfSignedRightName), level: tlscheck.DomainValidation, result: Fail,
			status: send.StatusCertificate, reason: string(tlscheck.UntrustedRoot), exit: 1},
		{name: "issuer unknown", addr: tlsServer(p.Untrusted), level: tlscheck.CertificateValidation, result: Fail,
			status: send.StatusCertificate, reason: string(tlscheck.IncompleteChain), exit: 1},
		{name: "expires soon", addr: tlsServer(soon), level: tlscheck.DomainValidation, result: Pass, exit: 0, finding: "expires in 10 days"},
		{name: "STARTTLS not offered", addr: plain, level: tlscheck.DomainValidation, result: Fail,
			status: StatusStartTLSRequired, reason: send.ReasonStartTLSAbsent, exit: 1},
		{name: "STARTTLS not offered, EncryptionOnly still requires TLS", addr: plain, level: tlscheck.EncryptionOnly, result: Fail,
			status: StatusStartTLSRequired, reason: send.ReasonStartTLSAbsent, exit: 1},
		{name: "STARTTLS refused", addr: refuseTLS, level: tlscheck.DomainValidation, result: Fail,
			status: send.StatusCannotConnect, reason: send.ReasonStartTLS, exit: 1},
		{name: "refused", addr: probetest.ClosedAddr(t), level: tlscheck.DomainValidation, result: Error,
			status: send.StatusRefused, reason: send.ReasonRefused, exit: 2},
		{name: "bad banner", addr: rude, level: tlscheck.DomainValidation, result: Error,
			status: send.StatusCannotConnect, reason: send.ReasonCannotConnect, exit: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := probeContoso(tt.addr, tt.level, roots)
			opts.Expect = tt.expect
			r := Run(context.Background(), opts)
			v := r.Verdict
			if v.Result != tt.result || v.Status != tt.status || v.Reason != tt.reason || r.ExitCode() != tt.exit {
				t.Fatalf("verdict = %s %q %q exit %d, want %s %q %q exit %d\n%+v", v.Result, v.Status, v.Reason, r.ExitCode(),
					tt.result, tt.status, tt.reason, tt.exit, v)
			}
			if tt.status != "" && !strings.HasPrefix(v.Detail, "{LED="+tt.status+" [Message=") {
				t.Errorf("detail = %q", v.Detail)
			}
			if tt.status == send.StatusCertificate {
				if !strings.HasPrefix(v.Message, tt.reason+" ") || !strings.Contains(v.Message, "Thumbprint: "+r.TLS.Chain[0].Thumbprint) {
					t.Errorf("message = %q", v.Message)
				}
				if r.TLS.Version == "" {
					t.Error("the handshake was not finished for the report")
				}
			}
			if tt.result != Pass && (r.Fix == nil || len(r.Fix.Steps) == 0) {
				t.Errorf("no fix for %s", tt.name)
			}
			if tt.finding != "" && !hasFinding(r, tt.finding) {
				t.Errorf("no finding %q in %+v", tt.finding, r.Findings)
			}
			var buf bytes.Buffer
			if err := r.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			if tt.status != "" && !strings.Contains(buf.String(), tt.status) {
				t.Errorf("text report lacks %q:\n%s", tt.status, buf.String())
			}
		})
	}
}

func hasFinding(r *Report, want string) bool {
	for _, f := range r.Findings {
		if strings.Contains(f.Text, want) {
			return true
		}
	}
	return false
}

// TestProbeTimeouts: a connect that never completes and a server that never
// greets both give 450 4.4.315, "could not test".
func TestProbeTimeouts(t *testing.T) {
	// The dialer blocks until the probe's connect timeout cancels it, as a
	// dropped SYN does.
	blocked := func(ctx context.Context, _, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	// A listener that accepts and says nothing.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := silent.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	defer func() {
		select {
		case c := <-accepted:
			c.Close()
		default:
		}
	}()

	for _, tt := range []struct {
		name  string
		opts  Options
		stage send.Stage
	}{
		{name: "connect", stage: send.StageConnect, opts: Options{Target: "mail.contoso.com", Resolver: contosoDNS(), Dialer: blocked,
			ConnectTimeout: 50 * time.Millisecond, Now: probetest.Clock}},
		{name: "greeting", stage: send.StageGreeting, opts: Options{Target: "mail.contoso.com", Resolver: contosoDNS(),
			Dialer: probetest.Redirect(map[string]string{"127.0.0.1:25": silent.Addr().String()}), CommandTimeout: 100 * time.Millisecond, Now: probetest.Clock}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Run(context.Background(), tt.opts)
			if r.Verdict.Status != send.StatusTimedOut || r.Verdict.Reason != send.ReasonTimedOut || r.ExitCode() != 2 || r.Stage != tt.stage {
				t.Fatalf("verdict = %+v, stage %s", r.Verdict, r.Stage)
			}
			if r.Fix == nil || !strings.Contains(strings.Join(r.Fix.Steps, " "), "Test-NetConnection") {
				t.Errorf("fix = %+v", r.Fix)
			}
		})
	}
}

// TestProbeDNSFailure: a host that does not resolve gives 4.4.312.
func TestProbeDNSFailure(t *testing.T) {
	r := Run(context.Background(), Options{Target: "nowhere.contoso.com:2525", Resolver: &probetest.DNS{}, Now: probetest.Clock})
	if r.Verdict.Status != send.StatusDNSFailed || r.ExitCode() != 2 || r.Stage != send.StageResolve || r.Port != 2525 {
		t.Fatalf("report = %+v", r)
	}
}

// TestProbeClientCertificate: whether the server asked for a client
// certificate, and what was presented, as the server saw it.
func TestProbeClientCertificate(t *testing.T) {
	p := probetest.Lab(t)
	roots := probetest.LabRoots(t)
	withAuth := func(auth tls.ClientAuthType, cas bool) *smtptest.Server {
		cfg := probetest.TLSConfig(p.Contoso)
		cfg.ClientAuth = auth
		if cas {
			cfg.ClientCAs = roots
		}
		return probetest.SMTP(t, &smtptest.Server{TLSConfig: cfg})
	}
	tests := []struct {
		name      string
		srv       *smtptest.Server
		client    *certs.Certificate
		requested bool
		presented bool
		result    string
		cas       bool
	}{
		{name: "not requested", srv: withAuth(tls.NoClientCert, false), result: Pass},
		{name: "not requested, certificate given but not sent", srv: withAuth(tls.NoClientCert, false), client: p.Client, result: Pass},
		{name: "requested, none given", srv: withAuth(tls.RequestClientCert, false), requested: true, result: Pass},
		{name: "requested with CA names, presented", srv: withAuth(tls.VerifyClientCertIfGiven, true), client: p.Client, requested: true, presented: true, result: Pass, cas: true},
		{name: "required, none given", srv: withAuth(tls.RequireAnyClientCert, false), requested: true, result: Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := probeContoso(tt.srv.Addr, tlscheck.DomainValidation, roots)
			opts.ClientCertificate = tt.client
			r := Run(context.Background(), opts)
			sess := <-tt.srv.Sessions()
			if r.Verdict.Result != tt.result {
				t.Fatalf("verdict = %+v", r.Verdict)
			}
			if r.TLS == nil || r.TLS.ClientCertificateRequested != tt.requested || (r.TLS.ClientCertificate != nil) != tt.presented {
				t.Fatalf("TLS = %+v", r.TLS)
			}
			if tt.cas && (len(r.TLS.AcceptableCAs) != 1 || r.TLS.AcceptableCAs[0] != p.CA.Subject) {
				t.Errorf("acceptable CAs = %q, want [%s]", r.TLS.AcceptableCAs, p.CA.Subject)
			}
			// The server's own view of what it got.
			got := sess.TLS != nil && len(sess.TLS.PeerCertificates) > 0
			if tt.result == Pass && got != tt.presented {
				t.Errorf("server received a client certificate: %t, want %t", got, tt.presented)
			}
			if got && certs.Thumbprint(sess.TLS.PeerCertificates[0].Raw) != p.Client.Thumbprint {
				t.Errorf("server received %s", certs.FromX509(sess.TLS.PeerCertificates[0]).Subject)
			}
			if tt.requested && !tt.presented && !hasFinding(r, "none was presented") {
				t.Errorf("findings = %+v", r.Findings)
			}
		})
	}
}

// TestProbeLegacyTLS: the probe judges a TLS 1.0-only server and flags the
// protocol; the sender itself, with the same code path minus the
// diagnostic option, cannot talk to it.
func TestProbeLegacyTLS(t *testing.T) {
	p := probetest.Lab(t)
	roots := probetest.LabRoots(t)
	cfg := probetest.TLSConfig(p.Contoso)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
	srv := probetest.SMTP(t, &smtptest.Server{TLSConfig: cfg})

	r := Run(context.Background(), probeContoso(srv.Addr, tlscheck.DomainValidation, roots))
	if r.Verdict.Result != Pass || r.TLS == nil || r.TLS.Version != "TLS 1.0" || !r.TLS.Legacy {
		t.Fatalf("verdict %+v TLS %+v", r.Verdict, r.TLS)
	}
	if !hasFinding(r, "older than TLS 1.2") {
		t.Errorf("findings = %+v", r.Findings)
	}

	s := &send.Sender{Roots: roots, ServerFQDN: "mail.protection.outlook.com", Now: probetest.Clock}
	c := send.Connector{Name: "cloud", Level: tlscheck.DomainValidation, TLSDomain: "mail.contoso.com", RequireTLS: true,
		ConnectTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second}
	cn := s.Connect(context.Background(), c, send.Target{Host: "127.0.0.1", IP: "127.0.0.1", Port: probetest.Port(t, srv.Addr)}, "", send.ConnectOptions{})
	if cn.Failure == nil || cn.Failure.Reason != send.ReasonTLS {
		t.Fatalf("the sender talked TLS 1.0: %+v", cn.Failure)
	}
}

// TestProbeJSONShape pins the JSON field names scripts rely on.
func TestProbeJSONShape(t *testing.T) {
	p := probetest.Lab(t)
	files := p.WriteFiles(t)
	store, _, err := LoadCertificateStore([]string{files.Dir}, files.ContosoPass)
	if err != nil {
		t.Fatal(err)
	}
	srv := probetest.SMTP(t, &smtptest.Server{TLSConfig: probetest.TLSConfig(p.Server1)})
	opts := probeContoso(srv.Addr, tlscheck.DomainValidation, probetest.LabRoots(t))
	opts.Certificates = store
	r := Run(context.Background(), opts)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var cur any = m
		for _, k := range strings.Split(path, ".") {
			switch c := cur.(type) {
			case map[string]any:
				cur = c[k]
			case []any:
				if len(c) == 0 {
					return nil
				}
				cur = c[0].(map[string]any)[k]
			default:
				return nil
			}
		}
		return cur
	}
	for path, want := range map[string]any{
		"target": "mail.contoso.com", "host": "mail.contoso.com", "port": 25.0, "ip": "127.0.0.1", "policy": "DomainValidation",
		"expect": "mail.contoso.com", "ehlo_name": "mail.protection.outlook.com", "starttls_offered": true, "stage": "tls",
		"verdict.result": "fail", "verdict.status": "450 4.7.320 Certificate validation failed", "verdict.reason": "SubjectMismatch",
		"verdict.check.ok": false, "verdict.check.level": "DomainValidation",
		"tls.version": "TLS 1.3", "tls.legacy": false, "tls.client_certificate_requested": false,
		"tls.chain.subject": "CN=SERVER1", "tls.chain.thumbprint": p.Server1.Thumbprint, "tls.chain.days_left": 730.0,
		"fix.needed_name": "mail.contoso.com", "fix.recommended.thumbprint": p.Renewed.Thumbprint,
		"fix.candidates.accepted": true, "fix.candidates.certificate.thumbprint": p.Renewed.Thumbprint,
	} {
		if got := get(path); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	for _, path := range []string{"time", "banner", "extensions", "findings", "verdict.message", "verdict.summary", "verdict.detail", "fix.steps", "fix.exchange", "fix.mailflow", "tls.cipher_suite"} {
		if get(path) == nil {
			t.Errorf("%s missing in %s", path, b)
		}
	}
}

// TestProbeFixFromCertificateDirectory: the fix names the certificate to
// pin out of an exported certificate folder (PEM, a PFX with its password
// file, the CA, stray files), following the pin rule: the renewal of
// mail.contoso.com (same issuer and subject, newest) is what the pin
// selects.
func TestProbeFixFromCertificateDirectory(t *testing.T) {
	p := probetest.Lab(t)
	files := p.WriteFiles(t)
	probetest.WriteFile(t, files.Dir, "README.txt", "exported from EX1 on 2025-05-30\n")
	store, warnings, err := LoadCertificateStore([]string{files.Dir}, files.ContosoPass)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("load: %v %q", err, warnings)
	}
	if n := len(store.All()); n != 7 {
		t.Fatalf("loaded %d certificates, want 7 (six with keys, the CA)", n)
	}
	srv := probetest.SMTP(t, &smtptest.Server{TLSConfig: probetest.TLSConfig(p.Server1)})
	opts := probeContoso(srv.Addr, tlscheck.DomainValidation, probetest.LabRoots(t))
	opts.Certificates = store
	opts.Connector = `SERVER1\Default Frontend SERVER1`
	r := Run(context.Background(), opts)
	if r.Fix == nil || r.Fix.Recommended == nil {
		t.Fatalf("fix = %+v", r.Fix)
	}
	if r.Fix.Recommended.Thumbprint != p.Renewed.Thumbprint {
		t.Errorf("recommended %s (%s), want the renewal %s", r.Fix.Recommended.Subject, r.Fix.Recommended.Thumbprint, p.Renewed.Thumbprint)
	}
	name := p.Renewed.Name()
	if want := `Set-ReceiveConnector "SERVER1\Default Frontend SERVER1" -TlsCertificateName "` + name + `"`; r.Fix.Exchange != want {
		t.Errorf("exchange = %q\nwant      %q", r.Fix.Exchange, want)
	}
	if want := `mailflow connector set "SERVER1\Default Frontend SERVER1" --tls-certificate-name "` + name + `"`; r.Fix.Mailflow != want {
		t.Errorf("mailflow = %q", r.Fix.Mailflow)
	}
	// Every certificate of the folder was judged; the CA last.
	if len(r.Fix.Candidates) != 7 || r.Fix.Candidates[6].Certificate.Thumbprint != p.CA.Thumbprint {
		t.Errorf("candidates = %d, last %+v", len(r.Fix.Candidates), r.Fix.Candidates[len(r.Fix.Candidates)-1].Certificate.Subject)
	}

	// Without --certs the fix says how to get the answer.
	opts.Certificates = nil
	r = Run(context.Background(), opts)
	if r.Fix == nil || r.Fix.Recommended != nil || !strings.Contains(strings.Join(r.Fix.Steps, "\n"), "--certs DIR") {
		t.Errorf("fix without --certs = %+v", r.Fix)
	}
}

// TestRecommendCertificate covers the ranking and the pin rule.
func TestRecommendCertificate(t *testing.T) {
	p := probetest.Lab(t)
	roots := probetest.LabRoots(t)
	// A bad "renewal": same issuer and subject, newer, so the pin selects
	// it — and its 1024-bit key fails.
	badRenewal := probetest.GenCert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.CA, KeyType: "rsa1024",
		NotBefore: probetest.Now.Add(-time.Minute), NotAfter: probetest.Now.AddDate(3, 0, 0)})
	wildcard := probetest.GenCert(t, certs.Template{Subject: "CN=*.contoso.com", SANs: []string{"*.contoso.com"}, Issuer: p.CA,
		NotAfter: probetest.Now.AddDate(5, 0, 0)})
	keyless, err := certs.New([]*x509.Certificate{p.Contoso.Leaf}, nil, "exported.cer")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		store  *certs.Store
		expect string
		level  tlscheck.Level
		want   *certs.Certificate
		reason string // a substring of the reasons
	}{
		{name: "CA-issued over self-signed", store: certs.NewStore(p.Server1, p.Contoso), expect: "mail.contoso.com", level: tlscheck.DomainValidation, want: p.Contoso},
		{name: "renewal wins by the pin rule", store: certs.NewStore(p.Contoso, p.Renewed, p.Server1), expect: "mail.contoso.com", level: tlscheck.DomainValidation, want: p.Renewed},
		{name: "exact name over wildcard", store: certs.NewStore(wildcard, p.SANOnly), expect: "mail.contoso.com", level: tlscheck.DomainValidation, want: p.SANOnly},
		{name: "wildcard when nothing else", store: certs.NewStore(wildcard, p.Server1), expect: "mail.contoso.com", level: tlscheck.DomainValidation, want: wildcard, reason: "through a wildcard"},
		{name: "pin selecting a refused renewal is passed over", store: certs.NewStore(p.Contoso, badRenewal, p.SANOnly), expect: "mail.contoso.com",
			level: tlscheck.DomainValidation, want: p.SANOnly, reason: "cannot be pinned alone"},
		{name: "none qualifies", store: certs.NewStore(p.Server1, p.Untrusted), expect: "mail.contoso.com", level: tlscheck.DomainValidation, want: nil, reason: "SubjectMismatch"},
		{name: "keyless is recommended with a note", store: certs.NewStore(keyless), expect: "mail.contoso.com", level: tlscheck.DomainValidation, want: keyless, reason: "private key is not in exported.cer"},
		{name: "CertificateValidation ignores names", store: certs.NewStore(p.Server1, p.Tenant), expect: "mail.contoso.com", level: tlscheck.CertificateValidation, want: p.Tenant},
		{name: "empty store", store: certs.NewStore(), expect: "mail.contoso.com", level: tlscheck.DomainValidation, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reasons := RecommendCertificate(tt.store, tt.expect, tt.level, roots, probetest.Now)
			if (got == nil) != (tt.want == nil) || got != nil && got.Thumbprint != tt.want.Thumbprint {
				t.Fatalf("got %v, want %v\n%s", subjectOf(got), subjectOf(tt.want), strings.Join(reasons, "\n"))
			}
			if len(reasons) < len(tt.store.All()) {
				t.Errorf("%d reasons for %d certificates", len(reasons), len(tt.store.All()))
			}
			if tt.reason != "" && !strings.Contains(strings.Join(reasons, "\n"), tt.reason) {
				t.Errorf("reasons lack %q:\n%s", tt.reason, strings.Join(reasons, "\n"))
			}
		})
	}
}
