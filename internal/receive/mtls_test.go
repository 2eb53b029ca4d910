package receive

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// secureConnector is the on-premises end of hybrid mail flow: the tenant
// (127.0.0.2) must present a certificate for mail.protection.outlook.com.
// Partners is the only permission group, so nothing is allowed before the
// certificate is verified.
const secureConnector = defaultConnector + `  - name: Inbound from Office 365
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["127.0.0.2/32"]
    fqdn: mail.contoso.com
    auth_mechanism: [Tls]
    permission_groups: [Partners]
    require_tls: true
    domain_secure_enabled: true
    tls_sender_certificate_name: mail.protection.outlook.com
    protocol_logging_level: Verbose
`

const refusalPrefix = `530 5.7.1 Client certificate not accepted for domain-secure connector "Inbound from Office 365": `

// TestMutualTLSMatrix: only a CA-issued, in-date certificate for client
// authentication holding the expected name (in the CN, a SAN, or through a
// one-label wildcard) gets 250 at MAIL; every other one gets 530 5.7.1
// naming the reason.
func TestMutualTLSMatrix(t *testing.T) {
	pki := sharedPKI(t)
	now := time.Now()
	valid := func(tm certs.Template) certs.Template {
		tm.Issuer, tm.KeyType = pki.CA, "ecdsa-p256"
		tm.NotBefore, tm.NotAfter = now.Add(-time.Hour), now.AddDate(1, 0, 0)
		return tm
	}
	gen := func(tm certs.Template) *certs.Certificate {
		t.Helper()
		c, err := certs.Generate(tm)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	otherCA := gen(certs.Template{Subject: "CN=Untrusted CA", IsCA: true, KeyType: "ecdsa-p256"})
	fromOther := gen(certs.Template{Subject: "CN=mail.protection.outlook.com", SANs: []string{"mail.protection.outlook.com"}, Issuer: otherCA, KeyType: "ecdsa-p256"})

	cases := []struct {
		name   string
		cert   *certs.Certificate // nil: none presented
		extra  *certs.Certificate // appended to the chain sent
		reason string             // "" = accepted
	}{
		{name: "none", reason: "NoRemoteCertificate"},
		{name: "valid CN and SAN", cert: gen(valid(certs.Template{Subject: "CN=mail.protection.outlook.com", SANs: []string{"mail.protection.outlook.com", "*.mail.protection.outlook.com"}}))},
		{name: "name only in CN", cert: gen(valid(certs.Template{Subject: "CN=mail.protection.outlook.com"}))},
		{name: "name only in SAN", cert: gen(valid(certs.Template{Subject: "CN=Exchange Online Protection", SANs: []string{"outlook.com", "mail.protection.outlook.com"}}))},
		{name: "one-label wildcard SAN", cert: gen(valid(certs.Template{Subject: "CN=Exchange Online Protection", SANs: []string{"*.protection.outlook.com"}}))},
		{name: "one-label wildcard CN", cert: gen(valid(certs.Template{Subject: "CN=*.protection.outlook.com"}))},
		{name: "wildcard two labels up", cert: gen(valid(certs.Template{Subject: "CN=*.outlook.com", SANs: []string{"*.outlook.com"}})), reason: "SubjectMismatch"},
		{name: "wildcard one label too deep", cert: gen(valid(certs.Template{Subject: "CN=x", SANs: []string{"*.mail.protection.outlook.com"}})), reason: "SubjectMismatch"},
		{name: "wrong name", cert: gen(valid(certs.Template{Subject: "CN=mail.fabrikam.com", SANs: []string{"mail.fabrikam.com"}})), reason: "SubjectMismatch"},
		{name: "name as a suffix", cert: gen(valid(certs.Template{Subject: "CN=evilmail.protection.outlook.com.attacker.example", SANs: []string{"mail.protection.outlook.com.attacker.example"}})), reason: "SubjectMismatch"},
		{name: "self-signed with the right name", cert: gen(certs.Template{Subject: "CN=mail.protection.outlook.com", SANs: []string{"mail.protection.outlook.com"}, KeyType: "ecdsa-p256"}), reason: "UntrustedRoot"},
		{name: "expired", cert: gen(certs.Template{Subject: "CN=mail.protection.outlook.com", SANs: []string{"mail.protection.outlook.com"}, Issuer: pki.CA, KeyType: "ecdsa-p256",
			NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -1)}), reason: "CertificateExpired"},
		{name: "not yet valid", cert: gen(certs.Template{Subject: "CN=mail.protection.outlook.com", SANs: []string{"mail.protection.outlook.com"}, Issuer: pki.CA, KeyType: "ecdsa-p256",
			NotBefore: now.AddDate(0, 0, 1), NotAfter: now.AddDate(1, 0, 0)}), reason: "CertificateNotYetValid"},
		{name: "untrusted CA, root not sent", cert: fromOther, reason: "IncompleteChain"},
		{name: "untrusted CA, root sent", cert: fromOther, extra: otherCA, reason: "UntrustedRoot"},
		{name: "server authentication only", cert: gen(valid(certs.Template{Subject: "CN=mail.protection.outlook.com", SANs: []string{"mail.protection.outlook.com"}, ServerAuth: true})), reason: "InvalidUsage"},
	}
	h := newHarness(t, harnessConfig("", secureConnector))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.sub.messages())
			c := h.dial(t, "127.0.0.2")
			c.ehlo("AM4PEPF00012345.eurprd04.prod.outlook.com")
			c.expect("MAIL FROM:<alice@fabrikam.example>", "451 5.7.3 STARTTLS is required to send mail")
			cs := c.startTLS(clientTLS(tc.cert, tc.extra))
			if !certs.MatchesName(cs.PeerCertificates[0], "mail.contoso.com") {
				t.Fatalf("server presented %s, want the mail.contoso.com certificate", cs.PeerCertificates[0].Subject)
			}
			c.ehlo("AM4PEPF00012345.eurprd04.prod.outlook.com")
			r := c.cmd("MAIL FROM:<alice@fabrikam.example>")
			if tc.reason != "" {
				if !strings.HasPrefix(r.Text, refusalPrefix+tc.reason+": ") {
					t.Fatalf("MAIL: %q, want %q…", r.Text, refusalPrefix+tc.reason)
				}
				c.expect("RCPT TO:<bob@contoso.com>", replyNeedMail)
				c.quit()
				if len(h.sub.messages()) != before {
					t.Fatal("a message was submitted")
				}
				return
			}
			if r.Text != replySenderOK {
				t.Fatalf("MAIL: %q, want %q", r.Text, replySenderOK)
			}
			c.expect("RCPT TO:<someone@foreign.example>", replyRelayDenied) // Partners do not relay
			c.expect("RCPT TO:<bob@contoso.com>", replyRecipientOK)
			c.expect("DATA", replyStartData)
			c.send("Subject: hybrid\r\n\r\nfrom the tenant\r\n.\r\n")
			if r := c.mustReply(); !isQueued(r) {
				t.Fatalf("end of data: %q", r.Text)
			}
			c.quit()
			msgs := h.sub.messages()[before:]
			if len(msgs) != 1 || !msgs[0].Env.TLS || !strings.HasSuffix(msgs[0].Env.ConnectorID, `\Inbound from Office 365`) {
				t.Fatalf("submitted %+v", msgs)
			}
		})
	}

	// The protocol log records each verdict and the permissions it gave.
	statuses := map[string]int{}
	perms := map[string]int{}
	for _, rec := range h.protocolLog() {
		if rec.Event != '*' || !strings.HasPrefix(rec.Remote, "127.0.0.2:") {
			continue
		}
		if strings.HasPrefix(rec.Context, "TlsDomainCapabilities=") {
			status, _, _ := strings.Cut(strings.TrimPrefix(rec.Context, "TlsDomainCapabilities='None'; Status='"), ":")
			status, _, _ = strings.Cut(status, "'")
			statuses[status]++
		}
		if rec.Context == "Set Session Permissions" {
			perms[rec.Data]++
		}
	}
	ok, refused := 0, 0
	for _, tc := range cases {
		if tc.reason == "" {
			ok++
		} else {
			refused++
		}
	}
	if statuses["Success"] != ok {
		t.Errorf("protocol log: %d Status='Success' lines, want %d (%v)", statuses["Success"], ok, statuses)
	}
	if perms["SMTPSubmit SMTPAcceptAnySender AcceptRoutingHeaders"] != ok {
		t.Errorf("protocol log: partner permissions set %d times, want %d (%v)", perms["SMTPSubmit SMTPAcceptAnySender AcceptRoutingHeaders"], ok, perms)
	}
	// Every session logs "None" before TLS; refused ones keep it after.
	if perms["None"] != len(cases)+refused {
		t.Errorf("protocol log: 'None' permissions %d times, want %d (%v)", perms["None"], len(cases)+refused, perms)
	}
}

// clientTLS presents cert (and extra after its chain) whatever the server
// asks for; the server certificate is not checked here (the send side's
// tests do that).
func clientTLS(cert, extra *certs.Certificate) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		ServerName:         "mail.contoso.com",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			tc := *cert.TLS()
			tc.Certificate = append([][]byte(nil), tc.Certificate...)
			if extra != nil {
				tc.Certificate = append(tc.Certificate, extra.Leaf.Raw)
			}
			return &tc, nil
		},
	}
}
