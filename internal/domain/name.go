package domain

import (
	"fmt"
	"net/netip"
	"strings"
)

// Normalize lower-cases d and removes surrounding spaces and one trailing
// root dot: the form every comparison uses.
func Normalize(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// Problem says what is wrong with a DNS name written in configuration or on
// the command line, or "" when it is fine. With wildcard, a left-most "*."
// label is allowed (and nowhere else, as Exchange domains and certificate
// names require). Names must be ASCII (punycode for internationalised
// names), 253 characters at most, labels of letters, digits and hyphens.
func Problem(s string, wildcard bool) string {
	if s == "" {
		return "it is empty"
	}
	if strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t") {
		return "it contains spaces"
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "it is an IP address, not a name"
	}
	if strings.HasSuffix(s, ".") {
		return "it ends with a dot"
	}
	name := s
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		if !wildcard {
			return "a wildcard is not allowed here"
		}
		name = rest
	}
	if len(name) > 253 {
		return "it is longer than 253 characters"
	}
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return "it has an empty label (two dots in a row, or a leading dot)"
		case strings.Contains(label, "*"):
			return "a wildcard is only allowed as the whole left-most label (*.contoso.com)"
		case len(label) > 63:
			return fmt.Sprintf("the label %q is longer than 63 characters", label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("the label %q starts or ends with a hyphen", label)
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			case r > 127:
				return "it has non-ASCII characters; write internationalised names in punycode (xn--…)"
			default:
				return fmt.Sprintf("it contains %q; names use letters, digits, hyphens and dots", r)
			}
		}
	}
	return ""
}
