package lab

import (
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// recommendation is the certificate on-premises should present so the
// tenant's DomainValidation of a name passes.
type recommendation struct {
	cert     *certs.Certificate // nil when none qualifies
	evidence []string
}

// recommend asks probe.RecommendCertificate which of on-premises' installed
// certificates to pin, judged the way the tenant judges: DomainValidation
// of name against the tenant's trusted roots.
func recommend(w *world, name string) recommendation {
	store := w.Onprem.srv.Runtime().Store
	roots := w.Tenant.srv.Runtime().Roots
	best, reasons := probe.RecommendCertificate(store, name, tlscheck.DomainValidation, roots, time.Now())
	rec := recommendation{cert: best}
	for _, r := range reasons {
		rec.evidence = append(rec.evidence, "candidate: "+r)
	}
	return rec
}
