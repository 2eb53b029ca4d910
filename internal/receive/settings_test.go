package receive

import (
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/domain/domaintest"
)

// The RCPT TO accepted-domain and relay check answers the shared
// domain-matching table: "*.fabrikam.com" accepts sub.fabrikam.com.
func TestDomainMatchingTable(t *testing.T) {
	for _, tc := range domaintest.Cases {
		st, _, err := Compile(&config.Config{AcceptedDomains: []string{tc.Pattern}}, nil, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got := st.IsAccepted(tc.Domain); got != tc.Want {
			t.Errorf("accepted_domains [%s]: IsAccepted(%q) = %v, want %v", tc.Pattern, tc.Domain, got, tc.Want)
		}
	}
	st, _, _ := Compile(&config.Config{AcceptedDomains: []string{"*.fabrikam.com", "contoso.com"}}, nil, nil, time.Now())
	if got := firstAccepted(st); got != "contoso.com" {
		t.Errorf("postmaster domain = %q, want contoso.com", got)
	}
}
