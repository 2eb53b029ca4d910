// Package route owns the routing decision for a recipient domain: deliver
// locally (an accepted domain) or hand the message to the send connector
// whose address space matches the domain most specifically.
//
// Matching follows Exchange:
//   - accepted domains win over every send connector;
//   - an exact address space ("contoso.com") beats a wildcard;
//   - "*.contoso.com" covers contoso.com and every subdomain at any depth
//     ("sub.contoso.com", "a.b.contoso.com"): the one rule of package
//     domain, which cites Microsoft's documentation for it;
//   - a longer wildcard suffix beats a shorter one ("*.eu.contoso.com" beats
//     "*.contoso.com"), and "*" matches everything, last;
//   - between equally specific spaces the lower Exchange cost wins
//     ("SMTP:contoso.com;5"; default 1), then the first in configuration
//     order.
//
// No match is a *NoRouteError, which the queue turns into a permanent
// failure "550 5.4.4 Unable to route" naming the domain and the fix.
package route

import (
	"fmt"
	"strings"

	"github.com/mailflowhq/mailflow/internal/domain"
)

// SendConnector is the view of a send connector routing needs. The server
// maps its configuration to it and passes only enabled connectors.
type SendConnector struct {
	Name          string
	AddressSpaces []string
}

// Decision says where mail for a domain goes.
type Decision struct {
	// Local is true for an accepted domain: deliver to the local store.
	Local bool
	// Connector is the name of the chosen send connector (empty when Local).
	Connector string
	// Space is the matched address space or accepted domain pattern, as
	// normalised ("*.contoso.com").
	Space string
}

// Router answers routing questions for a fixed configuration. It is
// immutable and safe for concurrent use; build a new one on reload.
type Router struct {
	accepted []domain.AddressSpace
	spaces   []candidate
	invalid  []error
}

type candidate struct {
	connector string
	space     domain.AddressSpace
	order     int
}

// New builds a router. Accepted domains use the same pattern syntax as
// address spaces ("contoso.com", "*.contoso.com"). Entries that
// domain.ParseAddressSpace rejects never match; they are reported by Invalid so
// that configuration validation can name them.
func New(accepted []string, connectors []SendConnector) *Router {
	r := &Router{}
	for _, a := range accepted {
		as, err := domain.ParseAddressSpace(a)
		if err != nil {
			r.invalid = append(r.invalid, fmt.Errorf("accepted domain %q: %w", a, err))
			continue
		}
		r.accepted = append(r.accepted, as)
	}
	order := 0
	for _, c := range connectors {
		for _, s := range c.AddressSpaces {
			as, err := domain.ParseAddressSpace(s)
			if err != nil {
				r.invalid = append(r.invalid, fmt.Errorf("send connector %q: address space %q: %w", c.Name, s, err))
				continue
			}
			r.spaces = append(r.spaces, candidate{connector: c.Name, space: as, order: order})
			order++
		}
	}
	return r
}

// Invalid lists the entries New ignored, each naming its connector.
func (r *Router) Invalid() []error { return append([]error(nil), r.invalid...) }

// Route decides where mail for domain goes. The domain is compared
// case-insensitively, without a trailing dot.
func (r *Router) Route(recipientDomain string) (Decision, error) {
	d := domain.Normalize(recipientDomain)
	if d == "" {
		return Decision{}, &NoRouteError{Domain: recipientDomain}
	}
	if best, ok := bestMatch(d, r.acceptedCandidates()); ok {
		return Decision{Local: true, Space: best.space.Pattern}, nil
	}
	if best, ok := bestMatch(d, r.spaces); ok {
		return Decision{Connector: best.connector, Space: best.space.Pattern}, nil
	}
	return Decision{}, &NoRouteError{Domain: d}
}

func (r *Router) acceptedCandidates() []candidate {
	c := make([]candidate, len(r.accepted))
	for i, a := range r.accepted {
		c[i] = candidate{space: a, order: i}
	}
	return c
}

// bestMatch picks the most specific matching candidate, then the lowest
// cost, then the earliest in configuration order.
func bestMatch(d string, cands []candidate) (candidate, bool) {
	var best candidate
	found := false
	for _, c := range cands {
		if !c.space.Matches(d) {
			continue
		}
		if !found || better(c, best) {
			best, found = c, true
		}
	}
	return best, found
}

func better(a, b candidate) bool {
	if sa, sb := a.space.Specificity(), b.space.Specificity(); sa != sb {
		return sa > sb
	}
	if a.space.Cost != b.space.Cost {
		return a.space.Cost < b.space.Cost
	}
	return a.order < b.order
}

// NoRouteError says no accepted domain and no send connector address space
// covers a domain. Delivery to it fails permanently.
type NoRouteError struct {
	Domain string
}

// Status is the SMTP reply code and enhanced status for the failure.
func (e *NoRouteError) Status() string { return "550 5.4.4" }

func (e *NoRouteError) Error() string { return e.Status() + " " + e.Detail() }

// Detail is the text after the status: what is missing and the fix.
func (e *NoRouteError) Detail() string {
	d := e.Domain
	if strings.TrimSpace(d) == "" {
		return "Unable to route: the recipient has no domain"
	}
	return fmt.Sprintf("Unable to route: no accepted domain or send connector address space matches %q; "+
		"fix: add the address space %q (or \"*\" for all domains) to a send connector, or add %q to accepted_domains if it is ours",
		d, d, d)
}
