package send

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// contosoConnector is the cloud's outbound connector to on-premises:
// smart host mail.contoso.com, DomainValidation.
func contosoConnector(port int) Connector {
	return Connector{
		Name:           "Outbound to Contoso",
		Hosts:          []string{"mail.contoso.com:" + strconv.Itoa(port)},
		FQDN:           "mail.fabrikam.com",
		RequireTLS:     true,
		Level:          tlscheck.DomainValidation,
		TLSDomain:      "mail.contoso.com",
		ConnectTimeout: 5 * time.Second,
		CommandTimeout: 5 * time.Second,
		Log:            true,
	}
}

func contosoDNS() *testkit.DNS {
	return &testkit.DNS{Hosts: map[string][]string{"mail.contoso.com": {"127.0.0.1"}}}
}

func TestSendDeliversWithDomainValidation(t *testing.T) {
	p := testPKI(t)
	srv := startServer(t, &smtptest.Server{Hostname: "mail.contoso.com", TLSConfig: testkit.ServerTLS(p.server)})
	logw, records := sendLog(t)
	s := &Sender{Store: certs.NewStore(p.client), Roots: p.roots, ServerFQDN: "server.fabrikam.com", Log: logw, Resolver: contosoDNS()}
	c := contosoConnector(testkit.PortOf(t, srv.Addr))

	results := s.Send(context.Background(), c, message("a@contoso.com", "b@contoso.com"))
	if len(results) != 2 {
		t.Fatalf("results = %+v", results)
	}
	for _, r := range results {
		if r.Outcome != outcome.Delivered || r.Status != "250 2.6.0 Queued mail for delivery" || r.LastError != nil {
			t.Errorf("result = %+v", r)
		}
		if r.RemoteHost != "mail.contoso.com" || r.RemoteIP != "127.0.0.1" || r.TLS == nil || !r.TLS.Verdict.OK {
			t.Errorf("remote/TLS = %s %s %+v", r.RemoteHost, r.RemoteIP, r.TLS)
		}
		if r.TLS != nil && (r.TLS.Version == "" || r.TLS.ServerName != "mail.contoso.com" || r.TLS.Peer.Subject != "CN=mail.contoso.com") {
			t.Errorf("TLS info = %+v", r.TLS)
		}
	}
	sess := waitSession(t, srv)
	if sess.TLS == nil || len(sess.Messages) != 1 || !slices.Equal(sess.Messages[0].Rcpts, []string{"a@contoso.com", "b@contoso.com"}) {
		t.Fatalf("server session = %+v", sess)
	}
	if sess.Helo != "mail.fabrikam.com" || sess.Lines[0] != "EHLO mail.fabrikam.com" {
		t.Errorf("EHLO = %q (lines %q)", sess.Helo, sess.Lines)
	}
	if len(sess.Pipelined) != 2 {
		t.Errorf("envelope not pipelined: %q", sess.Pipelined)
	}

	recs := records()
	for _, want := range []struct {
		event byte
		text  string
	}{
		{'+', ""}, {'>', "EHLO mail.fabrikam.com"}, {'<', "220 mail.contoso.com"}, {'>', "STARTTLS"},
		{'*', "Remote certificate"}, {'*', "CN=mail.contoso.com"}, {'*', p.server.Thumbprint},
		{'*', "Remote certificate validation succeeded (DomainValidation, expected mail.contoso.com)"},
		{'*', "negotiation succeeded using"}, {'>', "RCPT TO:<b@contoso.com>"}, {'<', "250 2.6.0"}, {'-', "Local"},
	} {
		if !hasRecord(recs, want.event, want.text) {
			t.Errorf("protocol log lacks %c %q", want.event, want.text)
		}
	}
	if len(recs) > 0 && (recs[0].ConnectorID != "Outbound to Contoso" || recs[0].Event != '+') {
		t.Errorf("first record = %+v", recs[0])
	}
}

