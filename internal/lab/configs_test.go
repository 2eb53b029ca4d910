package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/hybrid"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/node"
)

// TestConfigsBuild checks that the configurations the lab writes load and
// build (certificates, pins, trust) without starting anything, and that
// each starts from its field report's state.
func TestConfigsBuild(t *testing.T) {
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range []worldShape{{}, {Hybrid: true}, {Devices: true}} {
		hybrid := shape.Hybrid
		name := "scenario 1"
		switch {
		case shape.Hybrid:
			name = "scenario 2"
		case shape.Devices:
			name = "scenario 3"
		}
		t.Run(name, func(t *testing.T) {
			wdir := filepath.Join(dir, strings.ReplaceAll(name, " ", ""))
			if err := os.MkdirAll(wdir, 0o700); err != nil {
				t.Fatal(err)
			}
			d, err := newConfigData(name, shape, ports{2501, 2502, 2503, 2504, 2505, 2506, 2507}, wdir, pki)
			if err != nil {
				t.Fatal(err)
			}
			onCfg, tenCfg, err := writeConfigs(wdir, d)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			on, err := node.Build(onCfg, now)
			if err != nil {
				t.Fatalf("on-premises configuration does not build: %v", err)
			}
			ten, err := node.Build(tenCfg, now)
			if err != nil {
				t.Fatalf("tenant configuration does not build: %v", err)
			}
			// The relay connectors are meant to relay (for 127.0.0.1 only);
			// any other warning is a mistake in the lab's configuration.
			for _, w := range append(on.Warnings, ten.Warnings...) {
				if !strings.Contains(w, "relays mail to any recipient for clients in [127.0.0.1/32]") {
					t.Errorf("warning: %s", w)
				}
			}
			df := on.Cfg.ReceiveConnector(defaultFrontend)
			if df == nil || df.TLSCertificateName != "" {
				t.Fatalf("Default Frontend must start unpinned: %+v", df)
			}
			for _, c := range on.Recv.Connectors {
				if c.Config.Name == defaultFrontend && (c.Selection.Cert == nil || c.Selection.Cert.Thumbprint != pki.Server1.Thumbprint) {
					t.Errorf("Default Frontend selects %v, want SERVER1's self-signed certificate", c.Selection.Cert)
				}
			}
			out := ten.Cfg.SendConnector(tenantToOnprem)
			if out == nil || out.SourceIP != tenantSource || out.TLSDomain != hybridFQDN || out.TLSAuthLevel != "DomainValidation" {
				t.Errorf("tenant outbound connector: %+v", out)
			}
			relay := ten.Cfg.ReceiveConnector(tenantRelay)
			if relay == nil || !relay.HasAuth("ExternalAuthoritative") || relay.OpenRelay() {
				t.Errorf("tenant relay connector: %+v", relay)
			}
			if got := on.Cfg.SendConnector(onpremToCloud) != nil; got != hybrid {
				t.Errorf("on-premises %q present = %v, want %v", onpremToCloud, got, hybrid)
			}
			if got := ten.Cfg.ReceiveConnector(tenantFromOnprem) != nil; got != hybrid {
				t.Errorf("tenant %q present = %v, want %v", tenantFromOnprem, got, hybrid)
			}
			if on.Cfg.ReceiveConnector(hybridConnector) != nil {
				t.Errorf("%q must be added live, not be in the starting configuration", hybridConnector)
			}
			if got := on.Cfg.ReceiveConnector(clientFrontend) != nil && ten.Cfg.ReceiveConnector(tenantFromOnpremC) != nil &&
				on.Cfg.SendConnector(onpremRelayCloud) != nil; got != shape.Devices {
				t.Errorf("scenario 3 connectors present = %v, want %v", got, shape.Devices)
			}
		})
	}
}

// TestHybridPlanFitsTheLab plans scenario 2's hybrid connection on the lab
// configurations and applies it to both files: they must load, with the
// plan's connectors replacing the templates' and the hybrid connector added.
func TestHybridPlanFitsTheLab(t *testing.T) {
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := newConfigData("test", worldShape{Hybrid: true}, ports{2601, 2602, 2603, 2604, 2605, 2606, 2607}, dir, pki)
	if err != nil {
		t.Fatal(err)
	}
	onCfg, tenCfg, err := writeConfigs(dir, d)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := node.Build(onCfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{Onprem: &instance{Config: onCfg, SMTP: "127.0.0.1:2601"}, Tenant: &instance{Config: tenCfg, SMTP: "127.0.0.1:2604"}}
	p, err := hybrid.MakePlan(hybrid.Input{OnPrem: rt.Cfg, Store: rt.Store, Certificate: rt.Store.FindThumbprint(pki.Contoso.Thumbprint),
		Version: scenario2Version, Ranges: labTenantRanges, OnPremIPs: []string{onpremSource}, FQDN: hybridFQDN, TenantDomain: tenantDomain,
		TenantSmartHost: w.Tenant.SMTP, OnPremSmartHost: w.Onprem.SMTP, Bindings: []string{w.Onprem.SMTP}, TenantBindings: []string{w.Tenant.SMTP},
		SourceIP: onpremSource, TenantSourceIP: tenantSource, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.OnPrem.Apply(onCfg, node.Check(time.Now(), nil)); err != nil {
		t.Fatal(err)
	}
	if err := p.Tenant.Apply(tenCfg, node.Check(time.Now(), nil)); err != nil {
		t.Fatal(err)
	}
	on, err := node.Build(onCfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ten, err := node.Build(tenCfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if hc := on.Cfg.ReceiveConnector(hybridConnector); hc == nil || !hc.DomainSecureEnabled || hc.FQDN != hybridFQDN {
		t.Fatalf("hybrid connector: %+v", hc)
	}
	if n := len(on.Cfg.SendConnectors); n != 1 {
		t.Errorf("%d on-premises send connectors, want the plan's to replace the template's", n)
	}
	if n := len(ten.Cfg.SendConnectors); n != 1 {
		t.Errorf("%d tenant send connectors, want the plan's to replace the template's", n)
	}
	data, err := os.ReadFile(onCfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "# mailflow lab") {
		t.Error("applying the plan lost the file's comments")
	}
	r := hybrid.Check(hybrid.Side{Name: "on-premises", RT: on, Version: scenario2Version, Sources: []string{onpremSource}},
		hybrid.Side{Name: "tenant", RT: ten, Sources: labTenantRanges.Ranges}, time.Now())
	if r.ExitCode() != 0 {
		var b strings.Builder
		r.WriteText(&b)
		t.Errorf("the applied plan does not check:\n%s", b.String())
	}
}
