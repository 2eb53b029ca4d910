package lifecycle

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// Expiry returns, for every certificate a connector presents, a warning
// when it expires within warnWithin (like Exchange's event 12017, "the
// certificate will expire soon") and an error once it has expired (event
// 12018), naming the connectors and the fix. A pinned certificate keeps
// being presented after it expires (Exchange does too, event 12016); the
// error says that validating senders refuse it.
func (g Guard) Expiry(warnWithin time.Duration) Findings {
	byCert := map[*certs.Certificate][]Use{}
	var order []*certs.Certificate
	for _, u := range Uses(g.Cfg) {
		c := g.current(u)
		if c == nil {
			continue
		}
		if _, seen := byCert[c]; !seen {
			order = append(order, c)
		}
		byCert[c] = append(byCert[c], u)
	}
	var fs Findings
	for _, c := range order {
		if f, ok := expirySoon(c, byCert[c], g.Now, warnWithin); ok {
			fs = append(fs, f)
		}
	}
	return fs
}

// expirySoon is the 12017/12018-style finding for one certificate, if any.
func expirySoon(c *certs.Certificate, uses []Use, now time.Time, warnWithin time.Duration) (Finding, bool) {
	var names, pinned []string
	for _, u := range uses {
		names = append(names, u.Connector)
		if u.Pin != "" {
			pinned = append(pinned, u.Connector)
		}
	}
	left := c.Leaf.NotAfter.Sub(now)
	fix := fmt.Sprintf("renew it with the same names (%s): mailflow cert request --subject %q --san … then mailflow cert import, or let an acme: entry renew it; check with mailflow cert check",
		strings.Join(c.SANs, ", "), c.Subject)
	f := Finding{Check: CheckExpiry, Connector: strings.Join(names, ", "), Thumbprint: c.Thumbprint, Fix: fix}
	switch {
	case left < 0:
		f.Severity = SevError
		f.Problem = fmt.Sprintf("certificate %s (%s) used by connector(s) %s has expired on %s (event 12018)",
			c.Thumbprint, c.Subject, strings.Join(names, ", "), c.Leaf.NotAfter.UTC().Format(time.RFC3339))
		if len(pinned) > 0 {
			f.Problem += fmt.Sprintf("; connector(s) %s pin it with tls_certificate_name and keep presenting it, but validating senders refuse an expired certificate (450 4.7.322 certificate-expired / 4.7.320)", strings.Join(pinned, ", "))
		}
	case left <= warnWithin:
		days := int(math.Ceil(left.Hours() / 24))
		f.Severity = SevWarning
		f.Problem = fmt.Sprintf("certificate %s (%s) used by connector(s) %s will expire in %d day(s), on %s (event 12017)",
			c.Thumbprint, c.Subject, strings.Join(names, ", "), days, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	default:
		return Finding{}, false
	}
	return f, true
}
