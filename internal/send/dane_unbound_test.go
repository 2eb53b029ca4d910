package send

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/testkit/dnsstack"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// TestDANEThroughUnbound delivers through a real validating resolver
// (unbound) over zones nsd serves, signed with ldns-signzone.
func TestDANEThroughUnbound(t *testing.T) {
	dnsstack.Require(t)
	p := testPKI(t)
	leaf := testkit.Cert(t, certs.Template{Subject: "CN=mx.dane.test",
		SANs: []string{"mx.dane.test", "mx.ta.test", "mx.renew.test", "mx.bogus.test", "mx.plain.test"}, Issuer: p.inter}, time.Now())
	old := testkit.Cert(t, certs.Template{Subject: "CN=mx.renew.test", SANs: []string{"mx.renew.test"}}, time.Now())
	srv := startServer(t, &smtptest.Server{Hostname: "mx.dane.test", TLSConfig: testkit.ServerTLS(leaf)})
	port := testkit.PortOf(t, srv.Addr)

	zone := func(name string, signed, tamper bool, tlsa ...string) dnsstack.Zone {
		z := dnsstack.Zone{Name: name, Signed: signed, Tamper: tamper, Records: []string{
			fmt.Sprintf("%s. 2 IN MX 10 mx.%s.", name, name), fmt.Sprintf("mx.%s. 2 IN A 127.0.0.1", name)}}
		for _, r := range tlsa {
			z.Records = append(z.Records, fmt.Sprintf("_%d._tcp.mx.%s. 2 IN TLSA %s", port, name, r))
		}
		return z
	}
	st := dnsstack.Start(t, dnsstack.Options{},
		zone("dane.test", true, false, tlsaOf(t, leaf, 3, 1, 1)),
		zone("ta.test", true, false, tlsaOf(t, p.inter, 2, 1, 1)),
		zone("renew.test", true, false, tlsaOf(t, old, 3, 1, 1)),
		zone("bogus.test", true, true, tlsaOf(t, leaf, 3, 1, 1)),
		zone("plain.test", false, false, tlsaOf(t, old, 3, 1, 1)),
	)
	r, err := dnsres.New(dnsres.Config{Servers: []string{st.Resolver}, Mode: dnsres.TrustAD, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	obs := &outcomes{}
	s := &Sender{ServerFQDN: "mail.fabrikam.com", DNS: r, Observer: obs, Roots: p.roots}
	c := Connector{Name: "Outbound", Port: port, DANE: DANEOpportunistic}

	for _, tc := range []struct {
		domain   string
		outcome  outcome.Outcome
		status   string
		policy   PolicyType
		sessions int
	}{
		{"dane.test", outcome.Delivered, "", PolicyTLSA, 1},
		{"ta.test", outcome.Delivered, "", PolicyTLSA, 1},
		{"renew.test", outcome.Deferred, tlscheck.StatusTLSAInvalid, PolicyTLSA, 1},
		{"bogus.test", outcome.Deferred, tlscheck.StatusDNSSECInvalid, PolicyTLSA, 0},
		{"plain.test", outcome.Delivered, "", PolicyConnector, 1},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			before := len(obs.list())
			res := s.Send(t.Context(), c, message("user@"+tc.domain))[0]
			if res.Outcome != tc.outcome || tc.status != "" && res.Status != tc.status {
				t.Fatalf("%v %q %q; want %v %q", res.Outcome, res.Status, detailOf(res), tc.outcome, tc.status)
			}
			if tc.sessions == 1 {
				sess := waitSession(t, srv)
				if delivered := len(sess.Messages) > 0; delivered != (tc.outcome == outcome.Delivered) {
					t.Fatalf("receiver got %d messages", len(sess.Messages))
				}
			}
			o := obs.list()[before:]
			if len(o) != 1 || o[0].Type != tc.policy || o[0].Success != (tc.outcome == outcome.Delivered) {
				t.Fatalf("policy outcomes %+v", o)
			}
			if tc.status == tlscheck.StatusDNSSECInvalid && !strings.Contains(detailOf(res), "DNSSEC Bogus") {
				t.Errorf("detail %q does not quote the resolver's extended error", detailOf(res))
			}
		})
	}
	select {
	case sess := <-srv.Sessions():
		t.Fatalf("an unexpected session reached the receiver: %v", sess.Lines)
	default:
	}
}
