package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1000}, 10}, // one disturbed round does not move it
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing should be NaN")
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 || in[1] != 1 {
		t.Errorf("median reordered its input: %v", in)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want float64
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0.1, 1}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%v = %v ms, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{7 * time.Millisecond}, 99); got != 7 {
		t.Errorf("p99 of one = %v", got)
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of nothing should be NaN")
	}
}

func TestNewRowGoals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mf, base  []float64
		baseline  string
		g         *goal
		wantRatio float64
		wantMet   *bool
	}{
		{"ratio met", []float64{200, 210, 190}, []float64{100, 90, 110}, "Postfix", &goal{Kind: "min_ratio", Value: 2}, 2, ptr(true)},
		{"ratio missed", []float64{150}, []float64{100}, "Postfix", &goal{Kind: "min_ratio", Value: 2}, 1.5, ptr(false)},
		{"max ratio met", []float64{105}, []float64{100}, "same, alone", &goal{Kind: "max_ratio", Value: 1.1}, 1.05, ptr(true)},
		{"max ratio missed", []float64{130}, []float64{100}, "same, alone", &goal{Kind: "max_ratio", Value: 1.1}, 1.3, ptr(false)},
		{"max met", []float64{14}, nil, "", &goal{Kind: "max_value", Value: 64}, math.NaN(), ptr(true)},
		{"max missed", []float64{65}, nil, "", &goal{Kind: "max_value", Value: 64}, math.NaN(), ptr(false)},
		{"min met", []float64{301}, []float64{3000}, "grep", &goal{Kind: "min_value", Value: 300}, 301.0 / 3000, ptr(true)},
		{"no goal", []float64{1}, []float64{2}, "x", nil, 0.5, nil},
		{"ratio without baseline", []float64{1}, nil, "", &goal{Kind: "min_ratio", Value: 1}, math.NaN(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRow("p", "m", "u", tc.mf, tc.baseline, tc.base, tc.g)
			got := float64(r.Ratio)
			if !(got == tc.wantRatio || math.IsNaN(got) && math.IsNaN(tc.wantRatio)) {
				t.Errorf("ratio = %v, want %v", got, tc.wantRatio)
			}
			if (r.Met == nil) != (tc.wantMet == nil) || r.Met != nil && *r.Met != *tc.wantMet {
				t.Errorf("met = %v, want %v", show(r.Met), show(tc.wantMet))
			}
		})
	}
}

func ptr(b bool) *bool { return &b }

func show(b *bool) string {
	if b == nil {
		return "nil"
	}
	if *b {
		return "true"
	}
	return "false"
}

// Missing figures must be JSON null: NaN would make the whole file
// unmarshalable.
func TestPairedRatio(t *testing.T) {
	// Round 2 ran while a neighbour slowed the baseline down: the paired
	// median ignores it, the quotient of medians does not.
	mf, base := []float64{10, 20, 30}, []float64{5, 40, 15}
	if got := pairedRatio(mf, base); got != 2 {
		t.Errorf("paired ratio = %v, want 2", got)
	}
	r := newRow("p", "m", "u", mf, "b", base, nil)
	if float64(r.Ratio) != 2 || math.Abs(float64(r.RatioOfMedians)-20.0/15) > 1e-9 {
		t.Errorf("row ratio %v, ratio of medians %v", r.Ratio, r.RatioOfMedians)
	}
	if got := pairedRatio([]float64{1, 2}, []float64{0, 1}); got != 2 {
		t.Errorf("a zero baseline round should be left out: %v", got)
	}
	if !math.IsNaN(pairedRatio(nil, nil)) {
		t.Error("no rounds: want NaN")
	}
}

func TestRowJSON(t *testing.T) {
	r := newRow("memory", "bytes per session", "KiB", []float64{14.5}, "", nil, nil)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	if back["mailflow"] != 14.5 || back["ratio"] != nil {
		t.Errorf("JSON = %s", b)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1G", 1 << 30, true}, {"512m", 512 << 20, true}, {"64K", 64 << 10, true},
		{"1000", 1000, true}, {"1.5G", 3 << 29, true}, {"", 0, false}, {"-1G", 0, false}, {"lots", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMessageBody(t *testing.T) {
	for _, size := range []int{1, 100, 1024, 5000} {
		b := string(messageBody(size, "a@x.test", "b@example.com"))
		head, payload, ok := strings.Cut(b, "\r\n\r\n")
		if !ok || !strings.Contains(head, "To: <b@example.com>") {
			t.Fatalf("size %d: no header block: %q", size, b)
		}
		if len(payload) < size || len(payload) > size+80 {
			t.Errorf("size %d: payload is %d bytes", size, len(payload))
		}
		for _, l := range strings.SplitAfter(payload, "\r\n") {
			if strings.HasPrefix(l, ".") || strings.Contains(strings.TrimSuffix(l, "\r\n"), "\n") || len(l) > 1000 {
				t.Fatalf("size %d: bad line %q", size, l)
			}
		}
		if !strings.HasSuffix(payload, "\r\n") {
			t.Errorf("size %d: payload does not end in CRLF", size)
		}
	}
}

func TestRotation(t *testing.T) {
	if got := fmt.Sprint(order(0), order(1), order(2)); got != "[0 1] [1 0] [0 1]" {
		t.Errorf("order: %s", got)
	}
	if got := fmt.Sprint(rotation(0, 3), rotation(1, 3), rotation(2, 3), rotation(3, 3)); got != "[0 1 2] [1 2 0] [2 0 1] [0 1 2]" {
		t.Errorf("rotation: %s", got)
	}
}
