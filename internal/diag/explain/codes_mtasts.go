package explain

// Entries for mailflow's own MTA-STS refusal and REQUIRETLS returns, and the
// commands every MTA-STS explanation points at. The table is in codes.go.

import (
	"fmt"
	"regexp"
)

// stsPolicyOf finds the domain in mailflow's "… MTA-STS policy of DOMAIN
// (id …" message.
var stsPolicyOf = regexp.MustCompile(`(?i)MTA-STS policy of ([a-z0-9.-]+) \(id`)

// stsDomain is the recipient domain of an MTA-STS failure.
func (c explainCtx) stsDomain() string {
	if d := c.f("Domain"); d != "" {
		return d
	}
	if m := stsPolicyOf.FindStringSubmatch(c.in.raw); m != nil {
		return m[1]
	}
	return "<recipient domain>"
}

// stsSeeAlso are the commands that show a domain's MTA-STS policy, judge
// its MX hosts by it and show what TLS-RPT will report.
func (c explainCtx) stsSeeAlso() []string {
	d := c.stsDomain()
	return []string{
		"mailflow probe --mx " + d + " (the policy's id, mode and mx patterns, each MX judged by it, the mx line to add)",
		"mailflow tlsrpt show --domain " + d + " (the failures mailflow will report to the domain)",
	}
}

func (c explainCtx) stsProbeEvidence() string {
	return fmt.Sprintf("The policy and every MX judged by it, as mailflow's sender applies it: mailflow probe --mx %s.", c.stsDomain())
}

func buildRequireTLS(c explainCtx, e *Explanation) {
	e.Title = "REQUIRETLS: no next hop could take the message with validated TLS"
	e.Cause = fmt.Sprintf("The message was sent with MAIL FROM … REQUIRETLS (RFC 8689): every hop must be found securely (DANE with DNSSEC, or an MTA-STS policy), present a certificate valid under that policy and offer REQUIRETLS itself. %s did not, so the message was returned instead of being relayed less securely.", c.mx())
	e.Evidence = []string{
		c.stsProbeEvidence() + " The EHLO extensions after STARTTLS must include REQUIRETLS.",
		"For DANE: mailflow probe --mx <recipient domain> --resolver HOST:PORT (a validating resolver).",
	}
	e.Fix = []string{
		"Receiver: publish DANE (TLSA under DNSSEC) or an MTA-STS policy listing the MX, present a certificate valid for the MX name, and offer REQUIRETLS (a mailflow receive connector offers it after STARTTLS).",
		"Sender: if the message need not insist on TLS, send it without REQUIRETLS (or with the header field TLS-Required: No to deliver despite DANE and MTA-STS failures).",
	}
	e.SeeAlso = c.stsSeeAlso()
}