func TestSendFailureCodes(t *testing.T) {
	p := testPKI(t)
	plain := startServer(t, &smtptest.Server{Hostname: "mail.contoso.com"})
	closing := startServer(t, &smtptest.Server{Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		return smtptest.Close, cmd.Verb == "EHLO"
	}})
	rude := startServer(t, &smtptest.Server{Banner: &smtp.Reply{Code: 554, Enhanced: "5.7.1", Lines: []string{"go away"}}})
	refuseTLS := startServer(t, &smtptest.Server{TLSConfig: testkit.ServerTLS(p.server), Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		return smtp.Reply{Code: 454, Enhanced: "4.7.0", Lines: []string{"TLS not available due to temporary reason"}}, cmd.Verb == "STARTTLS"
	}})
	// Requires a client certificate we do not have: the handshake fails.
	mtls := testkit.ServerTLS(p.server)
	mtls.ClientAuth = tls.RequireAnyClientCert
	handshake := startServer(t, &smtptest.Server{TLSConfig: mtls})
	// Offers STARTTLS, says 220 to it, then hangs up instead of the handshake.
	cut, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Close()
	go func() {
		for {
			c, err := cut.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				fmt.Fprint(c, "220 cut.example ESMTP\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch verb := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(verb, "EHLO"):
						fmt.Fprint(c, "250-cut.example\r\n250 STARTTLS\r\n")
					case verb == "STARTTLS":
						fmt.Fprint(c, "220 2.0.0 go ahead\r\n")
						return
					default:
						fmt.Fprint(c, "500 no\r\n")
					}
				}
			}()
		}
	}()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() { // accept and never speak
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	hanging := func(ctx context.Context, _, _, _ string) (net.Conn, error) {
		<-ctx.Done() // a SYN nobody answers
		return nil, fmt.Errorf("dial: %w", ctx.Err())
	}

	tests := []struct {
		name    string
		port    int
		dns     *testkit.DNS
		dialer  func(context.Context, string, string, string) (net.Conn, error)
		mutate  func(*Connector)
		status  string
		reason  string
		message string
	}{
		{name: "dns", port: 25, dns: &testkit.DNS{Fail: map[string]error{"mail.contoso.com": &net.DNSError{Err: "server misbehaving", Name: "mail.contoso.com", IsTemporary: true}}},
			status: StatusDNSFailed, reason: ReasonDNS, message: "server misbehaving"},
		{name: "refused", port: testkit.PortOf(t, testkit.ClosedAddr(t)), status: StatusRefused, reason: ReasonRefused, message: "Winsock error code: 10061"},
		{name: "connect timeout", port: 25, dialer: hanging, mutate: func(c *Connector) { c.ConnectTimeout = 50 * time.Millisecond },
			status: StatusTimedOut, reason: ReasonTimedOut, message: "Winsock error code: 10060"},
		{name: "command timeout", port: testkit.PortOf(t, silent.Addr().String()), mutate: func(c *Connector) { c.CommandTimeout = 100 * time.Millisecond },
			status: StatusTimedOut, reason: ReasonTimedOut, message: "greeting"},
		{name: "closed abruptly", port: testkit.PortOf(t, closing.Addr), status: StatusClosedAbruptly, reason: ReasonClosed, message: "EHLO"},
		{name: "bad banner", port: testkit.PortOf(t, rude.Addr), status: StatusCannotConnect, reason: ReasonCannotConnect, message: "554 5.7.1 go away"},
		{name: "no STARTTLS", port: testkit.PortOf(t, plain.Addr), status: StatusCannotConnect, reason: ReasonStartTLSAbsent, message: "did not offer STARTTLS"},
		{name: "STARTTLS refused", port: testkit.PortOf(t, refuseTLS.Addr), status: StatusCannotConnect, reason: ReasonStartTLS, message: "454 4.7.0"},
		{name: "handshake", port: testkit.PortOf(t, handshake.Addr), status: StatusCannotConnect, reason: ReasonTLS, message: "TLS negotiation failed with error RemoteAlert(certificate required)"},
		// The receive side names the same failure the same way (neterr.HandshakeName).
		{name: "handshake cut", port: testkit.PortOf(t, cut.Addr().String()), status: StatusCannotConnect, reason: ReasonTLS, message: "TLS negotiation failed with error SocketError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns := tt.dns
			if dns == nil {
				dns = contosoDNS()
			}
			when := time.Now()
			logw, records := sendLog(t)
			s := &Sender{Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: dns, Dialer: tt.dialer, Now: func() time.Time { return when }, Log: logw}
			c := contosoConnector(tt.port)
			if tt.mutate != nil {
				tt.mutate(&c)
			}
			results := s.Send(context.Background(), c, message("a@contoso.com"))
			if len(results) != 1 {
				t.Fatalf("results = %+v", results)
			}
			r := results[0]
			if r.Outcome != outcome.Deferred || r.Status != tt.status || r.Reason != tt.reason {
				t.Fatalf("got %s %q %q; want Deferred %q %q\n%s", r.Outcome, r.Status, r.Reason, tt.status, tt.reason, r.LastError.String())
			}
			if tt.name == "closed abruptly" && !hasRecord(records(), '-', "Remote") {
				t.Error("protocol log does not say the remote side disconnected")
			}
			if !strings.HasPrefix(r.LastError.String(), "{LED="+tt.status+" [Message=") || !strings.Contains(r.LastError.String(), tt.message) ||
				!strings.Contains(r.LastError.String(), "[LastAttemptedServerName=mail.contoso.com]") ||
				!strings.HasSuffix(r.LastError.String(), "};{MSG="+tt.reason+"};{FQDN=mail.contoso.com};{IP="+r.RemoteIP+"};{LRT="+when.UTC().Format("1/2/2006 3:04:05 PM")+"}") {
				t.Errorf("detail = %s", r.LastError.String())
			}
		})
	}
}

