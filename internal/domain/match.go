package domain

import "strings"

// Match reports whether pattern covers domain, both compared without case
// and without a trailing dot: "*" covers every domain, "*.contoso.com"
// covers contoso.com and every subdomain at any depth, and any other
// pattern covers exactly itself. It is the one matching rule of mailflow
// (see the package documentation for its source).
func Match(pattern, domain string) bool {
	pattern, domain = Normalize(pattern), Normalize(domain)
	if domain == "" {
		return false
	}
	if pattern == "*" {
		return true
	}
	if base, ok := strings.CutPrefix(pattern, "*."); ok {
		return domain == base || strings.HasSuffix(domain, "."+base)
	}
	return domain == pattern
}

// MatchAny reports whether any of patterns covers domain.
func MatchAny(patterns []string, domain string) bool {
	for _, p := range patterns {
		if Match(p, domain) {
			return true
		}
	}
	return false
}

// Base returns the domain a pattern is rooted at, normalised: contoso.com
// for both "contoso.com" and "*.contoso.com" (which covers contoso.com
// itself), "" for "*". It names a pattern's domain where a single name is
// needed: a host name, a routing domain, a connector label.
func Base(pattern string) string {
	p := Normalize(pattern)
	if p == "*" {
		return ""
	}
	return strings.TrimPrefix(p, "*.")
}
