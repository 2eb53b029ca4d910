package dane

import (
	"context"
	"strings"

	"github.com/mailflowhq/mailflow/internal/dnsres"
)

// RenewalWarnings compares, for every receive connector whose presented
// certificate changed between before and after (an import or a renewal),
// the new certificate with the TLSA records published now for the
// connector's FQDN and ports, and returns a warning with the rollover
// steps for each that a DANE sender would refuse. undo, when set, says
// how to go back to the previous certificate (given its thumbprint).
func RenewalWarnings(ctx context.Context, r *dnsres.Resolver, before, after []Presented, p Params, undo func(newThumbprint string) string) []string {
	prev := map[string]Presented{}
	for _, b := range before {
		prev[strings.ToLower(b.Connector)] = b
	}
	var out []string
	for _, a := range after {
		b := prev[strings.ToLower(a.Connector)]
		if a.Cert == nil || b.Cert != nil && b.Cert.Thumbprint == a.Cert.Thumbprint {
			continue
		}
		chain, err := Chain(a.Cert)
		if err != nil {
			continue
		}
		for _, port := range a.Ports {
			pub := Lookup(ctx, r, chain, a.FQDN, port)
			// Records a validating resolver calls insecure are ignored by
			// DANE senders: they break nothing. Without a validating
			// resolver the status is unknown, so a mismatch is reported.
			if !pub.Breaks() || r.Validating() && pub.Security != dnsres.Secure {
				continue
			}
			next, err := For(chain, a.FQDN, port, p)
			if err != nil {
				next, _ = For(chain, a.FQDN, port, DefaultParams)
			}
			hint := ""
			if undo != nil {
				hint = undo(a.Cert.Thumbprint)
			}
			out = append(out, Warning(a.Connector, pub, next, hint))
		}
	}
	return out
}
