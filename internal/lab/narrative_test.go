package lab

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// sampleReport is a fixed report with one good and one failed scenario.
func sampleReport() *Report {
	r := &Report{Scenarios: []*Scenario{
		{Name: "Scenario A", FieldReport: `"A field report"`, Summary: "what it shows", Steps: []*Step{
			{Name: "Start", OK: true, Expected: "both listen", Observed: "both listen", Evidence: []string{"[tenant] SMTP 127.0.0.1:1"}},
			{Name: "Defer", OK: true, Expected: "450 4.7.320", Observed: "DEFER 450 4.7.320 SubjectMismatch", Evidence: []string{}},
		}},
		{Name: "Scenario B", Steps: []*Step{
			{Name: "Deliver", OK: false, Expected: "SEND", Observed: "DEFER — NOT AS EXPECTED: want SEND", Evidence: []string{"line 1", "line 2"}},
			{Name: "Later", OK: false, Expected: "x", Observed: "not run: an earlier step did not behave as expected", Evidence: []string{}},
		}},
	}}
	r.settle()
	return r
}

func TestNarrativeGolden(t *testing.T) {
	var b strings.Builder
	n := NewNarrator(&b)
	n.Started("/tmp/lab", true)
	WriteText(&b, sampleReport())
	golden := filepath.Join("testdata", "narrative.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("narrative differs from %s (go test -update refreshes it):\n%s", golden, b.String())
	}
}

// TestReportJSONShape pins the machine-readable form `mailflow lab --json`
// promises.
func TestReportJSONShape(t *testing.T) {
	data, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK        *bool `json:"ok"`
		Scenarios []struct {
			Name  *string `json:"name"`
			OK    *bool   `json:"ok"`
			Steps []struct {
				Name     *string   `json:"name"`
				OK       *bool     `json:"ok"`
				Expected *string   `json:"expected"`
				Observed *string   `json:"observed"`
				Evidence *[]string `json:"evidence"`
			} `json:"steps"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.OK == nil || *got.OK || len(got.Scenarios) != 2 {
		t.Fatalf("top level: %s", data)
	}
	for _, sc := range got.Scenarios {
		if sc.Name == nil || sc.OK == nil || len(sc.Steps) == 0 {
			t.Fatalf("scenario fields missing: %s", data)
		}
		for _, st := range sc.Steps {
			if st.Name == nil || st.OK == nil || st.Expected == nil || st.Observed == nil || st.Evidence == nil {
				t.Fatalf("step fields missing: %s", data)
			}
		}
	}
	if !*got.Scenarios[0].OK || *got.Scenarios[1].OK {
		t.Errorf("scenario verdicts wrong: %s", data)
	}
}
