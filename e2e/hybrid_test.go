package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// TestHybridPlanAndCheck configures two real `mailflow serve` processes — an
// on-premises server and a tenant — from `mailflow hybrid plan --apply`,
// checks them with `mailflow hybrid check --live` (every row passes, a
// test message each way is delivered over mutual TLS), then breaks one
// setting at a time on the running servers (`mailflow connector set`,
// applied live) — every expectation and every presented certificate of
// both directions — and expects the check to fail that direction only,
// offline with the right fix and live.
func TestHybridPlanAndCheck(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := mailflow(t, "cert", "lab", "--dir", dir); code != 0 {
		t.Fatalf("cert lab: %s", stderr)
	}
	onPort, onAdmin, tenPort, tenAdmin := testkit.FreePort(t), testkit.FreePort(t), testkit.FreePort(t), testkit.FreePort(t)
	onprem, tenant := filepath.Join(dir, "onprem.yaml"), filepath.Join(dir, "tenant.yaml")
	testkit.WriteFile(t, onprem, testkit.LabOnPrem+fmt.Sprintf(`receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    fqdn: server1.contoso.local
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
admin:
  listen: 127.0.0.1:%d
`, onPort, onAdmin))
	testkit.WriteFile(t, tenant, fmt.Sprintf(`server:
  name: TENANT
  fqdn: contoso-com.mail.protection.outlook.com
  data_dir: ./tenant-data
accepted_domains: [contoso.mail.onmicrosoft.com]
trust:
  ca_files: [certs/lab-ca.pem]
  system_roots: false
certificates:
  - file: certs/mail-protection.pem
receive_connectors:
  - name: Default Frontend TENANT
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
admin:
  listen: 127.0.0.1:%d
`, tenPort, tenAdmin))
	ranges := filepath.Join(dir, "tenant-ranges.txt")
	testkit.WriteFile(t, ranges, "# date: 2026-12-02\n# the lab tenant sends from here\n127.0.0.2/32\n")

	// The certificate by file (the PFX on-premises already has).
	code, out, stderr := mailflow(t, "hybrid", "plan", "--config", onprem, "--certificate", filepath.Join(dir, "certs", "mail-contoso.pfx"),
		"--certificate-password-file", filepath.Join(dir, "certs", "mail-contoso.pass"), "--exchange-version", "2016",
		"--tenant-ranges", ranges, "--onprem-ip", "127.0.0.3", "--source-ip", "127.0.0.3", "--tenant-source-ip", "127.0.0.2",
		"--bindings", fmt.Sprintf("127.0.0.1:%d", onPort), "--tenant-bindings", fmt.Sprintf("127.0.0.1:%d", tenPort),
		"--onprem-smart-host", fmt.Sprintf("127.0.0.1:%d", onPort), "--tenant-smart-host", fmt.Sprintf("127.0.0.1:%d", tenPort),
		"--tenant-domain", "contoso.mail.onmicrosoft.com", "--out", filepath.Join(dir, "plan"), "--apply", "--tenant-config", tenant)
	if code != 0 {
		t.Fatalf("hybrid plan exit %d:\n%s\n%s", code, out, stderr)
	}
	for _, f := range []string{"onprem.ps1", "exchange-online.ps1", "plan.json", "onprem-connectors.yaml", "tenant-connectors.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, "plan", f)); err != nil {
			t.Errorf("plan file: %v", err)
		}
	}
	startServe(t, onprem)
	startServe(t, tenant)

	check := func() (int, string) {
		code, out, stderr := runCLI(t, 2*pollDeadline, "hybrid", "check", "--config", onprem, "--tenant-config", tenant,
			"--exchange-version", "2016", "--tenant-ranges", ranges, "--onprem-ip", "127.0.0.3", "--live")
		return code, out + stderr
	}
	code, out = check()
	if code != 0 {
		t.Fatalf("a planned pair: hybrid check --live exit %d, want 0:\n%s", code, out)
	}
	t.Logf("hybrid check --live on the planned pair:\n%s", out)
	for _, want := range []string{"PASS (live)", "test message Delivered", "All 10 checks passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("hybrid check output lacks %q:\n%s", want, out)
		}
	}

	pin := "<I>CN=Contoso Lab CA<S>CN=mail.contoso.com"
	breaks := []struct {
		name, cfg, connector string
		send                 bool
		bad, good            []string // connector set flags
		direction, fix       string
	}{
		{name: "on-premises presents the self-signed certificate", cfg: onprem, connector: "Inbound from Office 365",
			bad: []string{"--tls-certificate-name", "<I>CN=SERVER1<S>CN=SERVER1"}, good: []string{"--tls-certificate-name", pin},
			direction: "tenant → on-premises", fix: "--tls-certificate-name"},
		{name: "the first field report: the tenant lands on Default Frontend", cfg: onprem, connector: "Inbound from Office 365",
			bad: []string{"--remote-ip-ranges", "127.0.0.9/32"}, good: []string{"--remote-ip-ranges", "127.0.0.2/32"},
			direction: "tenant → on-premises", fix: `"Default Frontend SERVER1"`},
		{name: "on-premises expects another cloud certificate", cfg: onprem, connector: "Inbound from Office 365",
			bad: []string{"--tls-sender-certificate-name", "relay.fabrikam.com"}, good: []string{"--tls-sender-certificate-name", "mail.protection.outlook.com"},
			direction: "tenant → on-premises", fix: "no certificate of tenant holds relay.fabrikam.com"},
		{name: "on-premises sends the self-signed client certificate", cfg: onprem, connector: "Outbound to Office 365", send: true,
			bad: []string{"--tls-certificate-name", "<I>CN=SERVER1<S>CN=SERVER1"}, good: []string{"--tls-certificate-name", pin},
			direction: "on-premises → tenant", fix: "--send"},
		{name: "on-premises expects another cloud name", cfg: onprem, connector: "Outbound to Office 365", send: true,
			bad: []string{"--tls-domain", "outlook.office365.com"}, good: []string{"--tls-domain", "mail.protection.outlook.com"},
			direction: "on-premises → tenant", fix: "no certificate of tenant holds outlook.office365.com"},
		{name: "the tenant expects a name not on the certificate", cfg: tenant, connector: "Outbound to contoso", send: true,
			bad: []string{"--tls-domain", "smtp.contoso.com"}, good: []string{"--tls-domain", "mail.contoso.com"},
			direction: "tenant → on-premises", fix: "no certificate of on-premises holds smtp.contoso.com"},
		{name: "the tenant does not validate the name", cfg: tenant, connector: "Outbound to contoso", send: true,
			bad:       []string{"--tls-auth-level", "EncryptionOnly", "--unset", "tls_domain"},
			good:      []string{"--tls-auth-level", "DomainValidation", "--tls-domain", "mail.contoso.com"},
			direction: "tenant → on-premises", fix: "--tls-auth-level DomainValidation"},
		{name: "the tenant requires another on-premises name", cfg: tenant, connector: "Inbound from contoso",
			bad: []string{"--tls-sender-certificate-name", "smtp.contoso.com"}, good: []string{"--tls-sender-certificate-name", "mail.contoso.com"},
			direction: "on-premises → tenant", fix: "no certificate of on-premises holds smtp.contoso.com"},
	}
	for _, b := range breaks {
		t.Run(b.name, func(t *testing.T) {
			set := func(flags []string) {
				args := append([]string{"connector", "set", b.connector, "--config", b.cfg}, flags...)
				if b.send {
					args = append(args, "--send")
				}
				if code, out, stderr := mailflow(t, args...); code != 0 || !strings.Contains(out, "applied live") {
					t.Fatalf("connector set %v: exit %d %s%s", flags, code, out, stderr)
				}
			}
			set(b.bad)
			defer set(b.good)
			code, out := check()
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			var failed []string
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "FAIL") {
					failed = append(failed, line)
				}
			}
			offline, live := false, false
			for _, line := range failed {
				if !strings.HasPrefix(line, b.direction) {
					t.Errorf("the other direction failed too: %s", line)
				}
				if strings.Contains(line, "FAIL (live)") {
					live = true
				} else if strings.Contains(line, b.fix) {
					offline = true
				}
			}
			if !offline || !live {
				t.Errorf("want an offline failure with fix %q and a live failure; got:\n%s", b.fix, strings.Join(failed, "\n"))
			}
		})
	}
	if code, out = check(); code != 0 {
		t.Errorf("after restoring every setting: exit %d:\n%s", code, out)
	}
}