// Each tlscheck reason becomes 450 4.7.320 with that reason as MSG.
func TestSendCertificateRejected(t *testing.T) {
	p := testPKI(t)
	selfSigned := testkit.Cert(t, certs.Template{Subject: "CN=SERVER1", SANs: []string{"SERVER1"}}, time.Now())
	selfSignedRight := testkit.Cert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}}, time.Now())
	expired := testkit.Cert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.root,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}, time.Now())
	viaInter := testkit.Cert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.inter}, time.Now())
	weak := testkit.Cert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.root, KeyType: "rsa1024"}, time.Now())
	notYet := testkit.Cert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.root,
		NotBefore: time.Now().Add(24 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour)}, time.Now())
	clientOnly := testkit.Cert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.root, ClientAuth: true}, time.Now())
	rsaCA := testkit.Cert(t, certs.Template{Subject: "CN=Old RSA CA", IsCA: true, KeyType: "rsa2048"}, time.Now())
	sha1 := testkit.Cert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: rsaCA, SignatureAlgorithm: x509.SHA1WithRSA}, time.Now())

	leafOnly := func(c *certs.Certificate) *tls.Config {
		cfg := testkit.ServerTLS(c)
		cfg.Certificates[0].Certificate = cfg.Certificates[0].Certificate[:1] // no intermediate sent
		return cfg
	}
	tests := []struct {
		name   string
		cfg    *tls.Config
		level  tlscheck.Level
		reason tlscheck.Reason
	}{
		{"subject mismatch (self-signed SERVER1)", testkit.ServerTLS(selfSigned), tlscheck.DomainValidation, tlscheck.SubjectMismatch},
		{"untrusted root", testkit.ServerTLS(selfSignedRight), tlscheck.CertificateValidation, tlscheck.UntrustedRoot},
		{"expired", testkit.ServerTLS(expired), tlscheck.DomainValidation, tlscheck.CertificateExpired},
		{"incomplete chain", leafOnly(viaInter), tlscheck.DomainValidation, tlscheck.IncompleteChain},
		{"weak key", testkit.ServerTLS(weak), tlscheck.CertificateValidation, tlscheck.WeakKey},
		{"not yet valid", testkit.ServerTLS(notYet), tlscheck.DomainValidation, tlscheck.CertificateNotYetValid},
		{"client-only usage", testkit.ServerTLS(clientOnly), tlscheck.DomainValidation, tlscheck.InvalidUsage},
		{"SHA-1 signature", testkit.ServerTLS(sha1), tlscheck.CertificateValidation, tlscheck.WeakSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, &smtptest.Server{TLSConfig: tt.cfg})
			logw, records := sendLog(t)
			// Roots hold only the root, not the intermediate.
			s := &Sender{Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: contosoDNS(), Log: logw}
			c := contosoConnector(testkit.PortOf(t, srv.Addr))
			c.Level = tt.level
			r := s.Send(context.Background(), c, message("a@contoso.com"))[0]
			if r.Outcome != outcome.Deferred || r.Status != StatusCertificate || r.Reason != string(tt.reason) {
				t.Fatalf("got %s %q %q; want %q\n%s", r.Outcome, r.Status, r.Reason, tt.reason, r.LastError.String())
			}
			wantLED := "{LED=450 4.7.320 Certificate validation failed [Message=" + string(tt.reason)
			if !strings.HasPrefix(r.LastError.String(), wantLED) || !strings.Contains(r.LastError.String(), "{MSG="+string(tt.reason)+"}") ||
				!strings.Contains(r.LastError.String(), "[LastAttemptedIP=127.0.0.1:"+strconv.Itoa(testkit.PortOf(t, srv.Addr))+"]") {
				t.Errorf("detail = %s", r.LastError.String())
			}
			if r.TLS == nil || r.TLS.Verdict.Reason != tt.reason || r.TLS.Peer == nil {
				t.Errorf("TLS info = %+v", r.TLS)
			}
			if sess := waitSession(t, srv); len(sess.Messages) != 0 {
				t.Error("a message was sent over a rejected TLS session")
			}
			if !hasRecord(records(), '*', "Remote certificate validation failed") {
				t.Error("protocol log lacks the verdict")
			}
		})
	}
	t.Run("subject mismatch message", func(t *testing.T) {
		srv := startServer(t, &smtptest.Server{TLSConfig: testkit.ServerTLS(selfSigned)})
		s := &Sender{Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: contosoDNS()}
		r := s.Send(context.Background(), contosoConnector(testkit.PortOf(t, srv.Addr)), message("a@contoso.com"))[0]
		want := "[Message=SubjectMismatch Expected Subject: mail.contoso.com. Presented Subject: CN=SERVER1. Thumbprint: " + selfSigned.Thumbprint + "]"
		if !strings.Contains(r.LastError.String(), want) {
			t.Errorf("detail = %s\nwant it to contain %s", r.LastError.String(), want)
		}
	})
	t.Run("EncryptionOnly accepts anything", func(t *testing.T) {
		srv := startServer(t, &smtptest.Server{TLSConfig: testkit.ServerTLS(selfSigned)})
		s := &Sender{Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: contosoDNS()}
		c := contosoConnector(testkit.PortOf(t, srv.Addr))
		c.Level = tlscheck.EncryptionOnly
		r := s.Send(context.Background(), c, message("a@contoso.com"))[0]
		if r.Outcome != outcome.Delivered || r.TLS == nil || !r.TLS.Verdict.OK {
			t.Fatalf("result = %+v", r)
		}
	})
}

