package dane

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/dnsres/dnstest"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

func gen(t *testing.T, tmpl certs.Template) *certs.Certificate {
	t.Helper()
	tmpl.KeyType = "ecdsa-p256"
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	c, err := certs.Generate(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestForAndConnectorRecords(t *testing.T) {
	root := gen(t, certs.Template{Subject: "CN=Lab Root", IsCA: true})
	ca := gen(t, certs.Template{Subject: "CN=Lab CA", IsCA: true, Issuer: root})
	leaf := gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: ca})
	self := gen(t, certs.Template{Subject: "CN=SERVER1", SANs: []string{"server1.contoso.local"}})
	store := certs.NewStore(leaf, self)

	cfg, err := config.Parse("t.yaml", []byte(`server: {name: S1, fqdn: server1.contoso.local}
accepted_domains: [contoso.com]
receive_connectors:
  - name: Inbound
    bindings: ["0.0.0.0:25", "[::]:25", "127.0.0.1:2525"]
    fqdn: mail.contoso.com
  - name: Default
    bindings: ["127.0.0.2:25"]
`))
	if err != nil {
		t.Fatal(err)
	}
	recs, problems, err := ConnectorRecords(cfg, store, "", DefaultParams, time.Now())
	if err != nil || len(problems) != 0 {
		t.Fatal(err, problems)
	}
	lc, _ := Chain(leaf)
	want311, _ := tlscheck.RecordFor(lc[0], 3, 1, 1)
	var lines []string
	for _, r := range recs {
		lines = append(lines, r.String())
	}
	got := strings.Join(lines, "\n")
	for _, w := range []string{
		"_25._tcp.mail.contoso.com. IN TLSA " + want311.String(),
		"_2525._tcp.mail.contoso.com. IN TLSA " + want311.String(),
		"_25._tcp.server1.contoso.local. IN TLSA 3 1 1 ",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("records lack %q:\n%s", w, got)
		}
	}
	if len(recs) != 3 {
		t.Errorf("%d records; want one per connector port (3):\n%s", len(recs), got)
	}
	// The record matches the certificate as a DANE sender judges it.
	v := tlscheck.Verify(lc, tlscheck.Policy{DANE: &tlscheck.DANEPolicy{Records: []tlscheck.TLSA{recs[0].TLSA}}})
	if !v.OK || v.DANE.Matched == nil {
		t.Fatalf("printed record does not verify: %+v", v)
	}

	ta, _, err := ConnectorRecords(cfg, store, "inbound", Params{2, 1, 1}, time.Now())
	if err != nil || len(ta) != 2 || ta[0].For != "CN=Lab CA" {
		t.Fatalf("2 1 1: %+v %v", ta, err)
	}
	_, problems, _ = ConnectorRecords(cfg, store, "Default", Params{2, 1, 1}, time.Now())
	if len(problems) != 1 || !strings.Contains(problems[0], "without its issuer") {
		t.Fatalf("2 1 1 for a self-signed certificate: %v", problems)
	}
	if _, _, err := ConnectorRecords(cfg, store, "nope", DefaultParams, time.Now()); err == nil || !strings.Contains(err.Error(), "Inbound, Default") {
		t.Fatalf("unknown connector: %v", err)
	}
	for _, bad := range []Params{{0, 1, 1}, {1, 1, 1}, {3, 2, 1}, {3, 1, 3}} {
		if err := bad.Check(); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestRenewalWarning(t *testing.T) {
	oldCert := gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}})
	newCert := gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}})
	oc, _ := Chain(oldCert)
	nc, _ := Chain(newCert)
	old311, _ := For(oc, "mail.contoso.com", 25, DefaultParams)
	new311, _ := For(nc, "mail.contoso.com", 25, DefaultParams)

	dns := dnstest.Start(t)
	dns.Add(t, fmt.Sprintf("_25._tcp.mail.contoso.com. 3600 IN TLSA %s", old311.TLSA))
	dns.Secure("contoso.com")
	r, _ := dnsres.New(dnsres.Config{Servers: []string{dns.Addr}, Mode: dnsres.TrustAD, Timeout: 2 * time.Second})

	before := []Presented{{Connector: "Inbound", FQDN: "mail.contoso.com", Ports: []int{25}, Cert: oldCert}}
	after := []Presented{{Connector: "Inbound", FQDN: "mail.contoso.com", Ports: []int{25}, Cert: newCert}}
	ws := RenewalWarnings(context.Background(), r, before, after, DefaultParams, func(tp string) string { return "mailflow cert remove " + tp })
	if len(ws) != 1 {
		t.Fatalf("warnings %v", ws)
	}
	w := ws[0]
	for _, want := range []string{"Inbound", newCert.Thumbprint, "450 4.7.323 tlsa-invalid", old311.TLSA.String(),
		"publish the new record beside the old one(s): " + new311.String(), "3600 s", "mailflow cert remove " + newCert.Thumbprint, "(secure)"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning lacks %q:\n%s", want, w)
		}
	}
	// Same certificate, or a published record that matches: no warning.
	if ws := RenewalWarnings(context.Background(), r, before, before, DefaultParams, nil); len(ws) != 0 {
		t.Fatalf("unchanged certificate warned: %v", ws)
	}
	dns.Add(t, fmt.Sprintf("_25._tcp.mail.contoso.com. 3600 IN TLSA %s", new311.TLSA))
	if ws := RenewalWarnings(context.Background(), r, before, after, DefaultParams, nil); len(ws) != 0 {
		t.Fatalf("new record published beside the old: warned %v", ws)
	}
	// Unsigned records (a validating resolver says insecure) break nothing.
	dns.Add(t, fmt.Sprintf("_25._tcp.plain.example. 3600 IN TLSA %s", old311.TLSA))
	if ws := RenewalWarnings(context.Background(), r, before, []Presented{{Connector: "X", FQDN: "plain.example", Ports: []int{25}, Cert: newCert}}, DefaultParams, nil); len(ws) != 0 {
		t.Fatalf("insecure records: warned %v", ws)
	}
	// Nothing published: nothing breaks.
	if ws := RenewalWarnings(context.Background(), r, before, []Presented{{Connector: "X", FQDN: "other.contoso.com", Ports: []int{25}, Cert: newCert}}, DefaultParams, nil); len(ws) != 0 {
		t.Fatalf("no records: warned %v", ws)
	}
}

