package explain

import (
	"strings"
	"testing"
)

// TestDANEPointsAtTheTools: every DANE failure names the probe that judges
// the MX as a DANE sender and the receiver's TLSA command.
func TestDANEPointsAtTheTools(t *testing.T) {
	for _, in := range []string{
		"451 4.7.321 starttls-not-supported: Destination mail server must support TLS to receive mail.",
		"{LED=450 4.7.322 certificate-expired: Destination mail server's certificate is expired.};{FQDN=mx1.fabrikam.com}",
		"{LED=450 4.7.323 tlsa-invalid: The domain failed DANE validation.};{FQDN=mx1.fabrikam.com}",
		"450 4.7.324 dnssec-invalid: Destination domain returned invalid DNSSEC records.",
		"{LED=450 4.7.325 certificate-host-mismatch: Remote certificate MUST have a common name or subject alternative name matching the hostname (DANE).};{FQDN=mx1.fabrikam.com}",
	} {
		e := Text(in)
		all := strings.Join(append(append(e.Evidence, e.Fix...), e.SeeAlso...), "\n")
		for _, want := range []string{"--resolver HOST:PORT", "mailflow probe --mx", "mailflow cert tlsa --config FILE --check"} {
			if !strings.Contains(all, want) {
				t.Errorf("%s: explanation lacks %q:\n%s", e.Topic, want, all)
			}
		}
	}
}
