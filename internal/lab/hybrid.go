package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/hybrid"
	"github.com/mailflowhq/mailflow/internal/node"
)

// The second field report's on-premises server is an Exchange 2010: the
// lab plans its hybrid connection with that version's rules.
const scenario2Version = certs.Exchange2010

// labTenantRanges stands in for Exchange Online's published ranges: in the
// lab the tenant sends from one loopback address.
var labTenantRanges = hybrid.Ranges{Ranges: []string{tenantSource + "/32"}, Source: "the lab tenant's source address", Date: "lab"}

// planHybrid makes the hybrid plan of a world from contoso's certificate,
// as `mailflow hybrid plan --certificate <thumbprint> --exchange-version
// 2010` does, with the lab's loopback addresses and ports.
func planHybrid(w *world, cert *certs.Certificate) (*hybrid.Plan, error) {
	rt := w.Onprem.srv.Runtime()
	return hybrid.MakePlan(hybrid.Input{
		OnPrem: rt.Cfg, Store: rt.Store, Certificate: rt.Store.FindThumbprint(cert.Thumbprint), Version: scenario2Version,
		Ranges: labTenantRanges, OnPremIPs: []string{onpremSource}, FQDN: hybridFQDN,
		TenantDomain: tenantDomain, TenantSmartHost: w.Tenant.SMTP, OnPremSmartHost: w.Onprem.SMTP,
		Bindings: []string{w.Onprem.SMTP}, TenantBindings: []string{w.Tenant.SMTP},
		SourceIP: onpremSource, TenantSourceIP: tenantSource, Now: time.Now(),
	})
}

// applyHybrid writes the plan's connectors into both configuration files
// (validated as a live change is) and reloads both servers through their
// admin APIs.
func applyHybrid(w *world, p *hybrid.Plan) error {
	for _, side := range []struct {
		in *instance
		cs hybrid.Connectors
	}{{w.Onprem, p.OnPrem}, {w.Tenant, p.Tenant}} {
		if err := side.cs.Apply(side.in.Config, node.Check(time.Now(), nil)); err != nil {
			return err
		}
		if err := side.in.Admin.Reload(); err != nil {
			return fmt.Errorf("reload %s: %w", side.in.Role, err)
		}
	}
	return nil
}

// checkHybrid runs `mailflow hybrid check --live` on the running pair.
func checkHybrid(ctx context.Context, w *world) *hybrid.Report {
	now := time.Now()
	on := hybrid.Side{Name: "on-premises", RT: w.Onprem.srv.Runtime(), Version: scenario2Version, Sources: []string{onpremSource}}
	ten := hybrid.Side{Name: "tenant", RT: w.Tenant.srv.Runtime(), Sources: labTenantRanges.Ranges}
	r := hybrid.Check(on, ten, now)
	r.Rows = append(r.Rows, hybrid.Live(ctx, on, ten, now)...)
	return r
}

// checkLines renders a check report's rows for the evidence.
func checkLines(r *hybrid.Report) []string {
	var out []string
	for _, row := range r.Rows {
		v := strings.ToUpper(row.Verdict)
		if row.Live {
			v += " (live)"
		}
		line := fmt.Sprintf("[hybrid check] %s — %s: %s — %s", row.Direction, row.Expectation, v, row.Presented)
		if row.Fix != "" {
			line += " — fix: " + row.Fix
		}
		out = append(out, line)
	}
	return out
}
