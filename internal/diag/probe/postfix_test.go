package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/diag/probe/probetest"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/testpeer"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// TestProbePostfix probes a real Postfix — a server nobody here wrote —
// that presents a self-signed CN=SERVER1 (as Exchange's default certificate
// is) and asks for client
// certificates: the probe must see Postfix's banner and extensions, the
// certificate Postfix actually sends, the certificate request, and judge it
// as the cloud would.
func TestProbePostfix(t *testing.T) {
	p := probetest.Lab(t)
	dir := t.TempDir()
	key, chain := testpeer.WriteChainFiles(t, dir, "server1", p.Server1)
	pf := testpeer.StartPostfix(t, map[string]string{
		"smtpd_tls_security_level": "may",
		"smtpd_tls_chain_files":    key + "," + chain,
		"smtpd_tls_ask_ccert":      "yes",
	})
	probe := func(level tlscheck.Level, expect string) *Report {
		return Run(context.Background(), Options{
			Target: pf.Addr(), EHLO: "mail.protection.outlook.com", Level: level, Expect: expect,
			Roots: probetest.LabRoots(t), ClientCertificate: p.Client, Now: probetest.Clock,
			ConnectTimeout: 10 * time.Second, CommandTimeout: 30 * time.Second,
		})
	}

	r := probe(tlscheck.DomainValidation, "mail.contoso.com")
	if r.Verdict.Status != send.StatusCertificate || r.Verdict.Reason != string(tlscheck.SubjectMismatch) || r.ExitCode() != 1 {
		t.Fatalf("verdict = %+v\nmaillog:\n%s", r.Verdict, pf.Maillog())
	}
	if !strings.Contains(r.Banner, "pf.contoso.test") || !r.StartTLSOffered {
		t.Errorf("banner %q, STARTTLS offered %t", r.Banner, r.StartTLSOffered)
	}
	if r.TLS == nil || len(r.TLS.Chain) == 0 || r.TLS.Chain[0].Thumbprint != p.Server1.Thumbprint {
		t.Fatalf("TLS = %+v", r.TLS)
	}
	if !r.TLS.ClientCertificateRequested || r.TLS.ClientCertificate == nil {
		t.Errorf("client certificate requested %t presented %v (smtpd_tls_ask_ccert=yes)", r.TLS.ClientCertificateRequested, r.TLS.ClientCertificate)
	}
	if r.TLS.Version == "" || r.TLS.Legacy {
		t.Errorf("protocol %q legacy %t", r.TLS.Version, r.TLS.Legacy)
	}

	// The same server passes at EncryptionOnly, and its post-TLS EHLO no
	// longer offers STARTTLS (RFC 3207).
	r = probe(tlscheck.EncryptionOnly, "")
	if r.Verdict.Result != Pass || r.ExitCode() != 0 {
		t.Fatalf("EncryptionOnly: %+v\nmaillog:\n%s", r.Verdict, pf.Maillog())
	}
	for _, e := range r.TLS.ExtensionsAfterTLS {
		if strings.EqualFold(e, "STARTTLS") {
			t.Errorf("STARTTLS offered again under TLS: %q", r.TLS.ExtensionsAfterTLS)
		}
	}
	if len(r.TLS.ExtensionsAfterTLS) == 0 {
		t.Error("no EHLO reply under TLS")
	}
}
