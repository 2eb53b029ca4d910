package lifecycle

import (
	"time"
)

// ConnectorReport is what Check found for one connector.
type ConnectorReport struct {
	Connector  string   `json:"connector"`
	Send       bool     `json:"send,omitempty"`
	FQDN       string   `json:"fqdn,omitempty"`
	Pin        string   `json:"tls_certificate_name,omitempty"`
	Presents   string   `json:"presents,omitempty"` // thumbprint, "" when none
	Subject    string   `json:"subject,omitempty"`
	DaysLeft   int      `json:"days_left,omitempty"`
	Candidates []string `json:"candidates,omitempty"` // other thumbprints it may present
	Findings   Findings `json:"findings"`
}

// Report is the outcome of Check.
type Report struct {
	Connectors []ConnectorReport `json:"connectors"`
}

// ExitCode is 0 when every connector presents a certificate senders
// accept, 1 when one does not (or will expire within the warning period).
func (r Report) ExitCode() int {
	for _, c := range r.Connectors {
		if len(c.Findings) > 0 {
			return 1
		}
	}
	return 0
}

// Check runs the guard's checks for every certificate a connector presents
// or may present (the other candidates its selection ranks), and the expiry
// warning for the presented ones. Problems of a candidate that is not
// presented are warnings: they matter once it is.
func (g Guard) Check(warnWithin time.Duration) Report {
	var r Report
	for _, u := range Uses(g.Cfg) {
		sel := g.selectFor(g.Store, u)
		cr := ConnectorReport{Connector: u.Connector, Send: u.Send, FQDN: u.FQDN, Pin: u.Pin, Findings: Findings{}}
		if sel.Cert == nil {
			cr.Findings = append(cr.Findings, Finding{Severity: SevError, Check: CheckPresent, Connector: u.Connector,
				Problem: sel.Warning, Fix: "add a certificate holding " + sel.Sought + " (mailflow cert request, or an acme: entry) or fix tls_certificate_name (mailflow cert list shows the values)"})
			r.Connectors = append(r.Connectors, cr)
			continue
		}
		c := sel.Cert
		cr.Presents, cr.Subject = c.Thumbprint, c.Subject
		cr.DaysLeft = c.Describe(g.Now).DaysLeft
		cr.Findings = append(cr.Findings, g.certChecks(c, u.Connector)...)
		cr.Findings = append(cr.Findings, g.useChecks(c, c, u)...)
		for _, x := range g.Extra {
			cr.Findings = append(cr.Findings, x(c, u)...)
		}
		if f, ok := expirySoon(c, []Use{u}, g.Now, warnWithin); ok {
			cr.Findings = append(cr.Findings, f)
		}
		for _, o := range sel.Candidates {
			if o == c {
				continue
			}
			cr.Candidates = append(cr.Candidates, o.Thumbprint)
			for _, f := range append(g.certChecks(o, u.Connector), g.useChecks(o, c, u)...) {
				if f.Check == CheckExpiry && o.Expired(g.Now) {
					continue // an older, expired candidate that is not presented is harmless
				}
				f.Severity = SevWarning
				f.Problem = "candidate (not presented now): " + f.Problem
				cr.Findings = append(cr.Findings, f)
			}
		}
		r.Connectors = append(r.Connectors, cr)
	}
	return r
}

// Presenting lists the connectors that present the certificate with this
// thumbprint.
func (g Guard) Presenting(thumbprint string) []string {
	var out []string
	for _, u := range Uses(g.Cfg) {
		if c := g.current(u); c != nil && c.Thumbprint == thumbprint {
			out = append(out, u.Connector)
		}
	}
	return out
}
