package hybrid

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
)

// planCase is one golden plan.
type planCase struct {
	name, org string
	subject   string
	until     int
	version   certs.Version
	ips       []string
}

var planCases = []planCase{
	{name: "contoso-2013", org: "contoso", subject: "CN=mail.contoso.com", until: 2026, version: certs.Exchange2013, ips: []string{"203.0.113.25"}},
	{name: "contoso-2019", org: "contoso", subject: "CN=mail.contoso.com", until: 2026, version: certs.Exchange2019, ips: []string{"203.0.113.25", "2001:db8::25"}},
	{name: "inframan-2010", org: "inframan", subject: "CN=webmail.inframan.nl", until: 2027, version: certs.Exchange2010, ips: []string{"198.51.100.7"}},
	// The older of the two: 2010 picks the renewal by its longer validity.
	{name: "inframan-2010-older", org: "inframan", subject: "CN=webmail.inframan.nl", until: 2026, version: certs.Exchange2010},
}

func makePlan(t *testing.T, pc planCase) (*Plan, Input) {
	t.Helper()
	rt := loadOrg(t, pc.org)
	in := Input{OnPrem: rt.Cfg, Store: rt.Store, Certificate: byCN(t, rt, pc.subject, pc.until), Version: pc.version, OnPremIPs: pc.ips, Now: testNow}
	p, err := MakePlan(in)
	if err != nil {
		t.Fatal(err)
	}
	return p, in
}

func TestPlanGolden(t *testing.T) {
	for _, pc := range planCases {
		t.Run(pc.name, func(t *testing.T) {
			p, _ := makePlan(t, pc)
			var b bytes.Buffer
			if err := p.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", pc.name+".txt")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestPlanGolden -update ./internal/hybrid)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("plan differs from %s:\n%s", golden, b.String())
			}
		})
	}
}

// TestPlanCmdletParameters checks every generated command against the
// parameters Microsoft documents for that cmdlet and version.
func TestPlanCmdletParameters(t *testing.T) {
	allowed := allowedParams(t)
	for _, pc := range planCases {
		for _, v := range certs.Versions {
			pc.version = v
			p, _ := makePlan(t, pc)
			for _, c := range append(append([]Cmdlet{}, p.Shell...), p.Online...) {
				params, ok := allowed[c.Name]
				if !ok {
					t.Errorf("%s %s: cmdlet %s is not in the table", pc.name, v, c.Name)
					continue
				}
				seen := map[string]bool{}
				for _, prm := range c.Params {
					spec, ok := params[prm.Name]
					switch {
					case !ok:
						t.Errorf("%s %s: %s has no parameter -%s", pc.name, v, c.Name, prm.Name)
					case !availableIn(spec, v, c.Shell):
						t.Errorf("%s %s: %s -%s is %s only", pc.name, v, c.Name, prm.Name, spec)
					case seen[prm.Name]:
						t.Errorf("%s %s: %s -%s given twice", pc.name, v, c.Name, prm.Name)
					}
					seen[prm.Name] = true
				}
			}
		}
	}
}

// TestPlanConsistent checks that each expectation of one side names what
// the other side presents, for every version.
func TestPlanConsistent(t *testing.T) {
	for _, pc := range planCases {
		for _, v := range certs.Versions {
			pc.version = v
			p, in := makePlan(t, pc)
			onRecv, onSend, tIn, tOut := p.OnPrem.Receive, p.OnPrem.Send, p.Tenant.Receive, p.Tenant.Send
			c := in.Certificate
			if !certs.MatchesName(c.Leaf, tOut.TLSDomain) {
				t.Errorf("%s %s: tenant tls_domain %s is not on the certificate", pc.name, v, tOut.TLSDomain)
			}
			if !certs.MatchesName(c.Leaf, tIn.TLSSenderCertificateName) {
				t.Errorf("%s %s: tenant tls_sender_certificate_name %s is not on the certificate", pc.name, v, tIn.TLSSenderCertificateName)
			}
			if onRecv.FQDN != tOut.TLSDomain || onSend.FQDN != onRecv.FQDN {
				t.Errorf("%s %s: fqdn %s / %s vs tls_domain %s", pc.name, v, onRecv.FQDN, onSend.FQDN, tOut.TLSDomain)
			}
			if onRecv.TLSCertificateName != c.Name() || onSend.TLSCertificateName != c.Name() {
				t.Errorf("%s %s: pins differ from %s", pc.name, v, c.Name())
			}
			if onRecv.TLSSenderCertificateName != tOut.FQDN || onSend.TLSDomain != CloudName {
				t.Errorf("%s %s: on-premises expects %s/%s, tenant presents %s", pc.name, v, onRecv.TLSSenderCertificateName, onSend.TLSDomain, tOut.FQDN)
			}
			shell := Script("", p.Shell)
			online := Script("", p.Online)
			for _, want := range []string{"-Fqdn '" + p.FQDN + "'", "-TlsAuthLevel DomainValidation", "-TlsDomain '" + CloudName + "'", "-RequireTLS $true"} {
				if !strings.Contains(shell, want) {
					t.Errorf("%s %s: shell lacks %s", pc.name, v, want)
				}
			}
			for _, want := range []string{"-TlsSettings DomainValidation", "-TlsDomain '" + p.FQDN + "'", "-TlsSenderCertificateName '" + p.FQDN + "'", "-ConnectorType OnPremises", "-RequireTls $true"} {
				if !strings.Contains(online, want) {
					t.Errorf("%s %s: online lacks %s", pc.name, v, want)
				}
			}
			pinned := strings.Contains(shell, "-TlsCertificateName '"+c.Name()+"'")
			if pinned != v.HasCertificateName() {
				t.Errorf("%s %s: -TlsCertificateName present %v", pc.name, v, pinned)
			}
		}
	}
}

