package dane

import (
	"context"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
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
		for _, port := range a.Ports {
			if pub, next, ok := refused(ctx, r, a.Cert, a.FQDN, port, p); ok {
				hint := ""
				if undo != nil {
					hint = undo(a.Cert.Thumbprint)
				}
				out = append(out, Warning(a.Connector, pub, next, hint))
			}
		}
	}
	return out
}

// refused reports whether a DANE sender would refuse c on host:port given
// the TLSA records published now, with those records and the record to
// publish for c. Records a validating resolver calls insecure are ignored
// by DANE senders: they break nothing. Without a validating resolver the
// status is unknown, so a mismatch counts.
func refused(ctx context.Context, r *dnsres.Resolver, c *certs.Certificate, host string, port int, p Params) (Published, Record, bool) {
	chain, err := Chain(c)
	if err != nil {
		return Published{}, Record{}, false
	}
	pub := Lookup(ctx, r, chain, host, port)
	if !pub.Breaks() || r.Validating() && pub.Security != dnsres.Secure {
		return Published{}, Record{}, false
	}
	next, err := For(chain, host, port, p)
	if err != nil {
		next, _ = For(chain, host, port, DefaultParams)
	}
	return pub, next, true
}

// LookupTimeout bounds the TLSA lookups of one guard check.
const LookupTimeout = 15 * time.Second

// GuardCheck is the renewal guard's DANE check (a lifecycle.Checker, added
// by node.Runtime.Guard when the configuration names dns resolvers): the
// certificate a receive connector presents or would present is judged
// against the TLSA records published now for the connector's FQDN and
// each of its ports, through r, as a DANE sender judges it. A mismatch is
// a warning, not a refusal — the records are fixed in DNS, not here — with
// the rollover steps as the fix; undo, when set, says how to go back to
// the previous certificate (given the new one's thumbprint).
func GuardCheck(r *dnsres.Resolver, cfg *config.Config, p Params, undo func(thumbprint string) string) lifecycle.Checker {
	return func(c *certs.Certificate, u lifecycle.Use) lifecycle.Findings {
		if u.Send {
			return nil
		}
		var ports []int
		for i := range cfg.ReceiveConnectors {
			if strings.EqualFold(cfg.ReceiveConnectors[i].Name, u.Connector) {
				ports = Ports(&cfg.ReceiveConnectors[i])
			}
		}
		var fs lifecycle.Findings
		for _, port := range ports {
			ctx, cancel := context.WithTimeout(context.Background(), LookupTimeout)
			pub, next, ok := refused(ctx, r, c, u.FQDN, port, p)
			cancel()
			if !ok {
				continue
			}
			hint := ""
			if undo != nil {
				hint = undo(c.Thumbprint)
			}
			problem, fix := warningParts(u.Connector, pub, next, hint)
			fs = append(fs, lifecycle.Finding{Severity: lifecycle.SevWarning, Check: lifecycle.CheckDANE, Connector: u.Connector,
				Thumbprint: c.Thumbprint, Problem: problem, Fix: fix})
		}
		return fs
	}
}
