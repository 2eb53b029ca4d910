package diag

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// contosoDNS resolves mail.contoso.com to 127.0.0.1.
func contosoDNS() *probeDNS {
	return &probeDNS{hosts: map[string][]string{"mail.contoso.com": {"127.0.0.1"}}}
}

// probeContoso probes mail.contoso.com:25, redirected to addr.
func probeContoso(addr string, level tlscheck.Level, roots *x509.CertPool) ProbeOptions {
	return ProbeOptions{
		Target: "mail.contoso.com", EHLO: "mail.protection.outlook.com", Level: level, Roots: roots,
		Now: probeClock, Resolver: contosoDNS(), Dialer: probeRedirect(map[string]string{"127.0.0.1:25": addr}),
		ConnectTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second,
	}
}

// TestProbeVerdicts covers every verdict a validating sender can reach,
// with the status it records and the exit code.
func TestProbeVerdicts(t *testing.T) {
	p := probeLab(t)
	roots := probeLabRoots(t)
	expired := probeGenCert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.CA,
		NotBefore: probeNowFixed.AddDate(-2, 0, 0), NotAfter: probeNowFixed.AddDate(0, 0, -3)})
	selfSignedRightName := probeGenCert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}})
	soon := probeGenCert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.CA,
		NotBefore: probeNowFixed.AddDate(-1, 0, 0), NotAfter: probeNowFixed.AddDate(0, 0, 10)})

	tlsServer := func(c *certs.Certificate) string {
		return probeSMTP(t, &smtptest.Server{TLSConfig: probeTLSConfig(c)}).Addr
	}
	plain := probeSMTP(t, &smtptest.Server{}).Addr
	refuseTLS := probeSMTP(t, &smtptest.Server{TLSConfig: probeTLSConfig(p.Contoso), Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		if cmd.Verb == "STARTTLS" {
			return smtp.Reply{Code: 454, Enhanced: "4.7.0", Lines: []string{"TLS not available due to temporary reason"}}, true
		}
		return smtp.Reply{}, false
	}}).Addr
	rude := probeSMTP(t, &smtptest.Server{Banner: &smtp.Reply{Code: 554, Enhanced: "5.7.1", Lines: []string{"go away"}}}).Addr

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
		{name: "pass DomainValidation", addr: tlsServer(p.Contoso), level: tlscheck.DomainValidation, result: ProbePass, exit: 0},
		{name: "pass DomainValidation through a SAN", addr: tlsServer(p.SANOnly), level: tlscheck.DomainValidation, result: ProbePass, exit: 0},
		{name: "pass CertificateValidation whatever the name", addr: tlsServer(p.Tenant), level: tlscheck.CertificateValidation, result: ProbePass, exit: 0},
		{name: "pass EncryptionOnly with self-signed", addr: tlsServer(p.Server1), level: tlscheck.EncryptionOnly, result: ProbePass, exit: 0, finding: "self-signed"},
		{name: "SubjectMismatch", addr: tlsServer(p.Server1), level: tlscheck.DomainValidation, result: ProbeFail,
			status: send.StatusCertificate, reason: string(tlscheck.SubjectMismatch), exit: 1},
		{name: "SubjectMismatch with another expected name", addr: tlsServer(p.Contoso), level: tlscheck.DomainValidation, expect: "smtp.fabrikam.com",
			result: ProbeFail, status: send.StatusCertificate, reason: string(tlscheck.SubjectMismatch), exit: 1},
		{name: "expired", addr: tlsServer(expired), level: tlscheck.DomainValidation, result: ProbeFail,
			status: send.StatusCertificate, reason: string(tlscheck.CertificateExpired), exit: 1},
		{name: "untrusted root", addr: tlsServer(selfSignedRightName), level: tlscheck.DomainValidation, result: ProbeFail,
			status: send.StatusCertificate, reason: string(tlscheck.UntrustedRoot), exit: 1},
		{name: "issuer unknown", addr: tlsServer(p.Untrusted), level: tlscheck.CertificateValidation, result: ProbeFail,
			status: send.StatusCertificate, reason: string(tlscheck.IncompleteChain), exit: 1},
		{name: "expires soon", addr: tlsServer(soon), level: tlscheck.DomainValidation, result: ProbePass, exit: 0, finding: "expires in 10 days"},
		{name: "STARTTLS not offered", addr: plain, level: tlscheck.DomainValidation, result: ProbeFail,
			status: StatusStartTLSRequired, reason: send.ReasonStartTLSAbsent, exit: 1},
		{name: "STARTTLS not offered, EncryptionOnly still requires TLS", addr: plain, level: tlscheck.EncryptionOnly, result: ProbeFail,
			status: StatusStartTLSRequired, reason: send.ReasonStartTLSAbsent, exit: 1},
		{name: "STARTTLS refused", addr: refuseTLS, level: tlscheck.DomainValidation, result: ProbeFail,
			status: send.StatusCannotConnect, reason: send.ReasonStartTLS, exit: 1},
		{name: "refused", addr: probeClosedAddr(t), level: tlscheck.DomainValidation, result: ProbeError,
			status: send.StatusRefused, reason: send.ReasonRefused, exit: 2},
		{name: "bad banner", addr: rude, level: tlscheck.DomainValidation, result: ProbeError,
			status: send.StatusCannotConnect, reason: send.ReasonCannotConnect, exit: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := probeContoso(tt.addr, tt.level, roots)
			opts.Expect = tt.expect
			r := Probe(context.Background(), opts)
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
			if tt.result != ProbePass && (r.Fix == nil || len(r.Fix.Steps) == 0) {
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

func hasFinding(r *ProbeReport, want string) bool {
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
		opts  ProbeOptions
		stage send.Stage
	}{
		{name: "connect", stage: send.StageConnect, opts: ProbeOptions{Target: "mail.contoso.com", Resolver: contosoDNS(), Dialer: blocked,
			ConnectTimeout: 50 * time.Millisecond, Now: probeClock}},
		{name: "greeting", stage: send.StageGreeting, opts: ProbeOptions{Target: "mail.contoso.com", Resolver: contosoDNS(),
			Dialer: probeRedirect(map[string]string{"127.0.0.1:25": silent.Addr().String()}), CommandTimeout: 100 * time.Millisecond, Now: probeClock}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Probe(context.Background(), tt.opts)
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
	r := Probe(context.Background(), ProbeOptions{Target: "nowhere.contoso.com:2525", Resolver: &probeDNS{}, Now: probeClock})
	if r.Verdict.Status != send.StatusDNSFailed || r.ExitCode() != 2 || r.Stage != send.StageResolve || r.Port != 2525 {
		t.Fatalf("report = %+v", r)
	}
}

// TestProbeClientCertificate: whether the server asked for a client
// certificate, and what was presented, as the server saw it.
func TestProbeClientCertificate(t *testing.T) {
	p := probeLab(t)
	roots := probeLabRoots(t)
	withAuth := func(auth tls.ClientAuthType, cas bool) *smtptest.Server {
		cfg := probeTLSConfig(p.Contoso)
		cfg.ClientAuth = auth
		if cas {
			cfg.ClientCAs = roots
		}
		return probeSMTP(t, &smtptest.Server{TLSConfig: cfg})
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
		{name: "not requested", srv: withAuth(tls.NoClientCert, false), result: ProbePass},
		{name: "not requested, certificate given but not sent", srv: withAuth(tls.NoClientCert, false), client: p.Client, result: ProbePass},
		{name: "requested, none given", srv: withAuth(tls.RequestClientCert, false), requested: true, result: ProbePass},
		{name: "requested with CA names, presented", srv: withAuth(tls.VerifyClientCertIfGiven, true), client: p.Client, requested: true, presented: true, result: ProbePass, cas: true},
		{name: "required, none given", srv: withAuth(tls.RequireAnyClientCert, false), requested: true, result: ProbeFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := probeContoso(tt.srv.Addr, tlscheck.DomainValidation, roots)
			opts.ClientCertificate = tt.client
			r := Probe(context.Background(), opts)
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
			if tt.result == ProbePass && got != tt.presented {
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
	p := probeLab(t)
	roots := probeLabRoots(t)
	cfg := probeTLSConfig(p.Contoso)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
	srv := probeSMTP(t, &smtptest.Server{TLSConfig: cfg})

	r := Probe(context.Background(), probeContoso(srv.Addr, tlscheck.DomainValidation, roots))
	if r.Verdict.Result != ProbePass || r.TLS == nil || r.TLS.Version != "TLS 1.0" || !r.TLS.Legacy {
		t.Fatalf("verdict %+v TLS %+v", r.Verdict, r.TLS)
	}
	if !hasFinding(r, "older than TLS 1.2") {
		t.Errorf("findings = %+v", r.Findings)
	}

	s := &send.Sender{Roots: roots, ServerFQDN: "mail.protection.outlook.com", Now: probeClock}
	c := send.Connector{Name: "cloud", Level: tlscheck.DomainValidation, TLSDomain: "mail.contoso.com", RequireTLS: true,
		ConnectTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second}
	cn := s.Connect(context.Background(), c, send.Target{Host: "127.0.0.1", IP: "127.0.0.1", Port: probePort(t, srv.Addr)}, "", send.ConnectOptions{})
	if cn.Failure == nil || cn.Failure.Reason != send.ReasonTLS {
		t.Fatalf("the sender talked TLS 1.0: %+v", cn.Failure)
	}
}

// TestProbeJSONShape pins the JSON field names scripts rely on.
func TestProbeJSONShape(t *testing.T) {
	p := probeLab(t)
	files := p.writeFiles(t)
	store, _, err := LoadCertificateStore([]string{files.Dir}, files.ContosoPass)
	if err != nil {
		t.Fatal(err)
	}
	srv := probeSMTP(t, &smtptest.Server{TLSConfig: probeTLSConfig(p.Server1)})
	opts := probeContoso(srv.Addr, tlscheck.DomainValidation, probeLabRoots(t))
	opts.Certificates = store
	r := Probe(context.Background(), opts)
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
	p := probeLab(t)
	files := p.writeFiles(t)
	probeWriteFile(t, files.Dir, "README.txt", "exported from EX1 on 2025-05-30\n")
	store, warnings, err := LoadCertificateStore([]string{files.Dir}, files.ContosoPass)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("load: %v %q", err, warnings)
	}
	if n := len(store.All()); n != 7 {
		t.Fatalf("loaded %d certificates, want 7 (six with keys, the CA)", n)
	}
	srv := probeSMTP(t, &smtptest.Server{TLSConfig: probeTLSConfig(p.Server1)})
	opts := probeContoso(srv.Addr, tlscheck.DomainValidation, probeLabRoots(t))
	opts.Certificates = store
	opts.Connector = `SERVER1\Default Frontend SERVER1`
	r := Probe(context.Background(), opts)
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
	r = Probe(context.Background(), opts)
	if r.Fix == nil || r.Fix.Recommended != nil || !strings.Contains(strings.Join(r.Fix.Steps, "\n"), "--certs DIR") {
		t.Errorf("fix without --certs = %+v", r.Fix)
	}
}

// TestRecommendCertificate covers the ranking and the pin rule.
func TestRecommendCertificate(t *testing.T) {
	p := probeLab(t)
	roots := probeLabRoots(t)
	// A bad "renewal": same issuer and subject, newer, so the pin selects
	// it — and its 1024-bit key fails.
	badRenewal := probeGenCert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.CA, KeyType: "rsa1024",
		NotBefore: probeNowFixed.Add(-time.Minute), NotAfter: probeNowFixed.AddDate(3, 0, 0)})
	wildcard := probeGenCert(t, certs.Template{Subject: "CN=*.contoso.com", SANs: []string{"*.contoso.com"}, Issuer: p.CA,
		NotAfter: probeNowFixed.AddDate(5, 0, 0)})
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
			got, reasons := RecommendCertificate(tt.store, tt.expect, tt.level, roots, probeNowFixed)
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

func subjectOf(c *certs.Certificate) string {
	if c == nil {
		return "<nil>"
	}
	return c.Subject + " " + c.Thumbprint
}

// TestProbeMX probes every MX in preference order with an injected resolver.
func TestProbeMX(t *testing.T) {
	p := probeLab(t)
	mx1Cert := probeGenCert(t, certs.Template{Subject: "CN=mx1.contoso.com", SANs: []string{"mx1.contoso.com"}, Issuer: p.CA})
	mx1 := probeSMTP(t, &smtptest.Server{Hostname: "mx1.contoso.com", TLSConfig: probeTLSConfig(mx1Cert)})
	mx2 := probeSMTP(t, &smtptest.Server{Hostname: "mx2.contoso.com", TLSConfig: probeTLSConfig(p.Server1)})
	dns := &probeDNS{
		mx: map[string][]*net.MX{
			"contoso.com": {{Host: "mx2.contoso.com.", Pref: 20}, {Host: "mx1.contoso.com.", Pref: 10}},
			"null.test":   {{Host: ".", Pref: 0}},
		},
		hosts: map[string][]string{"mx1.contoso.com": {"127.0.0.1"}, "mx2.contoso.com": {"127.0.0.3"}, "nomx.test": {"127.0.0.1"}},
		fail:  map[string]error{"broken.test": &net.DNSError{Err: "server misbehaving", Name: "broken.test", IsTemporary: true}},
	}
	opts := ProbeOptions{Level: tlscheck.DomainValidation, Roots: probeLabRoots(t), Now: probeClock, Resolver: dns,
		Dialer: probeRedirect(map[string]string{"127.0.0.1:25": mx1.Addr, "127.0.0.3:25": mx2.Addr})}

	var progress []int
	b := ProbeMX(context.Background(), "contoso.com", 0, opts, 2, func(done, total int, _ *ProbeReport) {
		if total != 2 {
			t.Errorf("total = %d", total)
		}
		progress = append(progress, done)
	})
	if len(b.Reports) != 2 || b.Domain != "contoso.com" {
		t.Fatalf("batch = %+v", b)
	}
	first, second := b.Reports[0], b.Reports[1]
	if first.Host != "mx1.contoso.com" || *first.MXPreference != 10 || first.Expect != "mx1.contoso.com" || first.Verdict.Result != ProbePass {
		t.Errorf("first = %s pref %v expect %s %+v", first.Host, *first.MXPreference, first.Expect, first.Verdict)
	}
	if second.Host != "mx2.contoso.com" || second.IP != "127.0.0.3" || second.Verdict.Reason != string(tlscheck.SubjectMismatch) {
		t.Errorf("second = %s %s %+v", second.Host, second.IP, second.Verdict)
	}
	if b.Summary != (ProbeSummary{Total: 2, Pass: 1, Fail: 1}) || b.ExitCode() != 1 {
		t.Errorf("summary = %+v exit %d", b.Summary, b.ExitCode())
	}
	if len(progress) != 2 || progress[1] != 2 {
		t.Errorf("progress = %v", progress)
	}
	var buf bytes.Buffer
	if err := b.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"MX 10: mx1.contoso.com", "MX 20: mx2.contoso.com", "2 MX hosts of contoso.com: 1 pass, 1 fail, 0 could not be tested"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, buf.String())
		}
	}

	for _, tt := range []struct {
		domain, status, finding string
		exit                    int
	}{
		{domain: "null.test", status: send.StatusNullMX, exit: 2},
		{domain: "broken.test", status: send.StatusDNSFailed, exit: 2},
		{domain: "nomx.test", finding: "no MX records", exit: 1}, // probed itself: 127.0.0.1 is mx1, whose name is not nomx.test
	} {
		b := ProbeMX(context.Background(), tt.domain, 25, opts, 0, nil)
		if len(b.Reports) != 1 || b.Reports[0].Verdict.Status != tt.status && tt.status != "" || b.ExitCode() != tt.exit {
			t.Errorf("%s: %+v exit %d", tt.domain, b.Reports[0].Verdict, b.ExitCode())
		}
		if tt.finding != "" && !hasFinding(b.Reports[0], tt.finding) {
			t.Errorf("%s: findings %+v", tt.domain, b.Reports[0].Findings)
		}
	}
}

// TestProbeManyIsConcurrentAndBounded: with --parallel 4, four sessions
// are open at once (the server holds each EHLO until four are waiting, so a
// sequential implementation would time out) and never more.
func TestProbeManyIsConcurrentAndBounded(t *testing.T) {
	const parallel, total = 4, 10
	var (
		active, peak int
		mu           = make(chan struct{}, 1)
		barrier      = make(chan struct{})
		closed       bool
	)
	lock := func() { mu <- struct{}{} }
	unlock := func() { <-mu }
	srv := probeSMTP(t, &smtptest.Server{Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		switch cmd.Verb {
		case "EHLO":
			lock()
			active++
			peak = max(peak, active)
			if active == parallel && !closed {
				closed = true
				close(barrier)
			}
			unlock()
			select {
			case <-barrier:
			case <-time.After(10 * time.Second):
			}
		case "QUIT":
			lock()
			active--
			unlock()
		}
		return smtp.Reply{}, false
	}})
	var list []ProbeOptions
	for i := range total {
		o := probeContoso(srv.Addr, tlscheck.DomainValidation, nil)
		o.Expect = "host" + string(rune('a'+i)) + ".contoso.com"
		list = append(list, o)
	}
	var calls []int
	b := ProbeMany(context.Background(), list, parallel, func(done, n int, _ *ProbeReport) { calls = append(calls, done) })
	lock()
	gotPeak := peak
	unlock()
	if gotPeak != parallel {
		t.Errorf("peak concurrency = %d, want %d", gotPeak, parallel)
	}
	if b.Summary.Total != total || len(calls) != total || calls[total-1] != total {
		t.Fatalf("summary %+v progress %v", b.Summary, calls)
	}
	for i, r := range b.Reports {
		// In order, each one reached EHLO and was refused for the missing
		// STARTTLS (the server offers none).
		if r.Expect != list[i].Expect || r.Verdict.Status != StatusStartTLSRequired {
			t.Errorf("report %d: expect %s verdict %+v", i, r.Expect, r.Verdict)
		}
	}
}

