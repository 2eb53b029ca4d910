package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/dnsres/dnstest"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlsrpt"
)

// TestTLSRPTShow: `mailflow tlsrpt show` prints the counts a server
// recorded (text with the rua from the configured DNS, or the RFC 8460
// JSON), for one domain or all.
func TestTLSRPTShow(t *testing.T) {
	dir := t.TempDir()
	d := dnstest.Start(t)
	d.Add(t, `_smtp._tls.example.test. 60 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"`)
	cfg := filepath.Join(dir, "mailflow.yaml")
	testkit.WriteFile(t, cfg, fmt.Sprintf(`server:
  name: S1
  fqdn: mail.contoso.com
  data_dir: ./data
dns:
  resolvers: [%q]
tls_rpt:
  organization_name: Contoso Ltd
`, d.Addr))
	store, err := tlsrpt.OpenStore(filepath.Join(dir, "data", "tlsrpt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)
	sts := func(domain, result string) tlsrpt.Outcome {
		return tlsrpt.Outcome{Time: day, PolicyDomain: domain, PolicyType: tlsrpt.PolicySTS,
			PolicyString: []string{"version: STSv1", "mode: enforce", "mx: mx.example.test", "max_age: 86400"},
			MXHost:       []string{"mx.example.test"}, ResultType: result, ReceivingMXHostname: "mx2.example.test", ReceivingIP: "127.0.0.9"}
	}
	store.Record(sts("example.test", ""))
	store.Record(sts("example.test", tlsrpt.ResultValidationFailure))
	store.Record(sts("quiet.test", ""))

	code, out, errOut := mailflow(t, "tlsrpt", "show", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"2026-05-06  example.test  report-id 2026-05-06_example.test@mail.contoso.com",
		"send to: mailto:tlsrpt@example.test",
		"policy sts (mx mx.example.test): 1 successful, 1 failed session(s)",
		"1 × validation-failure  mx mx2.example.test [127.0.0.9]",
		"quiet.test publishes no _smtp._tls TXT record",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = mailflow(t, "tlsrpt", "show", "--config", cfg, "--domain", "Example.TEST", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var reports []map[string]any
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(reports) != 1 || reports[0]["organization-name"] != "Contoso Ltd" {
		t.Fatalf("reports %v", reports)
	}
	pol := reports[0]["policies"].([]any)[0].(map[string]any)
	if pol["summary"].(map[string]any)["total-failure-session-count"].(float64) != 1 {
		t.Errorf("summary %v", pol["summary"])
	}
}
