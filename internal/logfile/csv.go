package logfile

import "strings"

// needsQuote reports whether a field must be quoted: it holds a comma or a
// double quote. CR and LF never reach the file (AppendField replaces them).
func needsQuote(s string) bool {
	return strings.ContainsAny(s, ",\"")
}

// AppendField appends s to dst as one CSV field in the Exchange log dialect:
// a field holding ',' or '"' is wrapped in double quotes with embedded quotes
// doubled, and every CR or LF becomes one space so that one record stays one
// line (Exchange joins multi-line replies the same way). No separator is
// written; the caller places the commas.
func AppendField(dst []byte, s string) []byte {
	if !needsQuote(s) {
		if strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '\n') < 0 {
			return append(dst, s...)
		}
		for i := 0; i < len(s); i++ {
			dst = append(dst, cleanByte(s[i]))
		}
		return dst
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			dst = append(dst, '"', '"')
			continue
		}
		dst = append(dst, cleanByte(c))
	}
	return append(dst, '"')
}

// CleanField returns s as a reader will see it after AppendField: CR and LF
// replaced by spaces. Tests and callers comparing round trips use it.
func CleanField(s string) string {
	if strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '\n') < 0 {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		b[i] = cleanByte(c)
	}
	return string(b)
}

func cleanByte(c byte) byte {
	if c == '\r' || c == '\n' {
		return ' '
	}
	return c
}
