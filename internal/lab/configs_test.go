package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/node"
)

// TestConfigsBuild checks that the configurations the lab writes load and
// build (certificates, pins, trust) without starting anything, and that
// each starts from its field report's state.
func TestConfigsBuild(t *testing.T) {
	dir := t.TempDir()
	pki, err := NewPKI(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, hybrid := range []bool{false, true} {
		name := map[bool]string{false: "scenario 1", true: "scenario 2"}[hybrid]
		t.Run(name, func(t *testing.T) {
			wdir := filepath.Join(dir, strings.ReplaceAll(name, " ", ""))
			if err := os.MkdirAll(wdir, 0o700); err != nil {
				t.Fatal(err)
			}
			d, err := newConfigData(name, hybrid, ports{2501, 2502, 2503, 2504, 2505}, wdir, pki)
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
		})
	}
}

func TestAddReceiveConnector(t *testing.T) {
	dir := t.TempDir()
	pki, err := NewPKI(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := newConfigData("test", true, ports{2601, 2602, 2603, 2604, 2605}, dir, pki)
	if err != nil {
		t.Fatal(err)
	}
	onCfg, _, err := writeConfigs(dir, d)
	if err != nil {
		t.Fatal(err)
	}
	check := node.Check(time.Now(), nil)
	if err := config.AddReceiveConnector(onCfg, hybridConnectorConfig(2601), check); err != nil {
		t.Fatal(err)
	}
	rt, err := node.Build(onCfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hc := rt.Cfg.ReceiveConnector(hybridConnector)
	if hc == nil || !hc.DomainSecureEnabled || hc.FQDN != hybridFQDN || len(hc.RemoteIPRanges) != 1 {
		t.Fatalf("added connector: %+v", hc)
	}
	before, err := os.ReadFile(onCfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(before), "# mailflow lab") {
		t.Error("the edit lost the file's comments")
	}

	// A second connector of the same name is refused and changes nothing.
	if err := config.AddReceiveConnector(onCfg, hybridConnectorConfig(2601), check); err == nil {
		t.Fatal("a duplicate connector was accepted")
	}
	after, err := os.ReadFile(onCfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a refused edit changed the file")
	}
}
