package tracking

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Filter selects events, like Get-MessageTrackingLog's parameters. Zero
// fields match everything.
type Filter struct {
	// Sender matches sender-address, case-insensitively; "@contoso.com"
	// matches every sender of that domain.
	Sender string
	// Recipient matches any recipient-address the same way.
	Recipient string
	// MessageID matches message-id (angle brackets optional) or
	// network-message-id, case-insensitively.
	MessageID string
	// Since and Until bound Time, both inclusive.
	Since, Until time.Time
	// EventIDs keeps only these event ids (case-insensitive).
	EventIDs []string
}

// Match reports whether e passes every set criterion.
func (f Filter) Match(e Event) bool {
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && e.Time.After(f.Until) {
		return false
	}
	if len(f.EventIDs) > 0 && !slices.ContainsFunc(f.EventIDs, func(id string) bool { return strings.EqualFold(id, e.EventID) }) {
		return false
	}
	if f.Sender != "" && !matchAddress(f.Sender, e.Sender) {
		return false
	}
	if f.Recipient != "" && !slices.ContainsFunc(e.Recipients, func(r string) bool { return matchAddress(f.Recipient, r) }) {
		return false
	}
	if f.MessageID != "" {
		want := trimAngles(f.MessageID)
		if !strings.EqualFold(want, trimAngles(e.MessageID)) && !strings.EqualFold(want, e.NetworkMessageID) {
			return false
		}
	}
	return true
}

func matchAddress(pattern, addr string) bool {
	if strings.HasPrefix(pattern, "@") {
		return len(addr) >= len(pattern) && strings.EqualFold(addr[len(addr)-len(pattern):], pattern)
	}
	return strings.EqualFold(pattern, addr)
}

func trimAngles(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		return s[1 : len(s)-1]
	}
	return s
}

// nameMargin widens a file's nominal period when deciding from its name
// whether it can hold events in range: events carry their own times (and
// other servers' clocks and time zones differ), so a file is only skipped
// when it is clearly out of range.
const nameMargin = 24 * time.Hour

// Search reads every MSGTRK*.LOG file in dir (plain or gzip, including
// Exchange's MSGTRKMD/MS/MA files and .LOG.gz archives), streaming each one,
// and returns the matching events in time order (ties keep file order).
// Files whose name dates them clearly outside Since/Until are not opened.
// Malformed lines are skipped; an unreadable file is an error.
func Search(dir string, f Filter) ([]Event, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("search message tracking logs: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTrackingName(e.Name()) {
			continue
		}
		if start, end, ok := namePeriod(e.Name()); ok {
			if !f.Since.IsZero() && end.Add(nameMargin).Before(f.Since) {
				continue
			}
			if !f.Until.IsZero() && start.Add(-nameMargin).After(f.Until) {
				continue
			}
		}
		names = append(names, e.Name())
	}
	slices.Sort(names)
	var out []Event
	for _, name := range names {
		out, err = searchFile(filepath.Join(dir, name), f, out)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by retention since the listing
		}
		if err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return out, nil
}

func searchFile(path string, f Filter, out []Event) ([]Event, error) {
	rc, err := Open(path)
	if err != nil {
		return out, err
	}
	defer rc.Close()
	r := NewReader(rc)
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("search %s: %w", path, err)
		}
		if f.Match(e) {
			out = append(out, e)
		}
	}
}

// isTrackingName accepts MSGTRK*.LOG and MSGTRK*.LOG.gz in any case.
func isTrackingName(name string) bool {
	upper := strings.ToUpper(name)
	return strings.HasPrefix(upper, "MSGTRK") &&
		(strings.HasSuffix(upper, ".LOG") || strings.HasSuffix(upper, ".LOG.GZ"))
}

// namePeriod reads the period a tracking file name covers: yyyymmddhh
// (hourly) or yyyymmdd (daily) after MSGTRK and optional letters.
func namePeriod(name string) (start, end time.Time, ok bool) {
	rest := strings.ToUpper(name)[len("MSGTRK"):]
	rest = strings.TrimLeft(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	digits := rest
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		digits = rest[:i]
	}
	switch len(digits) {
	case 10:
		t, err := time.Parse("2006010215", digits)
		if err != nil {
			return time.Time{}, time.Time{}, false
		}
		return t, t.Add(time.Hour), true
	case 8:
		t, err := time.Parse("20060102", digits)
		if err != nil {
			return time.Time{}, time.Time{}, false
		}
		return t, t.AddDate(0, 0, 1), true
	}
	return time.Time{}, time.Time{}, false
}
