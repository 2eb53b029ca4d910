package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestACMEEntry(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mailflow.yaml")
	good := `server:
  name: S
  fqdn: mail.contoso.com
  data_dir: ./data
  certificate_expiry_warning: 45d
accepted_domains: [contoso.com]
certificates:
  - acme:
      domains: [mail.contoso.com]
      directory: https://acme.example/directory
      reuse_key: true
admin:
  listen: off
`
	c, err := Parse(path, []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Certificates[0].ACME
	if !a.Enabled() || a.Challenge != ChallengeTLSALPN || a.KeyType != "ecdsa-p256" || !a.ReuseKey {
		t.Fatalf("defaults: %+v", a)
	}
	if want := filepath.Join(dir, "data", "acme", "mail.contoso.com.pem"); c.Certificates[0].File != want {
		t.Fatalf("file %s, want %s", c.Certificates[0].File, want)
	}
	if c.ExpiryWarning().Duration() != 45*24*time.Hour {
		t.Fatalf("expiry warning %s", c.ExpiryWarning())
	}
	bad := strings.NewReplacer("https://acme.example/directory", "http://acme.example/directory", "reuse_key: true", "challenge: dns-01").Replace(good)
	_, err = Parse(path, []byte(bad))
	es := AsErrors(err)
	if len(es) != 2 || es[0].Key != "certificates[0].acme.directory" && es[1].Key != "certificates[0].acme.directory" {
		t.Fatalf("bad entry: %v", err)
	}
	for _, e := range es {
		if e.Line == 0 || e.Fix == "" {
			t.Errorf("error without line or fix: %v", e)
		}
	}
}
