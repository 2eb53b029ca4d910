package hybrid

import (
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/netrange"
)

// FuzzParseRanges: a ranges file never crashes the parser, and every range
// it accepts parses as a remote IP range.
func FuzzParseRanges(f *testing.F) {
	f.Add([]byte("# date: 2026-12-02\n40.92.0.0/15\n2a01:111:f400::/48\n"))
	f.Add([]byte("192.0.2.1-192.0.2.9\n\n# comment\n"))
	f.Add([]byte("10.0.0.5/24\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRanges("f", data)
		if err != nil {
			if !strings.Contains(err.Error(), "Fix:") {
				t.Errorf("error without a fix: %v", err)
			}
			return
		}
		for _, s := range r.Ranges {
			if _, err := netrange.Parse(s); err != nil {
				t.Errorf("accepted %q: %v", s, err)
			}
		}
	})
}
