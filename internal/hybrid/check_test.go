package hybrid

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/send"
)

// plannedPair copies contoso's organisation and tenant into a temporary
// directory and applies a plan to both.
func plannedPair(t *testing.T, v certs.Version) (onprem, tenant string, p *Plan) {
	t.Helper()
	testPKI(t)
	dir := t.TempDir()
	for _, f := range []string{"onprem.yaml", "tenant.yaml", "ca.pem", "server1.pem", "mail-contoso.pem", "tenant.pem"} {
		data, err := os.ReadFile(filepath.Join("testdata", "contoso", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	onprem, tenant = filepath.Join(dir, "onprem.yaml"), filepath.Join(dir, "tenant.yaml")
	rt, err := node.Build(onprem, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p, err = MakePlan(Input{OnPrem: rt.Cfg, Store: rt.Store, Certificate: byCN(t, rt, "CN=mail.contoso.com", 2026), Version: v,
		OnPremIPs: []string{"203.0.113.25"}, TenantDomain: "contoso.mail.onmicrosoft.com", Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.OnPrem.Apply(onprem, node.Check(testNow, nil)); err != nil {
		t.Fatal(err)
	}
	if err := p.Tenant.Apply(tenant, node.Check(testNow, nil)); err != nil {
		t.Fatal(err)
	}
	return onprem, tenant, p
}

func checkFiles(t *testing.T, onprem, tenant string, v certs.Version) *Report {
	t.Helper()
	on, err := node.Build(onprem, testNow)
	if err != nil {
		t.Fatal(err)
	}
	ten, err := node.Build(tenant, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return Check(Side{Name: "on-premises", RT: on, Version: v, Sources: []string{"203.0.113.25"}},
		Side{Name: "tenant", RT: ten, Sources: ExchangeOnline.Ranges}, testNow)
}

func TestCheckPlannedPairPasses(t *testing.T) {
	for _, v := range certs.Versions {
		onprem, tenant, _ := plannedPair(t, v)
		r := checkFiles(t, onprem, tenant, v)
		if r.ExitCode() != 0 {
			var b strings.Builder
			r.WriteText(&b)
			t.Errorf("%s: a planned pair does not pass:\n%s", v, b.String())
		}
		dirs := map[string]int{}
		for _, row := range r.Rows {
			dirs[row.Direction]++
		}
		if dirs["tenant → on-premises"] != 4 || dirs["on-premises → tenant"] != 4 {
			t.Errorf("%s: rows per direction %v, want 4 each (policy, connector — every Exchange Online range lands on the same one —, server certificate, client certificate)", v, dirs)
		}
	}
}

// TestCheckDetectsEachBrokenSetting breaks one setting at a time on a
// planned pair: exactly the pairing it belongs to fails, with its fix.
func TestCheckDetectsEachBrokenSetting(t *testing.T) {
	tests := []struct {
		name      string
		version   certs.Version
		side      string // onprem or tenant
		kind      string
		connector string
		fields    map[string]any
		direction string
		expect    string // in the failing row's expectation
		fix       []string
	}{
		{name: "on-premises pins the self-signed certificate", version: certs.Exchange2013, side: "onprem", kind: "receive", connector: OnPremReceiveName,
			fields: map[string]any{"tls_certificate_name": "<I>CN=SERVER1<S>CN=SERVER1"}, direction: "tenant → on-premises",
			expect: "presents a certificate for mail.contoso.com", fix: []string{"--tls-certificate-name", "-TlsCertificateName", "CN=mail.contoso.com"}},
		{name: "the first field report: tenant lands on Default Frontend", version: certs.Exchange2013, side: "onprem", kind: "receive", connector: OnPremReceiveName,
			fields: map[string]any{"remote_ip_ranges": "198.18.0.0/15"}, direction: "tenant → on-premises",
			expect: "presents a certificate for mail.contoso.com", fix: []string{`"Default Frontend SERVER1"`, "--tls-certificate-name"}},
		{name: "2010 ignores the pin: the FQDN chooses", version: certs.Exchange2010, side: "onprem", kind: "receive", connector: OnPremReceiveName,
			fields: map[string]any{"fqdn": "server1.contoso.local"}, direction: "tenant → on-premises",
			expect: "presents a certificate for mail.contoso.com", fix: []string{"--fqdn mail.contoso.com", "-Fqdn mail.contoso.com"}},
		{name: "tenant expects a name not on the certificate", version: certs.Exchange2016, side: "tenant", kind: "send", connector: "Outbound to contoso",
			fields: map[string]any{"tls_domain": "smtp.contoso.com"}, direction: "tenant → on-premises",
			expect: "certificate for smtp.contoso.com", fix: []string{"no certificate of on-premises holds smtp.contoso.com"}},
		{name: "tenant without DomainValidation", version: certs.Exchange2019, side: "tenant", kind: "send", connector: "Outbound to contoso",
			fields: map[string]any{"tls_auth_level": "EncryptionOnly", "tls_domain": nil}, direction: "tenant → on-premises",
			expect: "requires TLS with DomainValidation", fix: []string{"--tls-auth-level DomainValidation"}},
		{name: "on-premises expects another sender certificate", version: certs.Exchange2019, side: "onprem", kind: "receive", connector: OnPremReceiveName,
			fields: map[string]any{"tls_sender_certificate_name": "relay.fabrikam.com"}, direction: "tenant → on-premises",
			expect: "client certificate for relay.fabrikam.com", fix: []string{"no certificate of tenant holds relay.fabrikam.com"}},
		{name: "on-premises sends the self-signed client certificate", version: certs.ExchangeSE, side: "onprem", kind: "send", connector: OnPremSendName,
			fields: map[string]any{"tls_certificate_name": "<I>CN=SERVER1<S>CN=SERVER1"}, direction: "on-premises → tenant",
			expect: "client certificate for mail.contoso.com", fix: []string{"--send", "--tls-certificate-name", "CN=mail.contoso.com", "Set-SendConnector"}},
		{name: "on-premises expects another cloud name", version: certs.Exchange2013, side: "onprem", kind: "send", connector: OnPremSendName,
			fields: map[string]any{"tls_domain": "outlook.office365.com"}, direction: "on-premises → tenant",
			expect: "certificate for outlook.office365.com", fix: []string{"no certificate of tenant holds outlook.office365.com"}},
		{name: "tenant inbound expects another on-premises name", version: certs.Exchange2016, side: "tenant", kind: "receive", connector: "Inbound from contoso",
			fields: map[string]any{"tls_sender_certificate_name": "smtp.contoso.com"}, direction: "on-premises → tenant",
			expect: "client certificate for smtp.contoso.com", fix: []string{"no certificate of on-premises holds smtp.contoso.com"}},
		{name: "tenant inbound scoped to another address", version: certs.Exchange2016, side: "tenant", kind: "receive", connector: "Inbound from contoso",
			fields: map[string]any{"remote_ip_ranges": "198.51.100.9"}, direction: "on-premises → tenant",
			expect: "a receive connector of tenant accepts 203.0.113.25 on port 25 with domain security", fix: []string{`"Inbound from contoso"`, "203.0.113.25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			onprem, tenant, _ := plannedPair(t, tt.version)
			path := onprem
			if tt.side == "tenant" {
				path = tenant
			}
			if err := config.SetConnectorFields(path, tt.kind, tt.connector, tt.fields, node.Check(testNow, nil)); err != nil {
				t.Fatal(err)
			}
			r := checkFiles(t, onprem, tenant, tt.version)
			var b strings.Builder
			r.WriteText(&b)
			if r.ExitCode() != 1 {
				t.Fatalf("exit %d, want 1:\n%s", r.ExitCode(), b.String())
			}
			var failed []Row
			for _, row := range r.Rows {
				if row.Verdict == Fail {
					failed = append(failed, row)
				}
			}
			found := false
			for _, row := range failed {
				if row.Direction != tt.direction {
					t.Errorf("a %s row failed too: %+v", row.Direction, row)
				}
				if strings.Contains(row.Expectation, tt.expect) {
					found = true
					for _, f := range tt.fix {
						if !strings.Contains(row.Fix, f) {
							t.Errorf("fix %q lacks %q", row.Fix, f)
						}
					}
				}
			}
			if !found {
				t.Errorf("no failing row about %q:\n%s", tt.expect, b.String())
			}
		})
	}
}

// TestReceiverForAddressLiterals: the connection a send connector makes to
// a smart host written as an address literal lands on that address and
// port, in every form the sender accepts.
func TestReceiverForAddressLiterals(t *testing.T) {
	rt := loadOrg(t, "contoso")
	for host, want := range map[string]string{
		"[IPv6:2001:db8::25]:2525": "[2001:db8::25]:2525", "[192.0.2.25]:2525": "192.0.2.25:2525",
		"[192.0.2.25]": "192.0.2.25:25", "2001:db8::25": "[2001:db8::25]:25", "192.0.2.25": "192.0.2.25:25",
	} {
		_, local, _ := receiverFor(rt, send.Connector{Hosts: []string{host}, Port: 25}, netip.MustParseAddr("203.0.113.25"))
		if local.String() != want {
			t.Errorf("smart host %q: connection to %s, want %s", host, local, want)
		}
	}
}
