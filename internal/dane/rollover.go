package dane

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Published compares a certificate chain with the TLSA records published
// for host:port now.
type Published struct {
	Owner    string          `json:"owner"`
	Security dnsres.Security `json:"security"`
	Records  []tlscheck.TLSA `json:"records"`
	TTL      uint32          `json:"ttl"`
	// Verdict is tlscheck's DANE judgement of the chain against the
	// records (nil when none are published or the lookup failed).
	Verdict *tlscheck.Result `json:"verdict,omitempty"`
	// Err is a failed lookup (bogus included); empty when the answer was
	// definite.
	Err string `json:"error,omitempty"`
}

// Lookup fetches the TLSA records of host:port and judges chain (leaf
// first) against them exactly as a DANE sender does; names are the
// reference identifiers for DANE-TA (the host and the mail domain).
func Lookup(ctx context.Context, r *dnsres.Resolver, chain []*x509.Certificate, host string, port int, names ...string) Published {
	ans, err := r.TLSA(ctx, port, host)
	p := Published{Owner: ans.Name, Security: ans.Security}
	var de *dnsres.Error
	if err != nil {
		if !errors.As(err, &de) || !de.NotFound {
			p.Err = err.Error()
		}
		return p
	}
	p.Records, p.TTL = ans.Parsed(), ans.TTL()
	v := tlscheck.Verify(chain, tlscheck.Policy{DANE: &tlscheck.DANEPolicy{Owner: ans.Name, Records: p.Records, Names: append([]string{host}, names...)}})
	p.Verdict = &v
	return p
}

// Matches reports whether the records authenticate the chain.
func (p Published) Matches() bool {
	return p.Verdict != nil && p.Verdict.OK && p.Verdict.DANE != nil && p.Verdict.DANE.Matched != nil
}

// Breaks reports whether a DANE sender would refuse the chain: records
// are published and none authenticates it.
func (p Published) Breaks() bool { return p.Verdict != nil && !p.Verdict.OK }

// RolloverSteps are the steps that replace the published records by
// next without a gap (RFC 7671 §8.1).
func RolloverSteps(p Published, next Record) []string {
	ttl := "the TTL of the TLSA records"
	if p.TTL > 0 {
		ttl = fmt.Sprintf("the TTL of the TLSA records (%d s) plus the MX TTL", p.TTL)
	}
	return []string{
		"publish the new record beside the old one(s): " + next.String(),
		"wait at least " + ttl + ", so every sender's cache holds both",
		"then present the new certificate (import it, or pin it with tls_certificate_name)",
		"after another TTL, remove the old record(s) — or, to avoid the dance at the next renewal, renew with the same key (a 3 1 1 record then stays valid)",
	}
}

// Warning renders the renewal warning for connector: the new chain does
// not match the published records.
func Warning(connector string, p Published, next Record, undo string) string {
	problem, fix := warningParts(connector, p, next, undo)
	return "WARNING: " + problem + "\n" + fix
}

// warningParts are the problem (what DANE senders will do) and the fix
// (the rollover steps) of the renewal warning.
func warningParts(connector string, p Published, next Record, undo string) (problem, fix string) {
	var b strings.Builder
	fmt.Fprintf(&b, "receive connector %q presents %s (thumbprint %s) for %s:%d, and its key matches none of the TLSA records published at %s (%s):\n",
		connector, next.For, next.Thumbprint, next.Host, next.Port, p.Owner, p.Security)
	for _, r := range p.Records {
		fmt.Fprintf(&b, "  %s IN TLSA %s\n", p.Owner, r)
	}
	b.WriteString("DANE-validating senders (Exchange Online, Postfix with smtp_tls_security_level = dane) will defer mail with 450 4.7.323 tlsa-invalid.")
	var f strings.Builder
	f.WriteString("Rollover:\n")
	for i, s := range RolloverSteps(p, next) {
		fmt.Fprintf(&f, "  %d. %s\n", i+1, s)
	}
	if undo != "" {
		f.WriteString("To stop the failures now: " + undo + "\n")
	}
	return b.String(), f.String()
}
