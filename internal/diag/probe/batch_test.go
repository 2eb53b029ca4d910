package probe

// Tests of probing many endpoints (MX, target lists) and of the probe's
// inputs and outputs.

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/diag/probe/probetest"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

func subjectOf(c *certs.Certificate) string {
	if c == nil {
		return "<nil>"
	}
	return c.Subject + " " + c.Thumbprint
}

// TestProbeMX probes every MX in preference order with an injected resolver.
func TestProbeMX(t *testing.T) {
	p := probetest.Lab(t)
	mx1Cert := probetest.GenCert(t, certs.Template{Subject: "CN=mx1.contoso.com", SANs: []string{"mx1.contoso.com"}, Issuer: p.CA})
	mx1 := probetest.SMTP(t, &smtptest.Server{Hostname: "mx1.contoso.com", TLSConfig: probetest.TLSConfig(mx1Cert)})
	mx2 := probetest.SMTP(t, &smtptest.Server{Hostname: "mx2.contoso.com", TLSConfig: probetest.TLSConfig(p.Server1)})
	dns := &probetest.DNS{
		MX: map[string][]*net.MX{
			"contoso.com": {{Host: "mx2.contoso.com.", Pref: 20}, {Host: "mx1.contoso.com.", Pref: 10}},
			"null.test":   {{Host: ".", Pref: 0}},
		},
		Hosts: map[string][]string{"mx1.contoso.com": {"127.0.0.1"}, "mx2.contoso.com": {"127.0.0.3"}, "nomx.test": {"127.0.0.1"}},
		Fail:  map[string]error{"broken.test": &net.DNSError{Err: "server misbehaving", Name: "broken.test", IsTemporary: true}},
	}
	opts := Options{Level: tlscheck.DomainValidation, Roots: probetest.LabRoots(t), Now: probetest.Clock, Resolver: dns,
		Dialer: probetest.Redirect(map[string]string{"127.0.0.1:25": mx1.Addr, "127.0.0.3:25": mx2.Addr})}

	var progress []int
	b := MX(context.Background(), "contoso.com", 0, opts, 2, func(done, total int, _ *Report) {
		if total != 2 {
			t.Errorf("total = %d", total)
		}
		progress = append(progress, done)
	})
	if len(b.Reports) != 2 || b.Domain != "contoso.com" {
		t.Fatalf("batch = %+v", b)
	}
	first, second := b.Reports[0], b.Reports[1]
	if first.Host != "mx1.contoso.com" || *first.MXPreference != 10 || first.Expect != "mx1.contoso.com" || first.Verdict.Result != Pass {
		t.Errorf("first = %s pref %v expect %s %+v", first.Host, *first.MXPreference, first.Expect, first.Verdict)
	}
	if second.Host != "mx2.contoso.com" || second.IP != "127.0.0.3" || second.Verdict.Reason != string(tlscheck.SubjectMismatch) {
		t.Errorf("second = %s %s %+v", second.Host, second.IP, second.Verdict)
	}
	if b.Summary != (Summary{Total: 2, Pass: 1, Fail: 1}) || b.ExitCode() != 1 {
		t.Errorf("summary = %+v exit %d", b.Summary, b.ExitCode())
	}
	if len(progress) != 2 || progress[1] != 2 {
		t.Errorf("progress = %v", progress)
	}
	var buf bytes.Buffer
	if err := b.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"MX 10: mx1.contoso.com", "MX 20: mx2.contoso.com", "2 MX hosts of contoso.com: 1 pass, 1 fail, 0 could not be tested"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, buf.String())
		}
	}

	for _, tt := range []struct {
		domain, status, finding string
		exit                    int
	}{
		{domain: "null.test", status: send.StatusNullMX, exit: 2},
		{domain: "broken.test", status: send.StatusDNSFailed, exit: 2},
		{domain: "nomx.test", finding: "no MX records", exit: 1}, // probed itself: 127.0.0.1 is mx1, whose name is not nomx.test
	} {
		b := MX(context.Background(), tt.domain, 25, opts, 0, nil)
		if len(b.Reports) != 1 || b.Reports[0].Verdict.Status != tt.status && tt.status != "" || b.ExitCode() != tt.exit {
			t.Errorf("%s: %+v exit %d", tt.domain, b.Reports[0].Verdict, b.ExitCode())
		}
		if tt.finding != "" && !hasFinding(b.Reports[0], tt.finding) {
			t.Errorf("%s: findings %+v", tt.domain, b.Reports[0].Findings)
		}
	}
}

