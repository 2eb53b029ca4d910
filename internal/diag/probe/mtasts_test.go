package probe

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/diag/probe/probetest"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// TestProbeMXMTASTS: --mx shows the domain's MTA-STS policy (served over
// HTTPS by a lab-CA certificate) and TLS-RPT record, judges each MX by the
// policy the sender applies, and says which mx line to add.
func TestProbeMXMTASTS(t *testing.T) {
	p := probetest.Lab(t)
	mx1Cert := probetest.GenCert(t, certs.Template{Subject: "CN=mx1.contoso.com", SANs: []string{"mx1.contoso.com"}, Issuer: p.CA})
	mx1 := probetest.SMTP(t, &smtptest.Server{Hostname: "mx1.contoso.com", TLSConfig: probetest.TLSConfig(mx1Cert)})
	mx2 := probetest.SMTP(t, &smtptest.Server{Hostname: "mx2.contoso.com", TLSConfig: probetest.TLSConfig(p.Server1)})
	stsCert := probetest.GenCert(t, certs.Template{Subject: "CN=mta-sts.contoso.com", SANs: []string{"mta-sts.contoso.com"}, Issuer: p.CA})
	var broken atomic.Bool
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("version: STSv1\nmode: enforce\nmx: mx1.contoso.com\nmax_age: 604800\n"))
	}))
	hs.TLS = probetest.TLSConfig(stsCert)
	hs.StartTLS()
	defer hs.Close()
	_, hp, _ := net.SplitHostPort(hs.Listener.Addr().String())
	port, _ := strconv.Atoi(hp)

	dns := &probetest.DNS{
		MX:    map[string][]*net.MX{"contoso.com": {{Host: "mx1.contoso.com.", Pref: 10}, {Host: "mx2.contoso.com.", Pref: 20}}},
		Hosts: map[string][]string{"mx1.contoso.com": {"127.0.0.1"}, "mx2.contoso.com": {"127.0.0.3"}, "mta-sts.contoso.com": {"127.0.0.1"}},
		TXT: map[string][]string{
			"_mta-sts.contoso.com":   {"v=STSv1; id=20260301"},
			"_smtp._tls.contoso.com": {"v=TLSRPTv1; rua=mailto:tlsrpt@contoso.com"},
		},
	}
	opts := Options{Level: tlscheck.EncryptionOnly, Roots: probetest.LabRoots(t), Now: probetest.Clock, Resolver: dns, MTASTSPort: port,
		Dialer: probetest.Redirect(map[string]string{"127.0.0.1:25": mx1.Addr, "127.0.0.3:25": mx2.Addr})}
	b := MX(context.Background(), "contoso.com", 25, opts, 2, nil)

	m := b.Policies.MTASTS
	if !m.Published || m.ID != "20260301" || m.Mode != "enforce" || len(m.MX) != 1 || m.MaxAge != 604800 || m.Error != "" {
		t.Fatalf("MTA-STS %+v", m)
	}
	if r := b.Policies.TLSRPT; !r.Published || len(r.RUA) != 1 || r.RUA[0] != "mailto:tlsrpt@contoso.com" {
		t.Fatalf("TLS-RPT %+v", r)
	}
	one, two := b.Reports[0].MTASTS, b.Reports[1].MTASTS
	if one == nil || !one.Satisfied || one.Pattern != "mx1.contoso.com" {
		t.Errorf("mx1 %+v", one)
	}
	if two == nil || two.Satisfied || two.MXAllowed || two.CertValid || !strings.Contains(two.CertReason, "SubjectMismatch") {
		t.Errorf("mx2 %+v", two)
	}
	// EncryptionOnly passes both hosts; the enforce policy still fails mx2.
	if b.Summary.Fail != 0 || b.ExitCode() != 1 {
		t.Errorf("summary %+v exit %d", b.Summary, b.ExitCode())
	}
	var out bytes.Buffer
	if err := b.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"MTA-STS   id 20260301, mode enforce, max_age 604800s, mx mx1.contoso.com",
		"TLS-RPT   reports to mailto:tlsrpt@contoso.com",
		`MTA-STS (enforce, id 20260301): mx1.contoso.com is allowed by "mx: mx1.contoso.com"; the certificate is valid for mx1.contoso.com`,
		"mx2.contoso.com matches none of the mx patterns (mx1.contoso.com)",
		`Add "mx: mx2.contoso.com" to https://mta-sts.contoso.com:`,
		"Present a certificate for mx2.contoso.com issued by a publicly trusted CA",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}

	// A broken policy server: the failure, its TLS-RPT type and the fix.
	broken.Store(true)
	b = MX(context.Background(), "contoso.com", 25, opts, 2, nil)
	if m := b.Policies.MTASTS; m.ResultType != "sts-policy-fetch-error" || !strings.Contains(m.Error, "404") || len(m.Fix) != 1 {
		t.Errorf("broken policy server: %+v", m)
	}
	if b.Reports[0].MTASTS != nil {
		t.Errorf("judged by a policy that could not be fetched: %+v", b.Reports[0].MTASTS)
	}
}
