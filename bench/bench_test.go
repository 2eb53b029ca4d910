package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/pglocal"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// need skips when a peer is missing locally and fails in CI (CI=true),
// where .ci/run installs Postfix.
func need(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("the bench smoke run needs %s in CI (.ci/run installs Postfix and runs as root)", why)
	}
	t.Skipf("bench smoke run skipped: %s", why)
}

// TestSmokeRun runs `bench/run --smoke` (every part at tiny sizes, a few
// seconds plus the build) and checks that each part produced its figures
// and the JSON file is complete. The figures themselves are not judged.
func TestSmokeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("bench smoke run skipped in -short mode")
	}
	for _, tool := range []string{"postfix", "postconf", "smtp-source", "smtp-sink", "python3", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, tool+" (apt-get install postfix python3)")
		}
	}
	if _, err := os.Stat(testkit.Chromium); err != nil {
		need(t, "chromium for the dashboard part (apt-get install chromium)")
	}
	if pglocal.Bin() == "" {
		need(t, "PostgreSQL for the postgres part (apt-get install postgresql)")
	}
	if os.Geteuid() != 0 {
		need(t, "root (a private Postfix instance is started with postfix start)")
	}
	out := filepath.Join(t.TempDir(), "smoke.json")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "run", "--smoke", "--out", out)
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench/run --smoke: %v\n%s", err, output)
	}
	if !strings.Contains(string(output), "| part | metric | mailflow | baseline | ratio* | goal |") {
		t.Errorf("no results table in the output:\n%s", output)
	}

	var res struct {
		Smoke   bool     `json:"smoke"`
		Skipped []string `json:"skipped"`
		Failed  []string `json:"failed"`
		Rows    []struct {
			Part          string   `json:"part"`
			Metric        string   `json:"metric"`
			Mailflow      *float64 `json:"mailflow"`
			Baseline      string   `json:"baseline"`
			BaselineValue *float64 `json:"baseline_value"`
			Ratio         *float64 `json:"ratio"`
		} `json:"rows"`
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results JSON: %v\n%s", err, b)
	}
	if !res.Smoke || len(res.Skipped) != 0 || len(res.Failed) != 0 {
		t.Errorf("smoke %v, skipped %q, failed %q", res.Smoke, res.Skipped, res.Failed)
	}
	perPart := map[string]int{}
	for _, r := range res.Rows {
		prefix, _, _ := strings.Cut(r.Part, ",")
		prefix, _, _ = strings.Cut(prefix, " (")
		perPart[prefix]++
		// The browser may well use no measurable CPU in a smoke round.
		mayBeZero := r.Metric == "chromium's own CPU while polling" && r.Mailflow != nil && *r.Mailflow == 0
		if !mayBeZero && (r.Mailflow == nil || *r.Mailflow <= 0 || math.IsInf(*r.Mailflow, 0)) {
			t.Errorf("%s / %s: mailflow figure %v", r.Part, r.Metric, r.Mailflow)
		}
		if r.Baseline != "" && (r.BaselineValue == nil || *r.BaselineValue <= 0 || r.Ratio == nil) {
			t.Errorf("%s / %s: baseline %s figure %v, ratio %v", r.Part, r.Metric, r.Baseline, r.BaselineValue, r.Ratio)
		}
	}
	for part, want := range map[string]int{
		// relay: 9 + 2 connections per message + 6 sizes (2 × 3) + 4 scale
		// + 16 postgres (one and two nodes × 4 metrics × bbolt and Postfix).
		"relay": 37, "large message": 3, "fresh STARTTLS sessions": 8, "memory": 6, "log analysis": 4,
		// dashboard: throughput, p50, p99, mailflow CPU, page time, chromium CPU.
		"relay with chromium polling the admin center every 2s": 6,
	} {
		if perPart[part] != want {
			t.Errorf("%d rows for %q, want %d (rows per part: %v)", perPart[part], part, want, perPart)
		}
	}
}