func TestSendFailover(t *testing.T) {
	p := testPKI(t)
	good := startServer(t, &smtptest.Server{TLSConfig: testkit.ServerTLS(p.server)})
	bad := startServer(t, &smtptest.Server{TLSConfig: testkit.ServerTLS(testkit.Cert(t, certs.Template{Subject: "CN=SERVER1"}, time.Now()))})
	dns := &testkit.DNS{Hosts: map[string][]string{
		"mail.contoso.com": {"127.0.0.1"}, "mail2.contoso.com": {"127.0.0.1"}, "mail3.contoso.com": {"127.0.0.1"},
	}}
	s := &Sender{Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: dns}
	c := contosoConnector(0)
	c.Hosts = []string{
		"mail.contoso.com:" + strconv.Itoa(testkit.PortOf(t, testkit.ClosedAddr(t))),
		"mail2.contoso.com:" + strconv.Itoa(testkit.PortOf(t, bad.Addr)),
		"mail3.contoso.com:" + strconv.Itoa(testkit.PortOf(t, good.Addr)),
	}
	r := s.Send(context.Background(), c, message("a@contoso.com"))[0]
	if r.Outcome != outcome.Delivered || r.RemoteHost != "mail3.contoso.com" {
		t.Fatalf("result = %+v", r)
	}
	var got []string
	for _, a := range r.Attempts {
		got = append(got, a.Host+" "+a.Reason)
	}
	want := []string{"mail.contoso.com " + ReasonRefused, "mail2.contoso.com SubjectMismatch", "mail3.contoso.com "}
	if !slices.Equal(got, want) {
		t.Errorf("attempts = %q, want %q", got, want)
	}
	if sess := waitSession(t, good); len(sess.Messages) != 1 {
		t.Errorf("good server got %d messages", len(sess.Messages))
	}

	// All fail: the last host's failure is reported, every attempt listed.
	c.Hosts = c.Hosts[:2]
	r = s.Send(context.Background(), c, message("a@contoso.com"))[0]
	if r.Status != StatusCertificate || r.RemoteHost != "mail2.contoso.com" || len(r.Attempts) != 2 || r.Attempts[0].Status != StatusRefused {
		t.Errorf("all failed: %+v", r)
	}
}