// TestParseProbeTargets reads targets files.
func TestParseProbeTargets(t *testing.T) {
	tests := []struct {
		name, in string
		want     []ProbeTarget
		err      string
	}{
		{name: "forms", in: "# partners\nmail.contoso.com\n\n  mx.fabrikam.com:2525 smtp.fabrikam.com # their TlsDomain\n[192.0.2.1]:25\n[2001:db8::1]\n",
			want: []ProbeTarget{{Line: 2, Target: "mail.contoso.com"}, {Line: 4, Target: "mx.fabrikam.com:2525", Expect: "smtp.fabrikam.com"},
				{Line: 5, Target: "[192.0.2.1]:25"}, {Line: 6, Target: "[2001:db8::1]"}}},
		{name: "too many fields", in: "a.example b.example c.example\n", err: "line 1"},
		{name: "bad port", in: "ok.example\nmail.example:99999\n", err: "line 2"},
		{name: "empty", in: "# nothing\n\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProbeTargets(strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v", got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("%d: %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	// Over-long lines are refused with their number.
	if _, err := ParseProbeTargets(strings.NewReader("ok.example\n" + strings.Repeat("x", maxTargetLine+1))); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("long line: %v", err)
	}
}

func FuzzParseProbeTargets(f *testing.F) {
	for _, s := range []string{"mail.contoso.com\n", "a:25 b # c\n", "[::1]:25\n", "x y z\n", "#\n\n", "host:0\n", "[1.2.3.4\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		list, err := ParseProbeTargets(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, pt := range list {
			if _, _, err := SplitTarget(pt.Target, 25); err != nil {
				t.Fatalf("accepted target %q does not split: %v", pt.Target, err)
			}
			if strings.ContainsAny(pt.Target+pt.Expect, " \t#") {
				t.Fatalf("field with separator: %+v", pt)
			}
		}
	})
}

