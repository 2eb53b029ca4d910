package tracking

import "strings"

// joinRecipients writes recipient-address: addresses separated by ';'.
func joinRecipients(dst []byte, list []string) []byte {
	for i, r := range list {
		if i > 0 {
			dst = append(dst, ';')
		}
		dst = append(dst, r...)
	}
	return dst
}

// joinStatuses writes recipient-status: entries separated by ';', each
// wrapped in [ ] when it would otherwise split or lose a wrapper on reading
// (see the package doc).
func joinStatuses(dst []byte, list []string) []byte {
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ';')
		}
		if hasTopLevelSemicolon(s) || isWrapped(s) {
			dst = append(dst, '[')
			dst = append(dst, s...)
			dst = append(dst, ']')
			continue
		}
		dst = append(dst, s...)
	}
	return dst
}

// splitRecipients splits recipient-address; an empty field is no recipients.
func splitRecipients(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ";")
}

// splitStatuses splits recipient-status at ';' outside brackets and braces
// and removes one [ ] wrapper from each entry.
func splitStatuses(s string) []string {
	if s == "" {
		return nil
	}
	if strings.IndexByte(s, '[') < 0 && strings.IndexByte(s, '{') < 0 {
		return strings.Split(s, ";") // plain SMTP replies: nothing to balance
	}
	var out []string
	for {
		i := topLevelSemicolon(s)
		if i < 0 {
			return append(out, unwrap(s))
		}
		out = append(out, unwrap(s[:i]))
		s = s[i+1:]
	}
}

func hasTopLevelSemicolon(s string) bool { return topLevelSemicolon(s) >= 0 }

// topLevelSemicolon returns the index of the first ';' in s outside
// brackets and braces, or -1. A stray closer does not push the depth below
// zero, so text after it still splits.
func topLevelSemicolon(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '{':
			depth++
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case ';':
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// isWrapped reports whether s is "[...]" with the first '[' closed by the
// final ']'.
func isWrapped(s string) bool {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return false
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i == len(s)-1
			}
		}
	}
	return false
}

func unwrap(s string) string {
	if isWrapped(s) {
		return s[1 : len(s)-1]
	}
	return s
}
