package explain

import (
	"strings"
	"testing"
)

// Certificate validation failures point at mailflow cert check, which runs
// the sender's checks on the receiving server before a sender refuses.
func TestCertificateFailuresMentionCertCheck(t *testing.T) {
	for _, in := range []string{
		"450 4.7.320 Certificate validation failed",
		certLED("CertificateExpired"),
		certLED("IncompleteChain"),
		"451 4.7.322 certificate-expired",
	} {
		e := Text(in)
		var b strings.Builder
		if err := e.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if !e.Recognised || !strings.Contains(b.String(), "mailflow cert check") {
			t.Errorf("%q (topic %s) does not mention mailflow cert check:\n%s", in, e.Topic, b.String())
		}
	}
}