// TestSplitTarget reads the target forms.
func TestSplitTarget(t *testing.T) {
	for _, tt := range []struct {
		in   string
		host string
		port int
		bad  bool
	}{
		{in: "mail.contoso.com", host: "mail.contoso.com", port: 25},
		{in: "mail.contoso.com:587", host: "mail.contoso.com", port: 587},
		{in: "192.0.2.1", host: "192.0.2.1", port: 25},
		{in: "[192.0.2.1]:2525", host: "192.0.2.1", port: 2525},
		{in: "2001:db8::1", host: "2001:db8::1", port: 25},
		{in: "[2001:db8::1]", host: "2001:db8::1", port: 25},
		{in: "[2001:db8::1]:26", host: "2001:db8::1", port: 26},
		{in: "", bad: true}, {in: ":25", bad: true}, {in: "host:x", bad: true}, {in: "host:70000", bad: true}, {in: "[nothost]", bad: true},
	} {
		h, p, err := SplitTarget(tt.in, 25)
		if tt.bad != (err != nil) || !tt.bad && (h != tt.host || p != tt.port) {
			t.Errorf("SplitTarget(%q) = %q %d %v", tt.in, h, p, err)
		}
	}
}

// TestLoadCertificateStoreErrors: named files must load; a directory
// without certificates is an error; a wrong PFX password is a warning in a
// directory.
func TestLoadCertificateStoreErrors(t *testing.T) {
	p := probeLab(t)
	files := p.writeFiles(t)
	if _, _, err := LoadCertificateStore([]string{files.ContosoPFX}, ""); !errors.Is(err, certs.ErrWrongPassword) {
		t.Errorf("PFX without password: %v", err)
	}
	wrong := probeWriteFile(t, t.TempDir(), "pw", "nope\n")
	_, warnings, err := LoadCertificateStore([]string{files.Dir}, wrong)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "mail-contoso.pfx") {
		t.Errorf("wrong password in a directory: %v %q", err, warnings)
	}
	empty := t.TempDir()
	probeWriteFile(t, empty, "notes.txt", "nothing here")
	if _, _, err := LoadCertificateStore([]string{empty}, ""); !errors.Is(err, certs.ErrNoCertificate) {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := certs.TrustPool([]string{probeWriteFile(t, empty, "bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}, false); err == nil {
		t.Error("a broken CA file was accepted")
	}
	pool, err := certs.TrustPool([]string{files.CAFile}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Contoso.Leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: probeNowFixed}); err != nil {
		t.Errorf("the loaded CA does not verify its certificate: %v", err)
	}
}

// TestDefaultEHLOName never greets as localhost.
func TestDefaultEHLOName(t *testing.T) {
	n := DefaultEHLOName()
	if n == "" || strings.HasPrefix(strings.ToLower(n), "localhost") || !strings.Contains(n, ".") {
		t.Errorf("DefaultEHLOName() = %q", n)
	}
}

// probeBrokenWriter fails every write, like a closed pipe.
type probeBrokenWriter struct{}

func (probeBrokenWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestProbeWriteTextError: a failed write is reported, not ignored.
func TestProbeWriteTextError(t *testing.T) {
	r := Probe(context.Background(), ProbeOptions{Target: "nowhere.example", Resolver: &probeDNS{}, Now: probeClock})
	if err := r.WriteText(probeBrokenWriter{}); err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("report: %v", err)
	}
	b := newProbeBatch("", []*ProbeReport{r})
	if err := b.WriteText(probeBrokenWriter{}); err == nil {
		t.Error("batch: no error")
	}
}