// TestProbeManyIsConcurrentAndBounded: with --parallel 4, four sessions
// are open at once (the server holds each EHLO until four are waiting, so a
// sequential implementation would time out) and never more.
func TestProbeManyIsConcurrentAndBounded(t *testing.T) {
	const parallel, total = 4, 10
	var (
		active, peak int
		mu           = make(chan struct{}, 1)
		barrier      = make(chan struct{})
		closed       bool
	)
	lock := func() { mu <- struct{}{} }
	unlock := func() { <-mu }
	srv := probetest.SMTP(t, &smtptest.Server{Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		switch cmd.Verb {
		case "EHLO":
			lock()
			active++
			peak = max(peak, active)
			if active == parallel && !closed {
				closed = true
				close(barrier)
			}
			unlock()
			select {
			case <-barrier:
			case <-time.After(10 * time.Second):
			}
		case "QUIT":
			lock()
			active--
			unlock()
		}
		return smtp.Reply{}, false
	}})
	var list []Options
	for i := range total {
		o := probeContoso(srv.Addr, tlscheck.DomainValidation, nil)
		o.Expect = "host" + string(rune('a'+i)) + ".contoso.com"
		list = append(list, o)
	}
	var calls []int
	b := Many(context.Background(), list, parallel, func(done, n int, _ *Report) { calls = append(calls, done) })
	lock()
	gotPeak := peak
	unlock()
	if gotPeak != parallel {
		t.Errorf("peak concurrency = %d, want %d", gotPeak, parallel)
	}
	if b.Summary.Total != total || len(calls) != total || calls[total-1] != total {
		t.Fatalf("summary %+v progress %v", b.Summary, calls)
	}
	for i, r := range b.Reports {
		// In order, each one reached EHLO and was refused for the missing
		// STARTTLS (the server offers none).
		if r.Expect != list[i].Expect || r.Verdict.Status != StatusStartTLSRequired {
			t.Errorf("report %d: expect %s verdict %+v", i, r.Expect, r.Verdict)
		}
	}
}

// TestParseProbeTargets reads targets files.
func TestParseProbeTargets(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Target
		err      string
	}{
		{name: "forms", in: "# partners\nmail.contoso.com\n\n  mx.fabrikam.com:2525 smtp.fabrikam.com # their TlsDomain\n[192.0.2.1]:25\n[2001:db8::1]\n",
			want: []Target{{Line: 2, Target: "mail.contoso.com"}, {Line: 4, Target: "mx.fabrikam.com:2525", Expect: "smtp.fabrikam.com"},
				{Line: 5, Target: "[192.0.2.1]:25"}, {Line: 6, Target: "[2001:db8::1]"}}},
		{name: "too many fields", in: "a.example b.example c.example\n", err: "line 1"},
		{name: "bad port", in: "ok.example\nmail.example:99999\n", err: "line 2"},
		{name: "empty", in: "# nothing\n\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTargets(strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v", got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("%d: %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	// Over-long lines are refused with their number.
	if _, err := ParseTargets(strings.NewReader("ok.example\n" + strings.Repeat("x", maxTargetLine+1))); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("long line: %v", err)
	}
}

func FuzzParseProbeTargets(f *testing.F) {
	for _, s := range []string{"mail.contoso.com\n", "a:25 b # c\n", "[::1]:25\n", "x y z\n", "#\n\n", "host:0\n", "[1.2.3.4\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		list, err := ParseTargets(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, pt := range list {
			if _, _, err := SplitTarget(pt.Target, 25); err != nil {
				t.Fatalf("accepted target %q does not split: %v", pt.Target, err)
			}
			if strings.ContainsAny(pt.Target+pt.Expect, " \t#") {
				t.Fatalf("field with separator: %+v", pt)
			}
		}
	})
}

