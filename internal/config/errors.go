package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in a configuration file: where it is, what is wrong
// and how to fix it.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted path, e.g. receive_connectors[1].remote_ip_ranges[0]; empty for file-level problems
	Msg  string
	Fix  string
}

// Error formats "file:line: key: msg Fix: fix".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		msg := strings.TrimRight(e.Msg, " ")
		if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "?") {
			b.WriteString(".")
		}
		b.WriteString(" Fix: ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Errors is every problem found in one pass, so that an administrator
// fixes the file once instead of once per error.
type Errors []*Error

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sorted orders the problems by line, keeping discovery order for equal
// lines, so the output reads top to bottom like the file.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	return es
}

// err returns es as an error, or nil when empty (never a typed nil).
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es.sorted()
}

// AsErrors flattens err into the configuration problems it holds: an
// Errors, a single *Error, or anything wrapping them. Other errors give nil.
func AsErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	return nil
}

// nearest returns the candidate closest to s, or "" when nothing is close
// enough to be a plausible typo. Comparison ignores case, '_' and '-', so
// PowerShell-style TlsCertificateName finds tls_certificate_name.
func nearest(s string, candidates []string) string {
	norm := func(x string) string {
		x = strings.ToLower(x)
		x = strings.ReplaceAll(x, "_", "")
		return strings.ReplaceAll(x, "-", "")
	}
	ns := norm(s)
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(ns, norm(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// Allow about one edit per four characters, at least two: enough for
	// typos and transpositions, not enough to suggest an unrelated key.
	limit := max(2, len(ns)/4)
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and adjacent transpositions cost one each.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rolling rows are enough for the transposition lookback.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