func TestSendMXOrder(t *testing.T) {
	srv := startServer(t, &smtptest.Server{})
	port := testkit.PortOf(t, srv.Addr)
	dns := &testkit.DNS{
		MX: map[string][]*net.MX{"contoso.com": {{Host: "mx1.contoso.com.", Pref: 10}, {Host: "mx2.contoso.com.", Pref: 20}}},
		// Nothing listens on 127.0.0.2 at that port: mx1 refuses.
		Hosts: map[string][]string{"mx1.contoso.com": {"127.0.0.2"}, "mx2.contoso.com": {"127.0.0.1"}},
	}
	s := &Sender{ServerFQDN: "server.fabrikam.com", Resolver: dns}
	c := Connector{Name: "Internet", Port: port, FQDN: "mail.fabrikam.com", ConnectTimeout: 5 * time.Second}
	r := s.Send(context.Background(), c, message("a@contoso.com"))[0]
	if r.Outcome != outcome.Delivered || r.RemoteHost != "mx2.contoso.com" || len(r.Attempts) != 2 || r.Attempts[0].Host != "mx1.contoso.com" {
		t.Fatalf("result = %+v", r)
	}

	// No MX: the domain's own address (RFC 5321 §5.1).
	dns.Hosts["fabrikam.net"] = []string{"127.0.0.1"}
	r = s.Send(context.Background(), c, message("b@fabrikam.net"))[0]
	if r.Outcome != outcome.Delivered || r.RemoteHost != "fabrikam.net" {
		t.Errorf("implicit MX: %+v", r)
	}

	// Null MX (RFC 7505): permanent failure, nothing dialled.
	dns.MX["nomail.example"] = []*net.MX{{Host: ".", Pref: 0}}
	r = s.Send(context.Background(), c, message("c@nomail.example"))[0]
	if r.Outcome != outcome.Failed || r.Status != StatusNullMX {
		t.Errorf("null MX: %+v", r)
	}

	// Unresolvable domain.
	r = s.Send(context.Background(), c, message("d@nowhere.example"))[0]
	if r.Outcome != outcome.Deferred || r.Status != StatusDNSFailed || !strings.Contains(r.LastError.String(), "{FQDN=nowhere.example}") {
		t.Errorf("unresolvable: %+v", r)
	}
}

func TestSendMutualTLS(t *testing.T) {
	p := testPKI(t)
	cfg := testkit.ServerTLS(p.server)
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = p.roots
	srv := startServer(t, &smtptest.Server{TLSConfig: cfg})
	logw, records := sendLog(t)
	other := testkit.Cert(t, certs.Template{Subject: "CN=other.fabrikam.com", SANs: []string{"other.fabrikam.com"}, Issuer: p.root}, time.Now())
	s := &Sender{Store: certs.NewStore(other, p.client), Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: contosoDNS(), Log: logw}
	c := contosoConnector(testkit.PortOf(t, srv.Addr))

	r := s.Send(context.Background(), c, message("a@contoso.com"))[0]
	if r.Outcome != outcome.Delivered {
		t.Fatalf("result = %+v", r)
	}
	if r.TLS.ClientCertificate == nil || r.TLS.ClientCertificate.Thumbprint != p.client.Thumbprint {
		t.Errorf("presented %+v, want %s", r.TLS.ClientCertificate, p.client.Thumbprint)
	}
	sess := waitSession(t, srv)
	if sess.TLS == nil || len(sess.TLS.PeerCertificates) == 0 || certs.Thumbprint(sess.TLS.PeerCertificates[0].Raw) != p.client.Thumbprint {
		t.Fatalf("server saw client certificate %+v", sess.TLS)
	}
	recs := records()
	if !hasRecord(recs, '*', "Sending certificate") || !hasRecord(recs, '*', p.client.Thumbprint) {
		t.Error("protocol log lacks the Sending certificate lines")
	}

	// Pinned by TlsCertificateName.
	c.CertificateName = other.Name()
	c.FQDN = "mail.fabrikam.com"
	r = s.Send(context.Background(), c, message("a@contoso.com"))[0]
	if r.Outcome != outcome.Delivered || r.TLS.ClientCertificate.Thumbprint != other.Thumbprint {
		t.Errorf("pinned: %+v", r.TLS.ClientCertificate)
	}
	waitSession(t, srv)
}

