package admin_test

import (
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// TestPredictConnectorsByVersion asks the running server which certificate
// an Exchange server of each version would present with its settings: with
// a pin, 2013 and later present the pinned certificate, 2010 (no
// TlsCertificateName) the one its FQDN finds.
func TestPredictConnectorsByVersion(t *testing.T) {
	e := newEnv(t)
	if _, err := e.client.SetConnector("receive", "Default Frontend SERVER1", map[string]any{"tls_certificate_name": e.pki.Contoso.Name()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		v    certs.Version
		want *certs.Certificate
		note bool
	}{
		{certs.VersionMailflow, e.pki.Contoso, false},
		{certs.Exchange2013, e.pki.Contoso, false},
		{certs.ExchangeSE, e.pki.Contoso, false},
		{certs.Exchange2010, e.pki.Server1, true},
	} {
		list, err := e.client.PredictConnectors(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, c := range list {
			if c.Kind != "receive" || c.Name != "Default Frontend SERVER1" {
				continue
			}
			found = true
			if c.Certificate == nil || c.Certificate.Thumbprint != tc.want.Thumbprint {
				t.Errorf("%s: presents %+v, want %s", tc.v, c.Certificate, tc.want.Subject)
			}
			if c.ExchangeVersion != string(tc.v) || (c.Note != "") != tc.note {
				t.Errorf("%s: exchange_version %q note %q", tc.v, c.ExchangeVersion, c.Note)
			}
		}
		if !found {
			t.Fatalf("%s: Default Frontend SERVER1 missing from %+v", tc.v, list)
		}
	}
	if _, err := e.client.PredictConnectors("2007"); err == nil || !strings.Contains(err.Error(), "2010, 2013, 2016, 2019 or se") {
		t.Errorf("an unknown version: error %v", err)
	}
}
