package diag

import (
	"context"
	"os"
	"testing"

	"mailflow/internal/tlscheck"
)

func TestZZProbeScratch(t *testing.T) {
	w := newValidateWorld(t)
	for _, n := range []string{"Default Frontend SERVER1", "Relay without TLS"} {
		v, _ := ValidateConnector(context.Background(), w.rt, n, "", ValidateOptions{Level: tlscheck.DomainValidation, Expect: "mail.contoso.com", Now: probeClock})
		v.WriteText(os.Stdout)
		os.Stdout.WriteString("\n=================\n")
	}
	v, _ := ValidateConnector(context.Background(), w.rt, "Outbound to contoso", "", ValidateOptions{SendTest: "a@contoso.com", Now: probeClock})
	v.WriteText(os.Stdout)
	os.Stdout.WriteString("\n=================\n")
	v, _ = ValidateConnector(context.Background(), w.rt, "Outbound without STARTTLS", "", ValidateOptions{Now: probeClock})
	v.WriteText(os.Stdout)
}