// TestSplitTarget reads the target forms.
func TestSplitTarget(t *testing.T) {
	for _, tt := range []struct {
		in   string
		host string
		port int
		bad  bool
	}{
		{in: "mail.contoso.com", host: "mail.contoso.com", port: 25},
		{in: "mail.contoso.com:587", host: "mail.contoso.com", port: 587},
		{in: "192.0.2.1", host: "192.0.2.1", port: 25},
		{in: "[192.0.2.1]:2525", host: "192.0.2.1", port: 2525},
		{in: "2001:db8::1", host: "2001:db8::1", port: 25},
		{in: "[2001:db8::1]", host: "2001:db8::1", port: 25},
		{in: "[2001:db8::1]:26", host: "2001:db8::1", port: 26},
		{in: "", bad: true}, {in: ":25", bad: true}, {in: "host:x", bad: true}, {in: "host:70000", bad: true}, {in: "[nothost]", bad: true},
	} {
		h, p, err := SplitTarget(tt.in, 25)
		if tt.bad != (err != nil) || !tt.bad && (h != tt.host || p != tt.port) {
			t.Errorf("SplitTarget(%q) = %q %d %v", tt.in, h, p, err)
		}
	}
}

// TestLoadCertificateStoreErrors: named files must load; a directory
// without certificates is an error; a wrong PFX password is a warning in a
// directory.
func TestLoadCertificateStoreErrors(t *testing.T) {
	p := probetest.Lab(t)
	files := p.WriteFiles(t)
	if _, _, err := LoadCertificateStore([]string{files.ContosoPFX}, ""); !errors.Is(err, certs.ErrWrongPassword) {
		t.Errorf("PFX without password: %v", err)
	}
	wrong := probetest.WriteFile(t, t.TempDir(), "pw", "nope\n")
	_, warnings, err := LoadCertificateStore([]string{files.Dir}, wrong)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "mail-contoso.pfx") {
		t.Errorf("wrong password in a directory: %v %q", err, warnings)
	}
	empty := t.TempDir()
	probetest.WriteFile(t, empty, "notes.txt", "nothing here")
	if _, _, err := LoadCertificateStore([]string{empty}, ""); !errors.Is(err, certs.ErrNoCertificate) {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := certs.TrustPool([]string{probetest.WriteFile(t, empty, "bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}, false); err == nil {
		t.Error("a broken CA file was accepted")
	}
	pool, err := certs.TrustPool([]string{files.CAFile}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Contoso.Leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: probetest.Now}); err != nil {
		t.Errorf("the loaded CA does not verify its certificate: %v", err)
	}
}

// TestDefaultEHLOName never greets as localhost.
func TestDefaultEHLOName(t *testing.T) {
	n := DefaultEHLOName()
	if n == "" || strings.HasPrefix(strings.ToLower(n), "localhost") || !strings.Contains(n, ".") {
		t.Errorf("DefaultEHLOName() = %q", n)
	}
}

// probeBrokenWriter fails every write, like a closed pipe.
type probeBrokenWriter struct{}

func (probeBrokenWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestProbeWriteTextError: a failed write is reported, not ignored.
func TestProbeWriteTextError(t *testing.T) {
	r := Run(context.Background(), Options{Target: "nowhere.example", Resolver: &probetest.DNS{}, Now: probetest.Clock})
	if err := r.WriteText(probeBrokenWriter{}); err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("report: %v", err)
	}
	b := newProbeBatch("", []*Report{r})
	if err := b.WriteText(probeBrokenWriter{}); err == nil {
		t.Error("batch: no error")
	}
}