func TestSendClientCertificateProblems(t *testing.T) {
	p := testPKI(t)
	srv := startServer(t, &smtptest.Server{TLSConfig: testkit.ServerTLS(p.server)})
	second := startServer(t, &smtptest.Server{TLSConfig: testkit.ServerTLS(p.server)})
	keyless := certs.FromX509(p.client.Leaf)
	dns := &testkit.DNS{Hosts: map[string][]string{"mail.contoso.com": {"127.0.0.1"}, "mail2.contoso.com": {"127.0.0.1"}}}
	tests := []struct {
		name   string
		store  *certs.Store
		status string
		reason string
	}{
		{"not found", certs.NewStore(p.client), StatusCertNotFound, ReasonCertNotFound},
		{"no store", nil, StatusCertNotFound, ReasonCertNotFound},
		{"no private key", certs.NewStore(keyless), StatusCannotConnect, ReasonNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Sender{Store: tt.store, Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: dns}
			c := contosoConnector(0)
			c.Hosts = []string{"mail.contoso.com:" + strconv.Itoa(testkit.PortOf(t, srv.Addr)), "mail2.contoso.com:" + strconv.Itoa(testkit.PortOf(t, second.Addr))}
			c.CertificateName = keyless.Name()
			if tt.name == "not found" {
				c.CertificateName = "<I>CN=Nobody CA<S>CN=mail.fabrikam.com"
			}
			r := s.Send(context.Background(), c, message("a@contoso.com"))[0]
			if r.Outcome != outcome.Deferred || r.Status != tt.status || r.Reason != tt.reason {
				t.Fatalf("got %s %q %q\n%s", r.Outcome, r.Status, r.Reason, r.LastError.String())
			}
			// A local problem: the second host is not tried.
			if len(r.Attempts) != 1 {
				t.Errorf("attempts = %+v", r.Attempts)
			}
			waitSession(t, srv)
		})
	}
}

func TestSendEHLOName(t *testing.T) {
	srv := startServer(t, &smtptest.Server{})
	s := &Sender{ServerFQDN: "server.fabrikam.com", Resolver: contosoDNS()}
	c := Connector{Name: "Internet", Hosts: []string{srv.Addr}}
	if r := s.Send(context.Background(), c, message("a@contoso.com"))[0]; r.Outcome != outcome.Delivered {
		t.Fatalf("result = %+v", r)
	}
	if sess := waitSession(t, srv); sess.Helo != "server.fabrikam.com" {
		t.Errorf("EHLO name = %q, want the server FQDN", sess.Helo)
	}
	for _, name := range []string{"", "localhost", "LOCALHOST"} {
		s := &Sender{ServerFQDN: name, Resolver: contosoDNS()}
		r := s.Send(context.Background(), c, message("a@contoso.com"))[0]
		if r.Outcome != outcome.Deferred || r.Reason != ReasonConfig {
			t.Errorf("ServerFQDN %q: %+v", name, r)
		}
	}
	select {
	case sess := <-srv.Sessions():
		t.Errorf("a session was opened without a usable name: %+v", sess)
	default:
	}
}

func TestSendSourceIP(t *testing.T) {
	srv := startServer(t, &smtptest.Server{})
	s := &Sender{ServerFQDN: "server.fabrikam.com"}
	c := Connector{Name: "Internet", Hosts: []string{srv.Addr}, SourceIP: "127.0.0.2"}
	if r := s.Send(context.Background(), c, message("a@contoso.com"))[0]; r.Outcome != outcome.Delivered {
		t.Fatalf("result = %+v", r)
	}
	if sess := waitSession(t, srv); !strings.HasPrefix(sess.Remote, "127.0.0.2:") {
		t.Errorf("server saw the client at %s, want 127.0.0.2", sess.Remote)
	}
}