func TestPlan2010SaysWhichCertificate(t *testing.T) {
	p, in := makePlan(t, planCases[3])
	renewal := byCN(t, loadOrg(t, "inframan"), "CN=webmail.inframan.nl", 2027)
	if p.Presents.Receive == nil || p.Presents.Receive.Thumbprint != renewal.Thumbprint {
		t.Fatalf("2010 prediction %+v, want the renewal %s", p.Presents.Receive, renewal.Thumbprint)
	}
	notes := strings.Join(p.Notes, "\n")
	for _, want := range []string{"WARNING: on Exchange Server 2010 the receive connector Inbound from Office 365 would present CN=webmail.inframan.nl (thumbprint " + renewal.Thumbprint, "longest validity", "has no TlsCertificateName"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	_ = in
}

func TestPlanErrors(t *testing.T) {
	rt := loadOrg(t, "contoso")
	mail := byCN(t, rt, "CN=mail.contoso.com", 2026)
	for _, tc := range []struct {
		name string
		in   Input
		want string
	}{
		{"fqdn not on certificate", Input{Certificate: mail, FQDN: "smtp.contoso.com"}, "--fqdn smtp.contoso.com is not a name on certificate CN=mail.contoso.com"},
		{"bad onprem ip", Input{Certificate: mail, OnPremIPs: []string{"nonsense"}}, "--onprem-ip"},
		{"expired", Input{Certificate: mail, Now: day(2027, 1, 1)}, "expired 2026-07-01"},
		{"no certificate", Input{}, "give --certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.OnPrem, tc.in.Store = rt.Cfg, rt.Store
			if tc.in.Now.IsZero() {
				tc.in.Now = testNow
			}
			_, err := MakePlan(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestPlanFragmentsLoad writes each side's connectors into a copy of the
// organisation's configuration: it must load, with the plan's connectors.
func TestPlanFragmentsLoad(t *testing.T) {
	for _, pc := range planCases {
		p, in := makePlan(t, pc)
		dir := t.TempDir()
		for _, f := range []string{"onprem.yaml", "ca.pem"} {
			data, err := os.ReadFile(filepath.Join("testdata", pc.org, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, "onprem.yaml")
		if err := p.OnPrem.Apply(path); err != nil {
			t.Fatalf("%s: %v", pc.name, err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("%s: %v", pc.name, err)
		}
		if rc := cfg.ReceiveConnector(OnPremReceiveName); rc == nil || rc.FQDN != p.FQDN || rc.TLSCertificateName != in.Certificate.Name() {
			t.Errorf("%s: applied receive connector %+v", pc.name, rc)
		}
		y, err := p.Tenant.YAML("")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(y), "receive_connectors:\n  - name: Inbound from") || !strings.Contains(string(y), "tls_domain: "+p.FQDN) {
			t.Errorf("%s: tenant fragment:\n%s", pc.name, y)
		}
	}
}

// TestPlanDefaultsFromExistingConfigs: an existing on-premises connector
// keeps its bindings and smart host, and a mailflow tenant's configuration
// supplies its routing domain, bindings and outbound connector's smart host
// and source address.
func TestPlanDefaultsFromExistingConfigs(t *testing.T) {
	rt := loadOrg(t, "contoso")
	cfg := *rt.Cfg
	cfg.ReceiveConnectors = append(append([]config.ReceiveConnector(nil), cfg.ReceiveConnectors...),
		config.ReceiveConnector{Name: "inbound from office 365", Bindings: []string{"0.0.0.0:2525"}})
	cfg.SendConnectors = []config.SendConnector{{Name: OnPremSendName, SmartHosts: []string{"127.0.0.1:2526"}}}
	tenant, err := config.Load(filepath.Join("testdata", "contoso", "tenant.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tenant.SendConnectors = []config.SendConnector{{Name: "Outbound to contoso", SmartHosts: []string{"127.0.0.1:2525"}, SourceIP: "127.0.0.2"}}
	p, err := MakePlan(Input{OnPrem: &cfg, Store: rt.Store, Tenant: tenant, Certificate: byCN(t, rt, "CN=mail.contoso.com", 2026),
		Version: certs.Exchange2016, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ what, got, want string }{
		{"on-premises bindings", strings.Join(p.OnPrem.Receive.Bindings, ","), "0.0.0.0:2525"},
		{"on-premises smart host", strings.Join(p.OnPrem.Send.SmartHosts, ","), "127.0.0.1:2526"},
		{"tenant routing domain", strings.Join(p.OnPrem.Send.AddressSpaces, ","), "contoso.mail.onmicrosoft.com"},
		{"tenant bindings", strings.Join(p.Tenant.Receive.Bindings, ","), "0.0.0.0:25"},
		{"tenant smart host", strings.Join(p.Tenant.Send.SmartHosts, ","), "127.0.0.1:2525"},
		{"tenant source", p.Tenant.Send.SourceIP, "127.0.0.2"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	shell := Script("", p.Shell)
	if strings.Contains(shell, "New-ReceiveConnector") || !strings.Contains(shell, "Set-SendConnector -Identity 'Outbound to Office 365'") {
		t.Errorf("existing connectors are changed with Set-, not created:\n%s", shell)
	}
}

// TestPlanWildcardAcceptedDomain: an on-premises configuration whose first
// accepted domain is "*.contoso.com" (which covers contoso.com) plans the
// same tenant names as one with "contoso.com", never a "*" in a host
// name; the tenant's outbound connector keeps the wildcard address space.
func TestPlanWildcardAcceptedDomain(t *testing.T) {
	plan := func(accepted string) *Plan {
		rt := loadOrg(t, "contoso")
		cfg := *rt.Cfg
		cfg.AcceptedDomains = []string{accepted}
		p, err := MakePlan(Input{OnPrem: &cfg, Store: rt.Store, Certificate: byCN(t, rt, "CN=mail.contoso.com", 2026),
			Version: certs.Exchange2019, OnPremIPs: []string{"203.0.113.25"}, Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	exact, wild := plan("contoso.com"), plan("*.contoso.com")
	if got, want := wild.OnPrem.Send.AddressSpaces, exact.OnPrem.Send.AddressSpaces; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("tenant domain %q, want %q", got, want)
	}
	if got, want := wild.OnPrem.Send.SmartHosts, exact.OnPrem.Send.SmartHosts; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("tenant smart host %q, want %q", got, want)
	}
	if got := wild.Tenant.Send.AddressSpaces; len(got) != 1 || got[0] != "*.contoso.com" {
		t.Errorf("tenant outbound address spaces %q, want [*.contoso.com]", got)
	}
	if strings.Contains(wild.Tenant.Receive.Name, "*") || strings.Contains(wild.Tenant.Send.Name, "*") {
		t.Errorf("connector names hold a wildcard: %q, %q", wild.Tenant.Receive.Name, wild.Tenant.Send.Name)
	}
}

// TestChooseFQDNUnderWildcardDomain: the certificate name inside an
// accepted domain is preferred when that domain is written "*.contoso.com".
func TestChooseFQDNUnderWildcardDomain(t *testing.T) {
	c, err := certs.Generate(certs.Template{Subject: "CN=host.other.example", SANs: []string{"host.other.example", "mail.contoso.com"},
		KeyType: "ecdsa-p256", NotBefore: day(2025, 1, 1), NotAfter: day(2027, 1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := chooseFQDN(Input{OnPrem: &config.Config{AcceptedDomains: []string{"*.contoso.com"}}}, c)
	if err != nil || got != "mail.contoso.com" {
		t.Fatalf("chooseFQDN = %q, %v; want mail.contoso.com", got, err)
	}
}

// TestHostOnly: the smart host written for Exchange Online is a bare name
// or address, whatever form the mailflow configuration used.
func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"mail.contoso.com": "mail.contoso.com", "mail.contoso.com:2525": "mail.contoso.com",
		"192.0.2.1": "192.0.2.1", "192.0.2.1:25": "192.0.2.1", "[192.0.2.1]": "192.0.2.1", "[192.0.2.1]:2525": "192.0.2.1",
		"[IPv6:2001:db8::1]:25": "2001:db8::1", "[2001:db8::1]": "2001:db8::1", "2001:db8::1": "2001:db8::1",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}
