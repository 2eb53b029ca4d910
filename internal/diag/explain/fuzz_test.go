package explain

import (
	"encoding/json"
	"io"
	"regexp"
	"testing"
)

var (
	fuzzCodeRe     = regexp.MustCompile(`^[2-5][0-9][0-9]$`)
	fuzzEnhancedRe = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)
)

// FuzzExplain: Explain never panics, recognised inputs always carry a title
// and a fix, parsed codes are well formed and both reports can be written.
func FuzzExplain(f *testing.F) {
	for _, tc := range explainCases {
		f.Add(tc.input)
	}
	for _, s := range []string{
		"", "{", "{LED=", "[[[]]]", "{LED=450 4.7.320 [Message=", "responded with: \"", "responded with: '",
		"Expected Subject: Presented Subject: Thumbprint:", "Event ID: 12014", "450 4.7.320 İİİ responded with: \"x",
		"{LED=451 4.4.0 Primary target IP address responded with: \"\"}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		e := Text(input)
		if e.Input != input {
			t.Fatalf("Input not preserved")
		}
		if e.Recognised && (e.Title == "" || len(e.Fix) == 0) {
			t.Fatalf("recognised %s without title or fix: %+v", e.Topic, e)
		}
		if e.Code != "" && !fuzzCodeRe.MatchString(e.Code) {
			t.Fatalf("malformed Code %q", e.Code)
		}
		if e.Enhanced != "" && !fuzzEnhancedRe.MatchString(e.Enhanced) {
			t.Fatalf("malformed Enhanced %q", e.Enhanced)
		}
		if err := e.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatal(err)
		}
	})
}