func TestSendPeerReplies(t *testing.T) {
	srv := startServer(t, &smtptest.Server{Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		switch {
		case cmd.Verb == "RCPT" && strings.Contains(cmd.Arg, "unknown@"):
			return smtp.Reply{Code: 550, Enhanced: "5.1.1", Lines: []string{"User unknown"}}, true
		case cmd.Verb == "RCPT" && strings.Contains(cmd.Arg, "full@"):
			return smtp.Reply{Code: 452, Enhanced: "4.2.2", Lines: []string{"Mailbox full"}}, true
		}
		return smtp.Reply{}, false
	}})
	when := time.Date(2017, 11, 1, 12, 12, 45, 0, time.UTC)
	s := &Sender{ServerFQDN: "server.fabrikam.com", Now: func() time.Time { return when }}
	c := Connector{Name: "Internet", Hosts: []string{srv.Addr}}
	rs := s.Send(context.Background(), c, message("ok@contoso.com", "unknown@contoso.com", "full@contoso.com"))
	want := []struct {
		outcome outcome.Outcome
		status  string
	}{
		{outcome.Delivered, "250 2.6.0 Queued mail for delivery"},
		{outcome.Failed, "550 5.1.1 User unknown"},
		{outcome.Deferred, "452 4.2.2 Mailbox full"},
	}
	for i, w := range want {
		if rs[i].Outcome != w.outcome || rs[i].Status != w.status {
			t.Errorf("%s: %s %q, want %s %q", rs[i].Rcpt, rs[i].Outcome, rs[i].Status, w.outcome, w.status)
		}
	}
	wantDetail := "{LED=550 5.1.1 User unknown};{MSG=};{FQDN=127.0.0.1};{IP=127.0.0.1};{LRT=11/1/2017 12:12:45 PM}"
	if rs[1].LastError.String() != wantDetail {
		t.Errorf("detail = %s\nwant     %s", rs[1].LastError.String(), wantDetail)
	}
	if sess := waitSession(t, srv); len(sess.Messages) != 1 || !slices.Equal(sess.Messages[0].Rcpts, []string{"ok@contoso.com"}) {
		t.Errorf("server messages = %+v", sess.Messages)
	}

	for _, tc := range []struct {
		verb    string
		reply   smtp.Reply
		outcome outcome.Outcome
	}{
		{"MAIL", smtp.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"Sender rejected"}}, outcome.Failed},
		{"DATA", smtp.Reply{Code: 554, Enhanced: "5.6.0", Lines: []string{"Content rejected"}}, outcome.Failed},
		{"DATA", smtp.Reply{Code: 451, Enhanced: "4.3.0", Lines: []string{"Try later"}}, outcome.Deferred},
	} {
		srv := startServer(t, &smtptest.Server{Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
			return tc.reply, cmd.Verb == tc.verb
		}})
		c := Connector{Name: "Internet", Hosts: []string{srv.Addr}}
		for _, r := range s.Send(context.Background(), c, message("a@contoso.com", "b@contoso.com")) {
			if r.Outcome != tc.outcome || r.Status != tc.reply.Text() || len(r.Attempts) != 1 {
				t.Errorf("%s %d: %+v", tc.verb, tc.reply.Code, r)
			}
		}
		waitSession(t, srv)
	}
}

func TestSendOpportunisticTLS(t *testing.T) {
	p := testPKI(t)
	// The server demands a client certificate we do not have: the handshake
	// fails, and opportunistic TLS retries the same host in plaintext.
	cfg := testkit.ServerTLS(p.server)
	cfg.ClientAuth = tls.RequireAnyClientCert
	srv := startServer(t, &smtptest.Server{TLSConfig: cfg})
	s := &Sender{ServerFQDN: "server.fabrikam.com"}
	c := Connector{Name: "Internet", Hosts: []string{srv.Addr}, Level: tlscheck.EncryptionOnly}
	r := s.Send(context.Background(), c, message("a@contoso.com"))[0]
	if r.Outcome != outcome.Delivered || r.TLS != nil || len(r.Attempts) != 2 || r.Attempts[0].Reason != ReasonTLS {
		t.Fatalf("result = %+v", r)
	}
	// The server reports sessions as they end, so under load the plaintext
	// retry may be reported before the failed TLS attempt: tell them apart
	// by content, not order.
	first, second := waitSession(t, srv), waitSession(t, srv)
	if slices.Contains(first.Lines, "STARTTLS") == slices.Contains(second.Lines, "STARTTLS") {
		t.Fatalf("want one session with STARTTLS and one without: %q / %q", first.Lines, second.Lines)
	}
	tlsTry, plain := first, second
	if !slices.Contains(first.Lines, "STARTTLS") {
		tlsTry, plain = second, first
	}
	if len(tlsTry.Messages) != 0 || len(plain.Messages) != 1 {
		t.Errorf("sessions: %q / %q", tlsTry.Lines, plain.Lines)
	}

	// STARTTLS refused with 454: go on in plaintext in the same session.
	refusing := startServer(t, &smtptest.Server{TLSConfig: testkit.ServerTLS(p.server), Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		return smtp.Reply{Code: 454, Enhanced: "4.7.0", Lines: []string{"not now"}}, cmd.Verb == "STARTTLS"
	}})
	c.Hosts = []string{refusing.Addr}
	r = s.Send(context.Background(), c, message("a@contoso.com"))[0]
	if r.Outcome != outcome.Delivered || len(r.Attempts) != 1 {
		t.Fatalf("refused STARTTLS: %+v", r)
	}
	if sess := waitSession(t, refusing); len(sess.Messages) != 1 {
		t.Errorf("refusing server: %+v", sess)
	}
}

