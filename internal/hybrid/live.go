package hybrid

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/diag/validate"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Live tests each direction on the wire, as the sending side's own send
// connector would deliver: diag's connector validation connects from the
// connector's source_ip, takes every smart host through STARTTLS with the
// connector's policy, expected name and client certificate, and then sends
// a test message to postmaster@ the receiving side's first accepted domain —
// a domain-secure receiver judges the client certificate only at MAIL, so
// the message is what proves mutual TLS. One row per direction.
func Live(ctx context.Context, onprem, tenant Side, now time.Time) []Row {
	return append(liveDirection(ctx, tenant, onprem, now), liveDirection(ctx, onprem, tenant, now)...)
}

func liveDirection(ctx context.Context, from, to Side, now time.Time) []Row {
	dir := from.Name + " → " + to.Name
	if len(to.RT.Cfg.AcceptedDomains) == 0 {
		return []Row{{Direction: dir, Live: true, Expectation: "a test message reaches " + to.Name, Presented: to.Name + " has no accepted domains", Verdict: Error}}
	}
	domain := strings.ToLower(to.RT.Cfg.AcceptedDomains[0])
	dec, err := from.RT.Router.Route(domain)
	if err != nil || dec.Local {
		return []Row{{Direction: dir, Live: true, Expectation: "a send connector of " + from.Name + " routes " + domain, Presented: "none", Verdict: Fail,
			Fix: "add the send connector mailflow hybrid plan writes"}}
	}
	rcpt := "postmaster@" + domain
	v, err := validate.Connector(ctx, from.RT, dec.Connector, "send", validate.Options{
		Domain: domain, SendTest: rcpt, Now: func() time.Time { return now },
	})
	exp := fmt.Sprintf("%s send connector %q delivers a test message to %s", from.Name, dec.Connector, rcpt)
	if err != nil {
		return []Row{{Direction: dir, Live: true, Expectation: exp, Presented: err.Error(), Verdict: Error}}
	}
	sv := v.Send
	var presented, fixes []string
	for _, h := range sv.Hosts {
		p := fmt.Sprintf("%s from %s", h.Target, orDefault(h.Source, "(any)"))
		if h.TLS != nil && len(h.TLS.Chain) > 0 {
			p += fmt.Sprintf(": %s (thumbprint %s)", h.TLS.Chain[0].Subject, h.TLS.Chain[0].Thumbprint)
			if h.TLS.ClientCertificate != nil {
				p += fmt.Sprintf(", client certificate %s", h.TLS.ClientCertificate.Subject)
			}
		}
		if h.Verdict.Result != probe.Pass {
			p += " — " + orDefault(h.Verdict.Message, h.Verdict.Summary)
			if h.Fix != nil {
				fixes = append(fixes, h.Fix.Steps...)
			}
		}
		presented = append(presented, p)
	}
	if sv.Test != nil {
		presented = append(presented, fmt.Sprintf("test message %s %s", sv.Test.Outcome, strings.TrimSpace(sv.Test.Status+" "+sv.Test.Detail)))
		if sv.Test.Outcome != "Delivered" && len(fixes) == 0 {
			fixes = append(fixes, fmt.Sprintf("the receiver refused the test message (%s): compare %s's client certificate with tls_sender_certificate_name on %s (the offline rows name the fix)",
				strings.TrimSpace(sv.Test.Status+" "+sv.Test.Detail), from.Name, to.Name))
		}
	}
	verdict := map[string]string{probe.Pass: Pass, probe.Fail: Fail}[v.Result]
	if verdict == "" {
		verdict = Error
	}
	if sv.Policy != tlscheck.DomainValidation && verdict == Pass {
		fixes = append(fixes, "the connector does not validate the peer's name (tls_auth_level "+sv.Policy.String()+")")
		verdict = Fail
	}
	return []Row{{Direction: dir, Live: true, Expectation: exp, Presented: strings.Join(presented, "; "), Verdict: verdict, Fix: strings.Join(fixes, " ")}}
}
