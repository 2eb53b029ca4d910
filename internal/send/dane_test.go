package send

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/dnsres/dnstest"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// outcomes collects policy outcomes (what TLS-RPT will record).
type outcomes struct {
	mu  sync.Mutex
	got []PolicyOutcome
}

func (o *outcomes) PolicyOutcome(p PolicyOutcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, p)
}

func (o *outcomes) list() []PolicyOutcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]PolicyOutcome(nil), o.got...)
}

func tlsaOf(t *testing.T, c *certs.Certificate, u, s, m uint8) string {
	t.Helper()
	r, err := tlscheck.RecordFor(c.Leaf, u, s, m)
	if err != nil {
		t.Fatal(err)
	}
	return r.String()
}

type daneLab struct {
	dns    *dnstest.Server
	srv    *smtptest.Server
	port   int
	sender *Sender
	obs    *outcomes
	logs   func() []protolog.Record
	leaf   *certs.Certificate // presented by srv: CN=mx.signed.test, issued by the lab intermediate
	inter  *certs.Certificate
}

func newDANELab(t *testing.T, serverOpts ...func(*smtptest.Server)) *daneLab {
	t.Helper()
	p := testPKI(t)
	l := &daneLab{inter: p.inter}
	l.leaf = testkit.Cert(t, certs.Template{Subject: "CN=mx.signed.test", SANs: []string{"mx.signed.test", "mx.plain.test"}, Issuer: p.inter}, time.Now())
	l.srv = &smtptest.Server{Hostname: "mx.signed.test", TLSConfig: testkit.ServerTLS(l.leaf)}
	for _, o := range serverOpts {
		o(l.srv)
	}
	startServer(t, l.srv)
	l.port = testkit.PortOf(t, l.srv.Addr)
	l.dns = dnstest.Start(t)
	l.dns.Add(t,
		"signed.test. 60 IN MX 10 mx.signed.test.",
		"mx.signed.test. 60 IN A 127.0.0.1",
		"plain.test. 60 IN MX 10 mx.plain.test.",
		"mx.plain.test. 60 IN A 127.0.0.1",
		"bad.test. 60 IN MX 10 mx.bad.test.",
		"mx.bad.test. 60 IN A 127.0.0.1",
		"mxbogus.test. 60 IN MX 10 mx.mxbogus.test.",
	)
	l.dns.Secure("signed.test", "bad.test")
	l.dns.Bogus("_tcp.mx.bad.test", "mxbogus.test")
	r, err := dnsres.New(dnsres.Config{Servers: []string{l.dns.Addr}, Mode: dnsres.TrustAD, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w, read := sendLog(t)
	l.logs = read
	l.obs = &outcomes{}
	l.sender = &Sender{ServerFQDN: "mail.fabrikam.com", DNS: r, Observer: l.obs, Log: w, Roots: p.roots}
	return l
}

func (l *daneLab) tlsa(t *testing.T, host string, records ...string) {
	t.Helper()
	for _, r := range records {
		l.dns.Add(t, fmt.Sprintf("_%d._tcp.%s. 60 IN TLSA %s", l.port, host, r))
	}
}

func (l *daneLab) send(rcpt string, c Connector) Result {
	c.Port, c.Log = l.port, true
	if c.Name == "" {
		c.Name = "Outbound"
	}
	return l.sender.Send(context.Background(), c, message(rcpt))[0]
}

func TestDANEOutbound(t *testing.T) {
	other := testkit.Cert(t, certs.Template{Subject: "CN=mx.signed.test", SANs: []string{"mx.signed.test"}}, time.Now())
	unknown := "3 7 1 " + strings.Repeat("ab", 32)

	cases := []struct {
		name     string
		domain   string
		records  []string
		conn     Connector
		outcome  outcome.Outcome
		status   string
		reason   string
		policy   PolicyType
		result   string // TLS-RPT result type, "" = success
		sessions int    // sessions the receiver saw
		detail   string
	}{
		{name: "3 1 1 matches", domain: "signed.test", records: []string{"LEAF311"}, conn: Connector{DANE: DANEOpportunistic},
			outcome: outcome.Delivered, policy: PolicyTLSA, sessions: 1},
		{name: "2 1 1 matches the issuing CA and the MX name", domain: "signed.test", records: []string{"INTER211"}, conn: Connector{DANE: DANEOpportunistic},
			outcome: outcome.Delivered, policy: PolicyTLSA, sessions: 1},
		{name: "DANE wins over DomainValidation with another name", domain: "signed.test", records: []string{"LEAF311"},
			conn:    Connector{DANE: DANEOpportunistic, RequireTLS: true, Level: tlscheck.DomainValidation, TLSDomain: "other.example"},
			outcome: outcome.Delivered, policy: PolicyTLSA, sessions: 1},
		{name: "renewed key, old record: 4.7.323", domain: "signed.test", records: []string{"OTHER311"}, conn: Connector{DANE: DANEOpportunistic},
			outcome: outcome.Deferred, status: tlscheck.StatusTLSAInvalid, reason: "tlsa-invalid", policy: PolicyTLSA, result: ResultTLSAInvalid, sessions: 1, detail: "3 1 1 "},
		{name: "unknown parameters only: TLS without authentication", domain: "signed.test", records: []string{unknown}, conn: Connector{DANE: DANEOpportunistic},
			outcome: outcome.Delivered, policy: PolicyTLSA, sessions: 1},
		{name: "bogus TLSA: 4.7.324, no connection", domain: "bad.test", conn: Connector{DANE: DANEOpportunistic},
			outcome: outcome.Deferred, status: tlscheck.StatusDNSSECInvalid, reason: ReasonDNSSECInvalid, policy: PolicyTLSA, result: ResultDNSSECInvalid, sessions: 0, detail: "DNSSEC Bogus"},
		{name: "bogus MX: 4.7.324", domain: "mxbogus.test", conn: Connector{DANE: DANEOpportunistic},
			outcome: outcome.Deferred, status: tlscheck.StatusDNSSECInvalid, reason: ReasonDNSSECInvalid, sessions: 0},
		{name: "unsigned zone: the connector's policy", domain: "plain.test", records: []string{"OTHER311"}, conn: Connector{DANE: DANEOpportunistic},
			outcome: outcome.Delivered, policy: PolicyConnector, sessions: 1},
		{name: "unsigned zone, dane required: deferred", domain: "plain.test", conn: Connector{DANE: DANERequired},
			outcome: outcome.Deferred, status: tlscheck.StatusTLSAInvalid, reason: ReasonDANERequired, policy: PolicyTLSA, result: ResultDANERequired, sessions: 0},
		{name: "signed zone without TLSA: the connector's policy", domain: "signed.test", conn: Connector{DANE: DANEOpportunistic},
			outcome: outcome.Delivered, policy: PolicyConnector, sessions: 1},
		{name: "dane off ignores a mismatching record", domain: "signed.test", records: []string{"OTHER311"}, conn: Connector{DANE: DANEOff},
			outcome: outcome.Delivered, policy: PolicyConnector, sessions: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newDANELab(t)
			host := "mx." + tc.domain
			for _, r := range tc.records {
				switch r {
				case "LEAF311":
					r = tlsaOf(t, l.leaf, 3, 1, 1)
				case "INTER211":
					r = tlsaOf(t, l.inter, 2, 1, 1)
				case "OTHER311":
					r = tlsaOf(t, other, 3, 1, 1)
				}
				l.tlsa(t, host, r)
			}
			res := l.send("user@"+tc.domain, tc.conn)
			if res.Outcome != tc.outcome || tc.status != "" && res.Status != tc.status || res.Reason != tc.reason {
				t.Fatalf("outcome %v status %q reason %q detail %q; want %v %q %q", res.Outcome, res.Status, res.Reason, detailOf(res), tc.outcome, tc.status, tc.reason)
			}
			if !strings.Contains(detailOf(res), tc.detail) {
				t.Errorf("detail %q lacks %q", detailOf(res), tc.detail)
			}
			if tc.outcome != outcome.Delivered && !strings.Contains(detailOf(res), "{LED="+tc.status) {
				t.Errorf("detail %q does not lead with %s", detailOf(res), tc.status)
			}
			n := 0
			for drained := false; !drained; {
				select {
				case <-l.srv.Sessions():
					n++
				default:
					drained = true
				}
			}
			if tc.sessions > 0 && n == 0 {
				n = len([]*smtptest.Session{waitSession(t, l.srv)})
			}
			if n != tc.sessions {
				t.Errorf("receiver saw %d sessions; want %d", n, tc.sessions)
			}
			got := l.obs.list()
			if tc.policy == "" {
				return
			}
			if len(got) != 1 {
				t.Fatalf("policy outcomes %+v; want one", got)
			}
			o := got[0]
			if o.Type != tc.policy || o.ResultType != tc.result || o.Success != (tc.result == "") || o.Domain != tc.domain || o.MXHost != host {
				t.Errorf("outcome %+v; want type %s result %q", o, tc.policy, tc.result)
			}
			if tc.policy == PolicyTLSA && len(tc.records) > 0 && (len(o.Strings) != len(tc.records) || !strings.Contains(o.Strings[0], "IN TLSA")) {
				t.Errorf("policy strings %v", o.Strings)
			}
		})
	}
}

func TestDANEProtocolLogShowsRecords(t *testing.T) {
	l := newDANELab(t)
	other := testkit.Cert(t, certs.Template{Subject: "CN=x"}, time.Now())
	l.tlsa(t, "mx.signed.test", tlsaOf(t, other, 3, 1, 1))
	res := l.send("user@signed.test", Connector{DANE: DANEOpportunistic})
	if res.Status != tlscheck.StatusTLSAInvalid {
		t.Fatalf("status %q", res.Status)
	}
	recs := l.logs()
	if !hasRecord(recs, '*', "TLSA records seen: _") || !hasRecord(recs, '*', "450 4.7.323 tlsa-invalid") || !hasRecord(recs, '*', tlsaOf(t, l.leaf, 3, 1, 1)) {
		for _, r := range recs {
			t.Log(r.Event, r.Data, r.Context)
		}
		t.Fatal("protocol log lacks the TLSA records, the 4.7.323 status or the record to publish")
	}
}

func TestDANESmartHostByName(t *testing.T) {
	l := newDANELab(t)
	other := testkit.Cert(t, certs.Template{Subject: "CN=x"}, time.Now())
	l.tlsa(t, "mx.signed.test", tlsaOf(t, other, 3, 1, 1))
	c := Connector{DANE: DANEOpportunistic, Hosts: []string{fmt.Sprintf("mx.signed.test:%d", l.port)}}
	res := l.send("user@anything.example", c)
	if res.Status != tlscheck.StatusTLSAInvalid {
		t.Fatalf("smart host with a mismatching TLSA at _%d._tcp.mx.signed.test: %q %q", l.port, res.Status, detailOf(res))
	}
	l.dns.Replace(fmt.Sprintf("_%d._tcp.mx.signed.test", l.port), 52)
	l.tlsa(t, "mx.signed.test", tlsaOf(t, l.leaf, 3, 1, 1))
	if res := l.send("user@anything.example", c); res.Outcome != outcome.Delivered {
		t.Fatalf("after publishing the right record: %q %q", res.Status, detailOf(res))
	}
}

func TestDANENoSTARTTLS(t *testing.T) {
	l := newDANELab(t, func(s *smtptest.Server) { s.TLSConfig = nil })
	l.tlsa(t, "mx.signed.test", tlsaOf(t, l.leaf, 3, 1, 1))
	res := l.send("user@signed.test", Connector{DANE: DANEOpportunistic})
	if res.Status != tlscheck.StatusStartTLSNotSupported || res.Outcome != outcome.Deferred {
		t.Fatalf("no STARTTLS under DANE: %q %q", res.Status, detailOf(res))
	}
	if o := l.obs.list(); len(o) != 1 || o[0].ResultType != ResultStartTLSNotSupported {
		t.Fatalf("outcomes %+v", o)
	}
}

func TestDANEThousandRecords(t *testing.T) {
	l := newDANELab(t)
	var recs []string
	for i := range 1000 {
		recs = append(recs, fmt.Sprintf("3 1 1 %064x", i))
	}
	l.tlsa(t, "mx.signed.test", recs...)
	res := l.send("user@signed.test", Connector{DANE: DANEOpportunistic})
	if res.Status != tlscheck.StatusTLSAInvalid || !strings.Contains(detailOf(res), "and 996 more") {
		t.Fatalf("1,000 records: %q %q", res.Status, detailOf(res))
	}
	l.tlsa(t, "mx.signed.test", tlsaOf(t, l.leaf, 3, 1, 1))
	if res := l.send("user@signed.test", Connector{DANE: DANEOpportunistic}); res.Outcome != outcome.Delivered {
		t.Fatalf("1,001st record matches: %q %q", res.Status, detailOf(res))
	}
}

// detailOf is the LastError text of a result ("" on delivery).
func detailOf(r Result) string {
	if r.LastError == nil {
		return ""
	}
	return r.LastError.String()
}

// TestDANEBogusLogged: a target refused before connecting (bogus TLSA) is
// still in the SmtpSend protocol log, with the status and the reason.
func TestDANEBogusLogged(t *testing.T) {
	l := newDANELab(t)
	res := l.send("user@bad.test", Connector{DANE: DANEOpportunistic})
	if res.Status != tlscheck.StatusDNSSECInvalid {
		t.Fatalf("status %q", res.Status)
	}
	recs := l.logs()
	if !hasRecord(recs, '*', "450 4.7.324 dnssec-invalid") || !hasRecord(recs, '*', "DNSSEC Bogus") {
		for _, r := range recs {
			t.Log(string(r.Event), r.Data, r.Context)
		}
		t.Fatal("the protocol log lacks the refused target")
	}
}

// TestDANEHandshakeFailureNoPlaintext: under DANE a failed handshake is
// 4.7.321 starttls-not-supported and never retried in plaintext.
func TestDANEHandshakeFailureNoPlaintext(t *testing.T) {
	l := newDANELab(t, func(s *smtptest.Server) { s.TLSConfig.MaxVersion = tls.VersionTLS11 })
	l.tlsa(t, "mx.signed.test", tlsaOf(t, l.leaf, 3, 1, 1))
	res := l.send("user@signed.test", Connector{DANE: DANEOpportunistic})
	if res.Status != tlscheck.StatusStartTLSNotSupported || len(res.Attempts) != 1 {
		t.Fatalf("status %q after %d attempts (%+v); want 4.7.321 after one", res.Status, len(res.Attempts), res.Attempts)
	}
	// Without DANE the same server gets the message in plaintext.
	if res := l.send("user@plain.test", Connector{DANE: DANEOpportunistic}); res.Outcome != outcome.Delivered || len(res.Attempts) != 2 {
		t.Fatalf("unsigned zone: %v after %d attempts; want delivered on the plaintext retry", res.Outcome, len(res.Attempts))
	}
}

// TestDANECNAMEExpansion (RFC 7672 §2.2.3): an MX host that is an alias
// has its TLSA records looked up at the end of the CNAME chain first, with
// that name sent in SNI; without records there, at the alias itself.
func TestDANECNAMEExpansion(t *testing.T) {
	l := newDANELab(t)
	l.dns.Add(t, "alias.test. 60 IN MX 10 mx.alias.test.", "mx.alias.test. 60 IN CNAME mx.signed.test.")
	l.dns.Secure("alias.test")
	other := testkit.Cert(t, certs.Template{Subject: "CN=x"}, time.Now())
	// The alias has a stale record, the canonical name the right one: the
	// canonical name decides.
	l.tlsa(t, "mx.alias.test", tlsaOf(t, other, 3, 1, 1))
	l.tlsa(t, "mx.signed.test", tlsaOf(t, l.leaf, 3, 1, 1))
	res := l.send("user@alias.test", Connector{DANE: DANEOpportunistic})
	if res.Outcome != outcome.Delivered {
		t.Fatalf("records at the canonical name: %q %q", res.Status, detailOf(res))
	}
	if sess := waitSession(t, l.srv); sess.TLS == nil || sess.TLS.ServerName != "mx.signed.test" {
		t.Fatalf("SNI %+v; want the TLSA base domain mx.signed.test", sess.TLS)
	}
	if o := l.obs.list(); len(o) != 1 || !strings.Contains(strings.Join(o[0].Strings, " "), fmt.Sprintf("_%d._tcp.mx.signed.test.", l.port)) {
		t.Fatalf("policy %+v; want the records of the canonical name", o)
	}

	// No records at the canonical name: the alias's own records decide.
	l.dns.Replace(fmt.Sprintf("_%d._tcp.mx.signed.test", l.port), 52)
	res = l.send("user@alias.test", Connector{DANE: DANEOpportunistic})
	if res.Status != tlscheck.StatusTLSAInvalid || !strings.Contains(detailOf(res), fmt.Sprintf("_%d._tcp.mx.alias.test.", l.port)) {
		t.Fatalf("records at the alias only: %q %q", res.Status, detailOf(res))
	}
}