// The renewal guard's DANE check warns (never refuses) for a receive
// connector whose published records do not authenticate the certificate,
// with the rollover as the fix; send connectors and matching records give
// nothing.
func TestGuardCheck(t *testing.T) {
	oldCert := gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}})
	newCert := gen(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}})
	oc, _ := Chain(oldCert)
	old311, _ := For(oc, "mail.contoso.com", 25, DefaultParams)
	dns := dnstest.Start(t)
	dns.Add(t, fmt.Sprintf("_25._tcp.mail.contoso.com. 3600 IN TLSA %s", old311.TLSA))
	dns.Secure("contoso.com")
	r, _ := dnsres.New(dnsres.Config{Servers: []string{dns.Addr}, Mode: dnsres.TrustAD, Timeout: 2 * time.Second})
	cfg := &config.Config{ReceiveConnectors: []config.ReceiveConnector{{Name: "Inbound", Bindings: []string{"127.0.0.1:25"}}}}
	check := GuardCheck(r, cfg, DefaultParams, func(tp string) string { return "mailflow cert remove " + tp })
	use := lifecycle.Use{Connector: "Inbound", FQDN: "mail.contoso.com"}

	fs := check(newCert, use)
	if len(fs) != 1 || fs[0].Severity != lifecycle.SevWarning || fs[0].Check != lifecycle.CheckDANE || fs.Refused() {
		t.Fatalf("findings for a new key: %+v", fs)
	}
	if !strings.Contains(fs[0].Problem, "450 4.7.323 tlsa-invalid") || !strings.Contains(fs[0].Fix, "publish the new record beside the old one(s)") ||
		!strings.Contains(fs[0].Fix, "mailflow cert remove "+newCert.Thumbprint) {
		t.Fatalf("finding lacks the status or the rollover: %+v", fs[0])
	}
	if fs := check(oldCert, use); len(fs) != 0 {
		t.Fatalf("the published key warned: %+v", fs)
	}
	if fs := check(newCert, lifecycle.Use{Connector: "Inbound", Send: true, FQDN: "mail.contoso.com"}); len(fs) != 0 {
		t.Fatalf("a send connector's client certificate warned: %+v", fs)
	}
}
