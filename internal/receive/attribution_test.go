package receive

import (
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// onPremisesConnector is the tenant's inbound connector from contoso's
// servers (127.0.0.3): attribution by the certificate's name.
const onPremisesConnector = defaultConnector + `  - name: Inbound from contoso
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["127.0.0.3/32"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    connector_type: OnPremises
    require_tls: true
    tls_sender_certificate_name: mail.contoso.com
    protocol_logging_level: Verbose
`

// TestTenantAttributionByCertificate: on an OnPremises connector a client
// certificate holding tls_sender_certificate_name relays to any
// recipient; without it (none, wrong name, untrusted) mail for accepted
// domains is still taken but relay gets 550 5.7.64 TenantAttribution.
func TestTenantAttributionByCertificate(t *testing.T) {
	pki := sharedPKI(t)
	now := time.Now()
	gen := func(tm certs.Template) *certs.Certificate {
		t.Helper()
		c, err := certs.Generate(tm)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	contoso := gen(certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: pki.CA, KeyType: "ecdsa-p256",
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	server1 := gen(certs.Template{Subject: "CN=SERVER1", SANs: []string{"SERVER1"}, KeyType: "ecdsa-p256"})
	other := gen(certs.Template{Subject: "CN=mail.fabrikam.com", SANs: []string{"mail.fabrikam.com"}, Issuer: pki.CA, KeyType: "ecdsa-p256",
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	h := newHarness(t, harnessConfig("", onPremisesConnector))
	for _, tc := range []struct {
		name  string
		cert  *certs.Certificate
		relay bool
	}{
		{"contoso's certificate", contoso, true},
		{"self-signed SERVER1", server1, false},
		{"another organisation's name", other, false},
		{"no certificate", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dial(t, "127.0.0.3")
			c.ehlo("server1.contoso.local")
			c.startTLS(clientTLS(tc.cert, nil))
			c.ehlo("server1.contoso.local")
			c.expect("MAIL FROM:<scanner@contoso.com>", "250 2.1.0 Sender OK")
			want := "550 5.7.64 TenantAttribution; Relay Access Denied"
			if tc.relay {
				want = "250 2.1.5 Recipient OK"
			}
			c.expect("RCPT TO:<someone@fabrikam.example>", want)
			c.expect("RCPT TO:<bob@contoso.com>", "250 2.1.5 Recipient OK")
			c.quit()
		})
	}
	var attributed, refused int
	for _, rec := range h.protocolLog() {
		if strings.HasPrefix(rec.Context, "Tenant attribution by certificate") && rec.Data == "CN=mail.contoso.com" {
			attributed++
		}
		if strings.HasPrefix(rec.Context, "Tenant attribution failed") {
			refused++
		}
	}
	if attributed != 1 || refused != 3 {
		t.Fatalf("protocol log: %d attributions, %d refusals; want 1 and 3", attributed, refused)
	}
}
