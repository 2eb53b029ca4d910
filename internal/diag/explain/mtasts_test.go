package explain

import (
	"strings"
	"testing"
)

// TestExplainMTASTSAndREQUIRETLS: mailflow's own MTA-STS refusal and
// REQUIRETLS return are recognised and point at probe --mx and tlsrpt show.
func TestExplainMTASTSAndREQUIRETLS(t *testing.T) {
	for _, tc := range []struct{ input, topic, mention string }{
		{`{LED=450 4.7.5 MX host not allowed by the domain's MTA-STS policy [Message=mx.strict.test is not among the mx patterns (mx.other.test) of the MTA-STS policy of strict.test (id 20260101, mode enforce). If …] [LastAttemptedServerName=mx.strict.test] [LastAttemptedIP=127.0.0.1:25]};{MSG=MtaStsMxMismatch};{FQDN=mx.strict.test};{IP=127.0.0.1};{LRT=12/2/2026 7:19:19 PM}`,
			"mtasts.mx", "mailflow probe --mx strict.test"},
		{`{LED=550 5.7.30 REQUIRETLS support required [Message=the message was sent with REQUIRETLS and mx.fabrikam.com does not offer REQUIRETLS after STARTTLS]};{MSG=RequireTlsNotSupported};{FQDN=mx.fabrikam.com};{IP=192.0.2.1};{LRT=}`,
			"requiretls.5.7.30", "mailflow tlsrpt show --domain"},
		{`{LED=451 4.7.5 Remote certificate failed MTA-STS validation. Reason: certificate-host-mismatch};{FQDN=mx1.fabrikam.com}`,
			"mtasts.4.7.5", "mailflow probe --mx"},
	} {
		e := Text(tc.input)
		all := strings.Join(append(append(e.Evidence, e.Fix...), e.SeeAlso...), "\n")
		if e.Topic != tc.topic || !strings.Contains(all, tc.mention) {
			t.Errorf("%s: topic %q, want %q; mentions %q? %s", tc.input[:40], e.Topic, tc.topic, tc.mention, all)
		}
	}
}