func TestSendSizeAndSMTPUTF8(t *testing.T) {
	srv := startServer(t, &smtptest.Server{Extensions: []string{"PIPELINING", "SIZE 100"}})
	s := &Sender{ServerFQDN: "server.fabrikam.com"}
	c := Connector{Name: "Internet", Hosts: []string{srv.Addr}}
	m := message("a@contoso.com")
	m.Size = 1000
	if r := s.Send(context.Background(), c, m)[0]; r.Outcome != outcome.Failed || r.Status != StatusTooLarge {
		t.Errorf("too large: %+v", r)
	}
	waitSession(t, srv)
	m.Size = 50
	if r := s.Send(context.Background(), c, m)[0]; r.Outcome != outcome.Delivered {
		t.Errorf("small: %+v", r)
	}
	if sess := waitSession(t, srv); !slices.Contains(sess.Lines, "MAIL FROM:<sender@fabrikam.com> SIZE=50") {
		t.Errorf("lines = %q", sess.Lines)
	}
	if r := s.Send(context.Background(), c, message("jürgen@contoso.com"))[0]; r.Outcome != outcome.Failed || r.Status != StatusSMTPUTF8Missing {
		t.Errorf("SMTPUTF8: %+v", r)
	}
	waitSession(t, srv)
}

func TestSendCancelled(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := silent.Accept(); err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{ServerFQDN: "server.fabrikam.com"}
	c := Connector{Name: "Internet", Hosts: []string{silent.Addr().String(), silent.Addr().String()}}
	done := make(chan []Result)
	go func() { done <- s.Send(ctx, c, message("a@contoso.com")) }()
	conn := <-accepted // the session is waiting for the banner
	defer conn.Close()
	cancel()
	r := (<-done)[0]
	if r.Outcome != outcome.Deferred || r.Status != StatusCancelled || len(r.Attempts) != 1 {
		t.Errorf("result = %+v", r)
	}

	// Already cancelled: nothing is resolved or dialled.
	dialled := false
	s.Dialer = func(context.Context, string, string, string) (net.Conn, error) {
		dialled = true
		return nil, errors.New("unexpected dial")
	}
	r = s.Send(ctx, c, message("a@contoso.com"))[0]
	if r.Status != StatusCancelled || dialled {
		t.Errorf("pre-cancelled: %+v (dialled %v)", r, dialled)
	}
}

func TestClassify(t *testing.T) {
	if f := classifySession("MAIL", fmt.Errorf("x: %w", errors.New("boom"))); f.status != StatusCannotConnect {
		t.Errorf("generic: %+v", f)
	}
	if f := classifyDial(fmt.Errorf("dial: %w", context.Canceled)); f.status != StatusCancelled {
		t.Errorf("cancel: %+v", f)
	}
	if got := tlsProtocolName(tls.VersionTLS12); got != "SP_PROT_TLS1_2_CLIENT" {
		t.Errorf("protocol name %q", got)
	}
}

// noDNS fails the test on any lookup.
type noDNS struct{ t *testing.T }

func (d noDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	d.t.Errorf("MX lookup of %q", name)
	return nil, errors.New("no DNS in this test")
}

func (d noDNS) LookupHost(_ context.Context, host string) ([]string, error) {
	d.t.Errorf("address lookup of %q", host)
	return nil, errors.New("no DNS in this test")
}

// A smart host written as an address literal ("[127.0.0.1]:port", the
// usual way to say "no MX lookup") is dialled as is: no DNS query at all.
func TestSendToAddressLiteralWithoutDNS(t *testing.T) {
	srv := startServer(t, &smtptest.Server{})
	s := &Sender{ServerFQDN: "server.fabrikam.com", Resolver: noDNS{t}}
	for _, host := range []string{"[127.0.0.1]:" + strconv.Itoa(testkit.PortOf(t, srv.Addr)), "[IPv6:::ffff:127.0.0.1]:" + strconv.Itoa(testkit.PortOf(t, srv.Addr))} {
		c := Connector{Name: "Literal", Hosts: []string{host}, ConnectTimeout: 5 * time.Second}
		if r := s.Send(context.Background(), c, message("a@unresolvable.invalid"))[0]; r.Outcome != outcome.Delivered || r.RemoteIP != "127.0.0.1" && r.RemoteIP != "::ffff:127.0.0.1" {
			t.Fatalf("%s: result = %+v", host, r)
		}
		waitSession(t, srv)
	}
}
