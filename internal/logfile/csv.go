package logfile

import "strings"

// special marks the bytes AppendField must act on: ',' and '"' force
// quoting, CR and LF are replaced.
var special = [256]bool{',': true, '"': true, '\r': true, '\n': true}

// AppendField appends s to dst as one CSV field in the Exchange log dialect:
// a field holding ',' or '"' is wrapped in double quotes with embedded quotes
// doubled, and every CR or LF becomes one space so that one record stays one
// line (Exchange joins multi-line replies the same way). No separator is
// written; the caller places the commas.
//
// It takes a string or a byte slice, so callers that assemble a field (such
// as a ';'-joined list) in a scratch buffer need not convert it.
func AppendField[T ~string | ~[]byte](dst []byte, s T) []byte {
	i := 0
	for i < len(s) && !special[s[i]] {
		i++
	}
	if i == len(s) {
		return append(dst, s...) // the common case: one scan, one copy
	}
	quote := false
	for j := i; j < len(s); j++ {
		if s[j] == ',' || s[j] == '"' {
			quote = true
			break
		}
	}
	if quote {
		dst = append(dst, '"')
	}
	dst = append(dst, s[:i]...)
	for ; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			dst = append(dst, '"', '"')
		case '\r', '\n':
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	if quote {
		dst = append(dst, '"')
	}
	return dst
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
