package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// num is a figure that may be missing (NaN): JSON null then.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

func nums(xs []float64) []num {
	out := make([]num, len(xs))
	for i, x := range xs {
		out[i] = num(x)
	}
	return out
}

// goal is what a row is judged against.
type goal struct {
	Kind  string  `json:"kind"` // "min_ratio", "max_ratio", "max_value", "min_value"
	Value float64 `json:"value"`
	Text  string  `json:"text"` // "≥ 2× Postfix"
}

// row is one line of the results table: mailflow's median over the rounds,
// a baseline's median, and their ratio.
type row struct {
	Part            string `json:"part"`
	Metric          string `json:"metric"`
	Unit            string `json:"unit"`
	Mailflow        num    `json:"mailflow"`
	MailflowSamples []num  `json:"mailflow_samples"`
	Baseline        string `json:"baseline,omitempty"`
	BaselineValue   num    `json:"baseline_value"`
	BaselineSamples []num  `json:"baseline_samples,omitempty"`
	// Ratio is mailflow / baseline: the median of the per-round ratios.
	// Each round measures both systems back to back, so a neighbour's
	// load that changes between rounds cancels out of that round's ratio;
	// RatioOfMedians is the plain quotient of the two medians.
	Ratio          num   `json:"ratio"`
	RatioOfMedians num   `json:"ratio_of_medians"`
	Goal           *goal `json:"goal,omitempty"`
	Met            *bool `json:"met,omitempty"`
}

// newRow builds a row from per-round samples; baseline may be empty.
func newRow(part, metric, unit string, mf []float64, baseline string, base []float64, g *goal) row {
	r := row{Part: part, Metric: metric, Unit: unit, Mailflow: num(median(mf)), MailflowSamples: nums(mf), Goal: g}
	r.BaselineValue, r.Ratio, r.RatioOfMedians = num(math.NaN()), num(math.NaN()), num(math.NaN())
	if baseline != "" {
		r.Baseline = baseline
		r.BaselineValue = num(median(base))
		r.BaselineSamples = nums(base)
		r.RatioOfMedians = num(ratio(float64(r.Mailflow), float64(r.BaselineValue)))
		r.Ratio = num(pairedRatio(mf, base))
	}
	if g != nil {
		var v float64
		switch g.Kind {
		case "min_ratio", "max_ratio":
			v = float64(r.Ratio)
		default:
			v = float64(r.Mailflow)
		}
		if !math.IsNaN(v) {
			atMost := g.Kind == "max_value" || g.Kind == "max_ratio"
			met := (atMost && v <= g.Value) || (!atMost && v >= g.Value)
			r.Met = &met
		}
	}
	return r
}

// pairedRatio is the median of mf[i]/base[i] over the rounds both have.
func pairedRatio(mf, base []float64) float64 {
	var rs []float64
	for i := range min(len(mf), len(base)) {
		if r := ratio(mf[i], base[i]); !math.IsNaN(r) {
			rs = append(rs, r)
		}
	}
	return median(rs)
}

// results is what bench/run writes to bench/results/latest.json.
type results struct {
	Started     time.Time         `json:"started"`
	DurationSec num               `json:"duration_seconds"`
	Smoke       bool              `json:"smoke"`
	Environment map[string]string `json:"environment"`
	Settings    map[string]any    `json:"settings"`
	Rows        []row             `json:"rows"`
	Skipped     []string          `json:"skipped,omitempty"`
	Failed      []string          `json:"failed,omitempty"`
}

func (r *results) writeJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// writeTable prints the rows as a Markdown table (the README's form).
func (r *results) writeTable(w io.Writer) {
	fmt.Fprintln(w, "| part | metric | mailflow | baseline | ratio* | goal |")
	fmt.Fprintln(w, "|---|---|--:|---|--:|---|")
	for _, x := range r.Rows {
		base := "—"
		if x.Baseline != "" {
			base = x.Baseline + ": " + format(float64(x.BaselineValue), x.Unit)
		}
		rat := "—"
		if !math.IsNaN(float64(x.Ratio)) {
			rat = fmt.Sprintf("%.2f×", float64(x.Ratio))
		}
		g := "—"
		if x.Goal != nil {
			g = x.Goal.Text
			if x.Met != nil {
				if *x.Met {
					g += " ✅"
				} else {
					g += " ❌"
				}
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", x.Part, x.Metric, format(float64(x.Mailflow), x.Unit), base, rat, g)
	}
	fmt.Fprintln(w, "\n*mailflow / baseline, the median of the per-round ratios (both measured back to back in each round);")
	fmt.Fprintln(w, " the two columns before it are each system's own median, so their quotient can differ.")
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "\nskipped: %s", s)
	}
	for _, s := range r.Failed {
		fmt.Fprintf(w, "\nFAILED: %s", s)
	}
	if len(r.Skipped)+len(r.Failed) > 0 {
		fmt.Fprintln(w)
	}
}

// format writes a figure with its unit at a sensible precision.
func format(v float64, unit string) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	var s string
	switch {
	case math.Abs(v) >= 100:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strings.TrimSpace(s + " " + unit)
}
