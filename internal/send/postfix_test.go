package send

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/testpeer"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// TestPostfixReceiver delivers to a real Postfix that requires TLS and a
// trusted client certificate (domain security): Postfix, not our own code,
// judges our STARTTLS, our certificate and our DATA framing.
func TestPostfixReceiver(t *testing.T) {
	p := testPKI(t)
	dir := t.TempDir()
	key, chain := testpeer.WriteChainFiles(t, dir, "server", p.server)
	ca := filepath.Join(dir, "ca.pem")
	if err := certs.WriteCertPEM(ca, p.root); err != nil {
		t.Fatal(err)
	}
	pf := testpeer.StartPostfix(t, map[string]string{
		"smtpd_tls_security_level": "encrypt",
		"smtpd_tls_chain_files":    key + "," + chain,
		"smtpd_tls_ask_ccert":      "yes",
		"smtpd_tls_req_ccert":      "yes",
		"smtpd_tls_CAfile":         ca,
	})
	dns := &testkit.DNS{Hosts: map[string][]string{"mail.contoso.com": {"127.0.0.1"}}}
	c := contosoConnector(pf.Port)
	c.Log = false
	c.CommandTimeout = 30 * time.Second
	s := &Sender{Store: certs.NewStore(p.client), Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: dns}

	m := message("user@contoso.com")
	m.Body = BytesBody([]byte("From: sender@fabrikam.com\nSubject: postfix test\n\n.leading dot\nbare CR\rline\nlast\n"))
	r := s.Send(context.Background(), c, m)[0]
	if r.Outcome != outcome.Delivered {
		t.Fatalf("result = %+v\nmaillog:\n%s", r, pf.Maillog())
	}
	if r.TLS == nil || r.TLS.ClientCertificate == nil || !r.TLS.Verdict.OK {
		t.Errorf("TLS = %+v", r.TLS)
	}
	queued := pf.Message(t, r.Status)
	for _, want := range []string{
		"sender: sender@fabrikam.com", "recipient: user@contoso.com",
		"(Client CN \"mail.fabrikam.com\", Issuer \"Lab Root CA\" (verified OK))",
		"helo_name=mail.fabrikam.com",
		"\n.leading dot\nbare CR\nline\nlast\n",
	} {
		if !strings.Contains(queued, want) {
			t.Errorf("queued message lacks %q:\n%s", want, queued)
		}
	}

	// Without a client certificate Postfix answers EHLO under TLS with
	// "421 4.7.1 … No client certificate presented": never delivered.
	s.Store = nil
	r = s.Send(context.Background(), c, message("user@contoso.com"))[0]
	if r.Outcome != outcome.Deferred || !strings.Contains(r.LastError.String(), "421 4.7.1") {
		t.Errorf("without a client certificate: %+v", r)
	}
	t.Logf("without a client certificate Postfix gave: %s", r.LastError.String())

	// Postfix's certificate does not hold the expected name: 4.7.320.
	s.Store = certs.NewStore(p.client)
	c.TLSDomain = "mail.other.example"
	r = s.Send(context.Background(), c, message("user@contoso.com"))[0]
	if r.Outcome != outcome.Deferred || r.Status != StatusCertificate || r.Reason != string(tlscheck.SubjectMismatch) {
		t.Errorf("mismatch: %+v", r)
	}
}
