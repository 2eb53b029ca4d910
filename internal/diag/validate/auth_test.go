package validate

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/node"
)

// TestAuthFindings: validate says when AUTH is offered, what it grants,
// how many users exist, and warns when no client could ever authenticate.
func TestAuthFindings(t *testing.T) {
	dir := t.TempDir()
	text := `server: {name: S1, fqdn: s1.contoso.com, data_dir: ./data}
accepted_domains: [contoso.com]
admin: {listen: "off"}
receive_connectors:
  - name: Client Frontend S1
    bindings: ["127.0.0.1:2587"]
    auth_mechanism: [Tls, BasicAuth, BasicAuthRequireTLS]
    permission_groups: [ExchangeUsers]
  - name: Users without BasicAuth
    bindings: ["127.0.0.1:2588"]
    auth_mechanism: [Tls]
    permission_groups: [ExchangeUsers]
`
	cfg, err := config.Parse(filepath.Join(dir, "mailflow.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := node.BuildFrom(cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range authFindings(rt, findReceive(rt, "Client Frontend S1")) {
		got = append(got, f.Severity+": "+f.Text)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"warning: AUTH needs TLS (BasicAuthRequireTLS) but the connector cannot offer STARTTLS", "only after STARTTLS",
		"nothing is allowed before AUTH", "0 user(s) in " + filepath.Join(dir, "data", "users.json")} {
		if !strings.Contains(all, want) {
			t.Errorf("findings lack %q:\n%s", want, all)
		}
	}
	f := authFindings(rt, findReceive(rt, "Users without BasicAuth"))
	if len(f) != 1 || f[0].Severity != "warning" || !strings.Contains(f[0].Text, "no client can authenticate") {
		t.Errorf("ExchangeUsers without BasicAuth: %+v", f)
	}
}
