package mtasts

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Entry is a cached policy.
type Entry struct {
	Domain  string    `json:"domain"`
	ID      string    `json:"id"` // the TXT id the policy was fetched under
	Policy  *Policy   `json:"policy"`
	Fetched time.Time `json:"fetched"`
}

// Expires is when the policy stops applying unless refreshed.
func (e *Entry) Expires() time.Time { return e.Fetched.Add(e.Policy.MaxAge) }

// cacheFile is where domain's policy is kept; "" when the name cannot be a
// file name (it then lives in memory only).
func cacheFile(dir, domain string) string {
	if dir == "" || domain == "" || len(domain) > 253 || strings.HasPrefix(domain, ".") {
		return ""
	}
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return ""
		}
	}
	return filepath.Join(dir, domain+".json")
}

func readEntry(path string) (*Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("cached policy %s: %w", path, err)
	}
	if e.Policy == nil {
		return nil, fmt.Errorf("cached policy %s has no policy", path)
	}
	// The cached text is re-parsed, so a damaged or hand-edited file can
	// never widen what the sender allows.
	p, err := ParsePolicy([]byte(e.Policy.Text))
	if err != nil {
		return nil, fmt.Errorf("cached policy %s: %w", path, err)
	}
	e.Policy = p
	return &e, nil
}

// writeEntry saves e atomically (temporary file, fsync, rename).
func writeEntry(path string, e *Entry) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".policy-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
	}
	return werr
}
