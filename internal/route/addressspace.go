package route

import (
	"fmt"
	"strconv"
	"strings"
)

// AddressSpace is one parsed entry of a send connector's address spaces.
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
//	*.contoso.com          every subdomain of contoso.com, at any depth, not contoso.com itself
//	*                      every domain
//	SMTP:*.contoso.com;5   Exchange form: optional "SMTP:" type prefix, optional ";cost"
//
// A wildcard anywhere but as the whole left-most label ("mail*.contoso.com",
// "*contoso.com", "a.*.com") is rejected, as Exchange rejects it.
func ParseAddressSpace(s string) (AddressSpace, error) {
	as := AddressSpace{Raw: s, Cost: 1}
	v := strings.TrimSpace(s)
	if i := strings.IndexByte(v, ':'); i >= 0 {
		if !strings.EqualFold(v[:i], "smtp") {
			return as, fmt.Errorf("address space %q: type %q is not supported (only SMTP)", s, v[:i])
		}
		v = v[i+1:]
	}
	if i := strings.LastIndexByte(v, ';'); i >= 0 {
		cost, err := strconv.Atoi(strings.TrimSpace(v[i+1:]))
		if err != nil || cost < 1 || cost > 100 {
			return as, fmt.Errorf("address space %q: cost %q must be a number from 1 to 100", s, v[i+1:])
		}
		as.Cost = cost
		v = v[:i]
	}
	v = normalizeDomain(v)
	if v == "" {
		return as, fmt.Errorf("address space %q: empty domain", s)
	}
	if v == "*" {
		as.Pattern = v
		return as, nil
	}
	rest := v
	if strings.HasPrefix(v, "*.") {
		rest = v[2:]
	}
	if err := checkDomain(rest); err != nil {
		return as, fmt.Errorf("address space %q: %w", s, err)
	}
	as.Pattern = v
	return as, nil
}

// specificity ranks how precisely the space names a domain that it matches:
// an exact domain beats any wildcard, a wildcard with more labels in its
// suffix beats one with fewer, and "*" ranks lowest. Only spaces that match
// the same domain are compared, so their suffixes are nested and label
// counts order them correctly.
func (a AddressSpace) specificity() int {
	switch {
	case a.Pattern == "*":
		return 0
	case strings.HasPrefix(a.Pattern, "*."):
		return 1 + strings.Count(a.Pattern[2:], ".") + 1 // labels in the suffix
	default:
		return 1 << 20 // exact
	}
}

// Matches reports whether the normalised domain falls under the space.
// "*.contoso.com" matches "sub.contoso.com" and "a.b.contoso.com" (Exchange's
// "include subdomains") but not "contoso.com": Exchange treats the bare
// domain as a separate address space, and so do we, so that an admin who
// wants both writes both.
func (a AddressSpace) Matches(domain string) bool {
	switch {
	case a.Pattern == "*":
		return domain != ""
	case strings.HasPrefix(a.Pattern, "*."):
		suffix := a.Pattern[1:] // ".contoso.com"
		return len(domain) > len(suffix) && strings.HasSuffix(domain, suffix)
	default:
		return domain == a.Pattern
	}
}

// normalizeDomain lower-cases, trims spaces and one trailing root dot.
func normalizeDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	return strings.TrimSuffix(d, ".")
}

// checkDomain accepts host names made of letter-digit-hyphen labels (and
// underscores, seen in real internal names), 1-63 octets each, 255 total.
func checkDomain(d string) error {
	if len(d) > 255 {
		return fmt.Errorf("domain %q is longer than 255 characters", d)
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" {
			return fmt.Errorf("domain %q has an empty label", d)
		}
		if len(label) > 63 {
			return fmt.Errorf("domain %q has a label longer than 63 characters", d)
		}
		for _, r := range label {
			ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
			if !ok {
				return fmt.Errorf("domain %q contains %q; a wildcard is only allowed as the whole left-most label", d, r)
			}
		}
	}
	return nil
}
