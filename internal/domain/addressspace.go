package domain

import (
	"fmt"
	"strconv"
	"strings"
)

// AddressSpace is one parsed domain pattern of a send connector's address
// spaces or of accepted domains.
type AddressSpace struct {
	// Raw is the entry as written in the configuration.
	Raw string
	// Pattern is the normalised domain pattern: "contoso.com",
	// "*.contoso.com" or "*".
	Pattern string
	// Cost is the Exchange address-space cost (1 when not written). A lower
	// cost wins between equally specific spaces.
	Cost int
}

// ParseAddressSpace parses an address space as written in configuration or
// copied from Exchange. Accepted forms:
//
//	contoso.com            exact domain
//	*.contoso.com          contoso.com and every subdomain of it, at any depth
//	*                      every domain
//	SMTP:*.contoso.com;5   Exchange form: optional "SMTP:" type prefix, optional ";cost"
//
// A wildcard anywhere but as the whole left-most label ("mail*.contoso.com",
// "*contoso.com", "a.*.com") is rejected, as Exchange rejects it. The error
// says what is wrong without repeating s.
func ParseAddressSpace(s string) (AddressSpace, error) {
	as := AddressSpace{Raw: s, Cost: 1}
	v := strings.TrimSpace(s)
	if i := strings.IndexByte(v, ':'); i >= 0 {
		if !strings.EqualFold(v[:i], "smtp") {
			return as, fmt.Errorf("type %q is not supported (only SMTP)", v[:i])
		}
		v = v[i+1:]
	}
	if i := strings.LastIndexByte(v, ';'); i >= 0 {
		cost, err := strconv.Atoi(strings.TrimSpace(v[i+1:]))
		if err != nil || cost < 1 || cost > 100 {
			return as, fmt.Errorf("cost %q must be a number from 1 to 100", v[i+1:])
		}
		as.Cost = cost
		v = v[:i]
	}
	// Lower case but no trailing-dot trimming: configuration refuses
	// "contoso.com." as every other domain key does.
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "*" {
		as.Pattern = v
		return as, nil
	}
	if p := Problem(v, true); p != "" {
		return as, fmt.Errorf("%s", p)
	}
	as.Pattern = v
	return as, nil
}

// Matches reports whether the space covers domain (the rule of Match).
func (a AddressSpace) Matches(domain string) bool { return Match(a.Pattern, domain) }

// Specificity ranks how precisely the space names a domain that it
// matches: an exact domain beats any wildcard, a wildcard with more labels
// in its suffix beats one with fewer, and "*" ranks lowest. Only spaces
// that match the same domain are compared, so their suffixes are nested
// and label counts order them correctly.
func (a AddressSpace) Specificity() int {
	switch {
	case a.Pattern == "*":
		return 0
	case strings.HasPrefix(a.Pattern, "*."):
		return 1 + strings.Count(a.Pattern[2:], ".") + 1 // labels in the suffix
	default:
		return 1 << 20 // exact
	}
}
