package web

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever a login link carries as next, the redirect after
// login stays on this site (a path, never another host).
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/queues", "//evil.example/", "/\\evil.example", "https://evil.example", "/map?x=1", "", "/%0d%0aSet-Cookie:x", "\\\\evil", "/\t/evil.example", "/%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		// What a browser makes of it: tabs and newlines removed.
		seen := strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(got)
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(seen, "/") || strings.HasPrefix(seen, "//") ||
			strings.HasPrefix(seen, "/\\") || strings.ContainsAny(got, "\r\n\t") {
			t.Fatalf("safeNext(%q) = %q leaves the site", next, got)
		}
	})
}
