package mtasts

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/dnsres/dnstest"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
)

type outcomes struct {
	mu  sync.Mutex
	got []send.PolicyOutcome
}

func (o *outcomes) PolicyOutcome(p send.PolicyOutcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, p)
}

func (o *outcomes) take() []send.PolicyOutcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.got
	o.got = nil
	return out
}

// stsLab: real SMTP test servers on loopback, an in-process DNS server and
// an HTTPS policy server with a test CA, and a Sender with MTA-STS as its
// policy source.
type stsLab struct {
	sender           *send.Sender
	obs              *outcomes
	withREQ, without *smtptest.Server
}

func policy(mode, mx string) string {
	return fmt.Sprintf("version: STSv1\nmode: %s\nmx: %s\nmax_age: 86400\n", mode, mx)
}

func newSTSLab(t *testing.T) *stsLab {
	t.Helper()
	domains := []string{"enforce.test", "wrongmx.test", "testing.test", "badcert.test", "nosts.test", "stall.test"}
	ps := newPolicyServer(t, domains...)
	policies := map[string]string{
		"enforce.test": policy("enforce", "mx.enforce.test"),
		"wrongmx.test": policy("enforce", "*.elsewhere.test"),
		"testing.test": policy("testing", "mx.elsewhere.test"),
		"badcert.test": policy("enforce", "mx.badcert.test"),
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	ps.serve(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		if host == "mta-sts.stall.test" {
			<-stop // a policy server that never answers
			return
		}
		text, ok := policies[strings.TrimPrefix(host, "mta-sts.")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(text))
	})
	leaf, err := certs.Generate(certs.Template{
		SANs:   []string{"mx.enforce.test", "mx.wrongmx.test", "mx.testing.test", "mx.nosts.test", "mx.stall.test"},
		Issuer: ps.ca, KeyType: "ecdsa-p256", ServerAuth: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{*leaf.TLS()}}
	l := &stsLab{obs: &outcomes{}}
	l.withREQ = &smtptest.Server{TLSConfig: tlsCfg, Extensions: []string{"PIPELINING", "ENHANCEDSTATUSCODES", "REQUIRETLS"}}
	l.withREQ.Start(t)
	l.without = &smtptest.Server{TLSConfig: tlsCfg}
	l.without.Start(t)

	d := dnstest.Start(t)
	for _, dom := range domains {
		d.Add(t, fmt.Sprintf("%s. 60 IN MX 10 mx.%s.", dom, dom), fmt.Sprintf("mx.%s. 60 IN A 127.0.0.1", dom),
			fmt.Sprintf("mta-sts.%s. 60 IN A 127.0.0.1", dom))
		if dom != "nosts.test" {
			d.Add(t, fmt.Sprintf(`_mta-sts.%s. 60 IN TXT "v=STSv1; id=1"`, dom))
		}
	}
	r, err := dnsres.New(dnsres.Config{Servers: []string{d.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	client := &Client{Fetcher: Fetcher{Resolver: DNS(r), Roots: ps.roots, Port: ps.port, Timeout: time.Second}, Dir: t.TempDir()}
	t.Cleanup(client.Close)
	l.sender = &send.Sender{
		ServerFQDN: "mail.fabrikam.com", DNS: r, Roots: ps.roots, Observer: l.obs,
		Policies: []send.PolicySource{&Source{Client: client, Observer: l.obs}},
	}
	return l
}

func (l *stsLab) send(t *testing.T, srv *smtptest.Server, rcpt string, mutate func(*send.Connector, *send.Message)) send.Result {
	t.Helper()
	c := send.Connector{Name: "Internet", Port: portOf(srv.Addr), MTASTS: true}
	m := send.Message{ID: "t", From: "alice@fabrikam.com", Rcpts: []string{rcpt},
		Body: send.BytesBody([]byte("From: alice@fabrikam.com\r\nSubject: hi\r\n\r\nhi\r\n"))}
	if mutate != nil {
		mutate(&c, &m)
	}
	return l.sender.Send(context.Background(), c, m)[0]
}

func portOf(addr string) int {
	var p int
	fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &p)
	return p
}

func TestSenderAppliesMTASTS(t *testing.T) {
	l := newSTSLab(t)
	requireTLS := func(_ *send.Connector, m *send.Message) { m.RequireTLS = true }
	tlsOptional := func(_ *send.Connector, m *send.Message) { m.TLSOptional = true }
	for _, tc := range []struct {
		name    string
		rcpt    string
		srv     *smtptest.Server
		mutate  func(*send.Connector, *send.Message)
		outcome outcome.Outcome
		status  string // prefix
		detail  string // substring
		report  string // TLS-RPT result type of the sts outcome; "ok" for success, "" for none
	}{
		{name: "enforce, MX listed, valid certificate", rcpt: "bob@enforce.test", outcome: outcome.Delivered, status: "250", report: "ok"},
		{name: "enforce, MX not listed", rcpt: "bob@wrongmx.test", outcome: outcome.Deferred, status: StatusMXNotAllowed,
			detail: `add the line "mx: mx.wrongmx.test"`, report: send.ResultValidationFailure},
		{name: "enforce, certificate not for the MX", rcpt: "bob@badcert.test", outcome: outcome.Deferred, status: "450 4.7.320",
			detail: "mx.badcert.test", report: send.ResultCertificateHostMismatch},
		{name: "testing, MX not listed: delivered and reported", rcpt: "bob@testing.test", outcome: outcome.Delivered, status: "250",
			report: send.ResultValidationFailure},
		{name: "no policy", rcpt: "bob@nosts.test", outcome: outcome.Delivered, status: "250"},
		{name: "policy server times out: delivered as without a policy, and reported", rcpt: "bob@stall.test", outcome: outcome.Delivered, status: "250",
			report: ResultFetchError},
		{name: "mta_sts off", rcpt: "bob@wrongmx.test", outcome: outcome.Delivered, status: "250",
			mutate: func(c *send.Connector, _ *send.Message) { c.MTASTS = false }},
		{name: "TLS-Required: No despite enforce", rcpt: "bob@wrongmx.test", mutate: tlsOptional, outcome: outcome.Delivered, status: "250",
			report: send.ResultValidationFailure},
		{name: "REQUIRETLS to a validated host that offers it", rcpt: "bob@enforce.test", srv: l.withREQ, mutate: requireTLS,
			outcome: outcome.Delivered, status: "250", report: "ok"},
		{name: "REQUIRETLS, host does not offer it", rcpt: "bob@enforce.test", mutate: requireTLS,
			outcome: outcome.Failed, status: send.StatusRequireTLS, detail: "does not offer REQUIRETLS", report: "ok"},
		{name: "REQUIRETLS, no DANE or MTA-STS", rcpt: "bob@nosts.test", srv: l.withREQ, mutate: requireTLS,
			outcome: outcome.Failed, status: send.StatusRequireTLS, detail: "neither DANE"},
		{name: "REQUIRETLS enforces a testing policy", rcpt: "bob@testing.test", srv: l.withREQ, mutate: requireTLS,
			outcome: outcome.Deferred, status: StatusMXNotAllowed, report: send.ResultValidationFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.srv
			if srv == nil {
				srv = l.without
			}
			r := l.send(t, srv, tc.rcpt, tc.mutate)
			if r.Outcome != tc.outcome || !strings.HasPrefix(r.Status, tc.status) || !strings.Contains(r.LastError.String(), tc.detail) {
				t.Fatalf("got %v %q\n%s", r.Outcome, r.Status, r.LastError.String())
			}
			var sts []send.PolicyOutcome
			for _, o := range l.obs.take() {
				if o.Type == send.PolicySTS {
					sts = append(sts, o)
				}
			}
			switch {
			case tc.report == "" && len(sts) > 0:
				t.Errorf("unexpected sts outcomes %+v", sts)
			case tc.report == "ok" && (len(sts) != 1 || !sts[0].Success):
				t.Errorf("want one successful sts outcome, got %+v", sts)
			case tc.report != "" && tc.report != "ok" && (len(sts) == 0 || sts[0].ResultType != tc.report):
				t.Errorf("want sts outcome %s, got %+v", tc.report, sts)
			}
		})
	}
}

// TestREQUIRETLSPassedOn: the MAIL command to a host that offers
// REQUIRETLS carries it.
func TestREQUIRETLSPassedOn(t *testing.T) {
	l := newSTSLab(t)
	r := l.send(t, l.withREQ, "bob@enforce.test", func(_ *send.Connector, m *send.Message) { m.RequireTLS = true })
	if r.Outcome != outcome.Delivered {
		t.Fatalf("%v %s", r.Outcome, r.LastError.String())
	}
	var sess *smtptest.Session
	select {
	case sess = <-l.withREQ.Sessions():
	case <-time.After(10 * time.Second):
		t.Fatal("no session")
	}
	found := false
	for _, line := range sess.Lines {
		if strings.HasPrefix(line, "MAIL FROM:") && strings.HasSuffix(line, " REQUIRETLS") {
			found = true
		}
	}
	if !found {
		t.Fatalf("MAIL without REQUIRETLS: %q", sess.Lines)
	}
}
