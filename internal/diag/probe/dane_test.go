package probe

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/diag/probe/probetest"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit/dnsstack"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// TestProbeDANEThroughUnbound probes a host whose TLSA records are served
// by nsd from a signed zone and validated by unbound: after a renewal with
// a new key the probe fails with 4.7.323 and names the record to publish;
// with the record published it passes; --mx reports the MX RRset as secure.
func TestProbeDANEThroughUnbound(t *testing.T) {
	dnsstack.Require(t)
	renewed := probetest.GenCert(t, certs.Template{Subject: "CN=mx.dane.test", SANs: []string{"mx.dane.test"}})
	old := probetest.GenCert(t, certs.Template{Subject: "CN=mx.dane.test", SANs: []string{"mx.dane.test"}})
	srv := probetest.SMTP(t, &smtptest.Server{Hostname: "mx.dane.test", TLSConfig: probetest.TLSConfig(renewed)})
	_, portStr, _ := net.SplitHostPort(srv.Addr)
	port, _ := strconv.Atoi(portStr)
	rec := func(c *certs.Certificate) string {
		r, err := tlscheck.RecordFor(c.Leaf, 3, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		return r.String()
	}
	zone := func(tlsa ...string) dnsstack.Zone {
		z := dnsstack.Zone{Name: "dane.test", Signed: true, Records: []string{"dane.test. 2 IN MX 10 mx.dane.test.", "mx.dane.test. 2 IN A 127.0.0.1"}}
		for _, r := range tlsa {
			z.Records = append(z.Records, fmt.Sprintf("_%d._tcp.mx.dane.test. 2 IN TLSA %s", port, r))
		}
		return z
	}
	st := dnsstack.Start(t, dnsstack.Options{}, zone(rec(old)))
	res, err := dnsres.New(dnsres.Config{Servers: []string{st.Resolver}, Mode: dnsres.TrustAD, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Target: fmt.Sprintf("mx.dane.test:%d", port), DNS: res, Level: tlscheck.EncryptionOnly, Now: probetest.Clock}
	ctx := context.Background()

	r := Run(ctx, opts)
	if r.Verdict.Result != Fail || r.Verdict.Status != tlscheck.StatusTLSAInvalid {
		t.Fatalf("stale record: %s %q %q", r.Verdict.Result, r.Verdict.Status, r.Verdict.Summary)
	}
	if r.DNS == nil || r.DNS.TLSA == nil || r.DNS.TLSA.Security != "secure" || len(r.DNS.TLSA.Records) != 1 || r.DNS.TLSA.Presented != rec(renewed) {
		t.Fatalf("DNS info %+v", r.DNS)
	}
	var text bytes.Buffer
	r.WriteText(&text)
	owner := fmt.Sprintf("_%d._tcp.mx.dane.test.", port)
	for _, want := range []string{"450 4.7.323 tlsa-invalid", "TLSA        " + owner + " (secure, 1 record(s), 1 usable)", rec(old),
		"matches none of them", "publish its record beside the old one: " + owner + " IN TLSA " + rec(renewed), "--resolver " + st.Resolver} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}

	st.Update(zone(rec(old), rec(renewed)))
	b := MX(ctx, "dane.test", port, opts, 1, nil)
	if len(b.Reports) != 1 {
		t.Fatalf("reports %d", len(b.Reports))
	}
	r = b.Reports[0]
	if r.Verdict.Result != Pass || r.DNS == nil || r.DNS.MXSecurity != "secure" || !r.DNS.AddressSecure || r.DNS.TLSA.Matched != rec(renewed) {
		t.Fatalf("after publishing: %s %q %+v", r.Verdict.Result, r.Verdict.Summary, r.DNS)
	}
	if !strings.Contains(r.Verdict.Summary, "matches the DNSSEC-authenticated TLSA record") || r.TLSPolicy == nil || r.TLSPolicy.Type != "tlsa" {
		t.Fatalf("summary %q policy %+v", r.Verdict.Summary, r.TLSPolicy)
	}
}
