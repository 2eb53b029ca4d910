package metrics

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

const deployDir = "../../deploy"

// exported lists every metric name this package exports (histograms with
// their _bucket, _sum and _count series).
func exported(t *testing.T) map[string]bool {
	m := New()
	ch := make(chan *prometheus.Desc, 64)
	for _, c := range []prometheus.Collector{m.sessions, m.handshakes, m.outbound, m.accepted, m.deliveries, m.latency, &nodeCollector{}} {
		c.Describe(ch)
	}
	close(ch)
	re := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	out := map[string]bool{}
	for d := range ch {
		mm := re.FindStringSubmatch(d.String())
		if mm == nil {
			t.Fatalf("no name in %s", d)
		}
		out[mm[1]] = true
		if mm[1] == "mailflow_delivery_latency_seconds" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[mm[1]+s] = true
			}
		}
	}
	return out
}

// TestDeployFilesUseExportedMetrics keeps the alert rules and the Grafana
// dashboard in step with the metrics: every mailflow_ name they query is
// one this package exports.
func TestDeployFilesUseExportedMetrics(t *testing.T) {
	names := exported(t)
	re := regexp.MustCompile(`mailflow_[a-z_]+`)
	rules, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "mailflow-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile(filepath.Join(deployDir, "grafana", "mailflow-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 8 {
		t.Fatalf("dashboard has only %d queries", len(exprs))
	}
	used := map[string]bool{}
	for _, src := range append(exprs, string(rules)) {
		for _, n := range re.FindAllString(src, -1) {
			used[n] = true
			if !names[n] {
				t.Errorf("deploy/ queries %s, which mailflow does not export", n)
			}
		}
	}
	for n := range names {
		if !used[n] && !strings.HasSuffix(n, "_sum") && !strings.HasSuffix(n, "_count") && n != "mailflow_delivery_latency_seconds" && n != "mailflow_queue_next_hop_suspended" {
			t.Errorf("%s is exported but neither the dashboard nor the alerts show it", n)
		}
	}
}

// TestAlertRulesWithPromtool checks the rules with Prometheus's own tool
// and runs their unit tests (each alert fires when it should, and only
// then).
func TestAlertRulesWithPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	dir := filepath.Join(deployDir, "prometheus")
	for _, args := range [][]string{{"check", "rules", "mailflow-alerts.yml"}, {"test", "rules", "mailflow-alerts.test.yml"}} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestSystemdUnitHardening checks the unit's sandbox and, when systemd is
// at hand, lets systemd-analyze judge its syntax.
func TestSystemdUnitHardening(t *testing.T) {
	path := filepath.Join(deployDir, "mailflow.service")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "PrivateTmp=yes", "ProtectHome=yes", "StateDirectory=mailflow",
		"KillSignal=SIGTERM", "ExecReload=/bin/kill -HUP $MAINPID", "--shutdown-timeout"} {
		if !strings.Contains(unit, want) {
			t.Errorf("%s lacks %s", path, want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed: syntax not verified")
		return
	}
	// systemd-analyze verify needs the executable to exist; it reports
	// unknown keys and bad values on its output without failing.
	copyPath := filepath.Join(t.TempDir(), "mailflow.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(unit, "/usr/local/bin/mailflow", "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", copyPath).CombinedOutput()
	if err != nil || strings.Contains(string(out), "mailflow.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
