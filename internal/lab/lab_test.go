package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	started   []string
	scenarios []string
	steps     []string
	done      []string
}

func (r *recorder) Started(dir string, _ bool)     { r.started = append(r.started, dir) }
func (r *recorder) ScenarioStarted(sc *Scenario)   { r.scenarios = append(r.scenarios, sc.Name) }
func (r *recorder) StepDone(_ *Scenario, st *Step) { r.steps = append(r.steps, st.Name) }
func (r *recorder) ScenarioDone(sc *Scenario)      { r.done = append(r.done, sc.Name) }
func (r *recorder) count() (int, int, int, int) {
	return len(r.started), len(r.scenarios), len(r.steps), len(r.done)
}

func findStep(sc *Scenario, prefix string) *Step {
	for _, st := range sc.Steps {
		if strings.HasPrefix(st.Name, prefix) {
			return st
		}
	}
	return nil
}

func evidenceHas(st *Step, parts ...string) bool {
	for _, e := range st.Evidence {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(e, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestLabReproducesBothFieldReports plays the whole lab in-process and
// checks, beyond every step's own verdict, the evidence a reader relies on
// against the certificates the lab generated.
func TestLabReproducesTheFieldReports(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six servers")
	}
	dir := t.TempDir()
	rec := &recorder{}
	l, err := Run(context.Background(), Options{Dir: dir, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	r := l.Report
	for _, f := range r.Failed() {
		t.Errorf("step did not behave as expected: %s", f)
	}
	if !r.OK || len(r.Scenarios) != 5 {
		var b strings.Builder
		WriteText(&b, r)
		t.Fatalf("report OK=%v with %d scenarios:\n%s", r.OK, len(r.Scenarios), b.String())
	}
	if started, sc, steps, done := rec.count(); started != 1 || sc != 5 || done != 5 || steps != r.StepCount() {
		t.Errorf("observer saw started=%d scenarios=%d steps=%d done=%d, report has %d steps", started, sc, steps, done, r.StepCount())
	}
	pki := l.PKI()
	s1, s2, s3, s4, s5 := r.Scenarios[0], r.Scenarios[1], r.Scenarios[2], r.Scenarios[3], r.Scenarios[4]

	checks := []struct {
		name string
		st   *Step
		ok   func(*Step) bool
	}{
		{"deferral reads 450 4.7.320 SubjectMismatch", findStep(s1, "The tenant's outbound connector defers"), func(st *Step) bool {
			return strings.Contains(st.Observed, "450 4.7.320") && strings.Contains(st.Observed, "SubjectMismatch") &&
				evidenceHas(st, "DEFER", "4.7.320")
		}},
		{"on-premises log shows CN=SERVER1 sent", findStep(s1, "On-premises' SmtpReceive log"), func(st *Step) bool {
			return evidenceHas(st, ",Sending certificate") && evidenceHas(st, ",CN=SERVER1,Certificate subject") &&
				evidenceHas(st, ","+pki.Server1.Thumbprint+",Certificate thumbprint")
		}},
		{"diagnosis names the Exchange command", findStep(s1, "Diagnose"), func(st *Step) bool {
			return evidenceHas(st, "Set-ReceiveConnector", "-TlsCertificateName", pki.Contoso.Name())
		}},
		{"the retry delivered with the pinned certificate", findStep(s1, "Retry the queue"), func(st *Step) bool {
			return evidenceHas(st, "SEND", "250 2.6.0") && evidenceHas(st, ","+pki.Contoso.Thumbprint+",Certificate thumbprint") &&
				evidenceHas(st, "mailbox]")
		}},
		{"tenant's client certificate verified on-premises", findStep(s2, "Mutual TLS, tenant"), func(st *Step) bool {
			return evidenceHas(st, ","+pki.Tenant.Thumbprint+",Certificate thumbprint") && evidenceHas(st, "Status='Success'; Domain='mail.protection.outlook.com'")
		}},
		{"contoso's client certificate verified by the tenant", findStep(s2, "Mutual TLS, on-premises"), func(st *Step) bool {
			return evidenceHas(st, "TENANT\\Inbound from contoso", ","+pki.Contoso.Thumbprint+",Certificate thumbprint") &&
				evidenceHas(st, "Status='Success'; Domain='mail.contoso.com'")
		}},
		{"untrusted client certificate refused", findStep(s2, "Negative control: a client certificate"), func(st *Step) bool {
			return evidenceHas(st, "FAIL", "530 5.7.1") && evidenceHas(st, ","+pki.Untrusted.Thumbprint+",Certificate thumbprint")
		}},
		{"SAN-only certificate passes DomainValidation", findStep(s2, "The field report's question, part 1"), func(st *Step) bool {
			return evidenceHas(st, ",CN=hybrid.contoso.net,Certificate subject") &&
				evidenceHas(st, "Remote certificate validation succeeded (DomainValidation, expected mail.contoso.com)")
		}},
		{"a name in no certificate field still fails", findStep(s2, "Negative control: a name"), func(st *Step) bool {
			return evidenceHas(st, "DEFER", "SubjectMismatch Expected Subject: smtp.contoso.com")
		}},
		{"DANE: delivered matched against the published TLSA record", findStep(s4, "The cloud delivers under DANE"), func(st *Step) bool {
			return evidenceHas(st, "Remote certificate validation succeeded (DANE, matched TLSA 3 1 1 ")
		}},
		{"DANE: the renewal warning names 4.7.323 and the rollover", findStep(s4, "Renew the certificate with a new key"), func(st *Step) bool {
			return evidenceHas(st, "mailflow cert import", "450 4.7.323 tlsa-invalid") && evidenceHas(st, "publish the new record beside the old one(s)")
		}},
		{"DANE: the deferral is 4.7.323 tlsa-invalid", findStep(s4, "The cloud defers"), func(st *Step) bool {
			return strings.Contains(st.Observed, "450 4.7.323 tlsa-invalid") && evidenceHas(st, "DEFER", "4.7.323")
		}},
		{"DANE: the probe names the record to publish", findStep(s4, "The probe shows"), func(st *Step) bool {
			return evidenceHas(st, "[mailflow probe] FAIL 450 4.7.323") && evidenceHas(st, "fix:", "publish its record beside the old one")
		}},
		{"DANE: publishing the new record delivers", findStep(s4, "Publish the new record"), func(st *Step) bool {
			return evidenceHas(st, "SEND", "250 2.6.0") && evidenceHas(st, ","+pki.Renewed.Thumbprint+",Certificate thumbprint")
		}},
		{"renewal picked up without re-pinning", findStep(s2, "The field report's question, part 2"), func(st *Step) bool {
			return strings.Contains(st.Observed, pki.Contoso.Thumbprint+" → "+pki.Renewed.Thumbprint) &&
				evidenceHas(st, ","+pki.Renewed.Thumbprint+",Certificate thumbprint")
		}},
		{"AUTH refused before STARTTLS, accepted after, no password in the transcript", findStep(s3, "The device authenticates"), func(st *Step) bool {
			return evidenceHas(st, "S: 530 5.7.0 Must issue a STARTTLS command first") && evidenceHas(st, "S: 235 2.7.0 Authentication successful") &&
				evidenceHas(st, "C: AUTH PLAIN") && !evidenceHas(st, devicePassword)
		}},
		{"the tenant recognised contoso's certificate", findStep(s3, "On-premises relays through the tenant"), func(st *Step) bool {
			return evidenceHas(st, "TENANT\\Inbound from contoso (certificate)", ","+pki.Contoso.Thumbprint+",Certificate thumbprint") &&
				evidenceHas(st, ",CN=mail.contoso.com,Tenant attribution by certificate") && evidenceHas(st, "[tenant trace]", "RECEIVE")
		}},
		{"the wrong certificate gets 5.7.64 and explain names TlsSenderCertificateName", findStep(s3, "Negative control: the wrong certificate"), func(st *Step) bool {
			return evidenceHas(st, "FAIL", "550 5.7.64 TenantAttribution; Relay Access Denied") && evidenceHas(st, "cause:", "TlsSenderCertificateName")
		}},
		{"renewal from a new intermediate refused with the new pin", findStep(s5, "Import the renewal as it is"), func(st *Step) bool {
			return evidenceHas(st, "tls_certificate_name: '<I>CN=Contoso Lab Issuing CA 2<S>CN=mail.contoso.com'") &&
				evidenceHas(st, "Set-ReceiveConnector", "-TlsCertificateName '<I>CN=Contoso Lab Issuing CA 2<S>CN=mail.contoso.com'") &&
				evidenceHas(st, "without the old certificate", "event 12014")
		}},
		{"ACME certificate renewed live under the same pin", findStep(s5, "An ACME certificate"), func(st *Step) bool {
			return strings.Contains(st.Observed, "renewed to") && evidenceHas(st, "issued by CN=Pebble Intermediate CA") &&
				evidenceHas(st, ",CN=Pebble Intermediate CA") && evidenceHas(st, "SEND", "250 2.6.0")
		}},
		{"imported with the new pin, mail delivered over it", findStep(s5, "Import it with the new pin"), func(st *Step) bool {
			return evidenceHas(st, "tls_certificate_name", "Contoso Lab Issuing CA 2") && evidenceHas(st, "SEND", "250 2.6.0") && evidenceHas(st, "mailbox]")
		}},
	}
	for _, c := range checks {
		if c.st == nil {
			t.Errorf("%s: step not found", c.name)
			continue
		}
		if !c.ok(c.st) {
			t.Errorf("%s: evidence missing in step %q:\nobserved: %s\n%s", c.name, c.st.Name, c.st.Observed, strings.Join(c.st.Evidence, "\n"))
		}
	}
	if got := l.Servers(); len(got) != 10 {
		t.Errorf("%d servers running before Close, want 10: %+v", len(got), got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := l.Servers(); len(got) != 0 {
		t.Errorf("servers still listed after Close: %+v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "scenario2", "onprem.yaml")); err != nil {
		t.Errorf("a --dir lab directory must stay: %v", err)
	}
}

func TestStepFinish(t *testing.T) {
	tests := []struct {
		name       string
		observed   string
		conds      []bool
		err        error
		wantOK     bool
		wantInText string
	}{
		{"all good", "fine", []bool{true, true}, nil, true, "fine"},
		{"one expectation fails", "saw x", []bool{true, false}, nil, false, "saw x — NOT AS EXPECTED: problem 1"},
		{"error without observation", "", nil, errors.New("boom"), false, "boom"},
		{"error and problem", "saw", []bool{false}, errors.New("boom"), false, "boom; problem 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Step{Observed: tc.observed}
			for i, c := range tc.conds {
				s.expect(c, "problem %d", i)
			}
			s.finish(tc.err)
			if s.OK != tc.wantOK || !strings.Contains(s.Observed, tc.wantInText) {
				t.Errorf("OK=%v observed=%q, want OK=%v containing %q", s.OK, s.Observed, tc.wantOK, tc.wantInText)
			}
			if s.Evidence == nil {
				t.Error("evidence must be an empty list, not null, in JSON")
			}
		})
	}
}

func TestRunStopsAfterAFailedStep(t *testing.T) {
	rec := &recorder{}
	l := &Lab{obs: rec}
	r := l.newRun(context.Background(), &Scenario{Name: "s"})
	ran := 0
	r.step("one", "works", func(s *Step) error { ran++; s.observe("ok"); return nil })
	r.step("two", "fails", func(s *Step) error { ran++; s.expect(false, "it did not"); return nil })
	r.step("three", "must not run", func(s *Step) error { ran++; return nil })
	sc := r.done()
	if ran != 2 {
		t.Errorf("%d step functions ran, want 2", ran)
	}
	want := []bool{true, false, false}
	if len(sc.Steps) != len(want) {
		t.Fatalf("%d steps recorded, want %d", len(sc.Steps), len(want))
	}
	for i, st := range sc.Steps {
		if st.OK != want[i] {
			t.Errorf("step %q OK=%v, want %v", st.Name, st.OK, want[i])
		}
	}
	if !strings.HasPrefix(sc.Steps[2].Observed, "not run") {
		t.Errorf("skipped step observed %q", sc.Steps[2].Observed)
	}
	if sc.OK || len(rec.steps) != 3 || len(rec.done) != 1 {
		t.Errorf("scenario OK=%v, observer steps=%v done=%v", sc.OK, rec.steps, rec.done)
	}
}

func TestRunHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := (&Lab{}).newRun(ctx, &Scenario{Name: "s"})
	r.step("one", "x", func(s *Step) error { t.Error("ran after cancellation"); return nil })
	if sc := r.done(); sc.OK || !strings.Contains(sc.Steps[0].Observed, "canceled") {
		t.Errorf("scenario OK=%v observed=%q", sc.OK, sc.Steps[0].Observed)
	}
}

func TestReportSettle(t *testing.T) {
	tests := []struct {
		name string
		r    *Report
		want bool
	}{
		{"no scenarios", &Report{}, false},
		{"scenario without steps", &Report{Scenarios: []*Scenario{{Name: "a"}}}, false},
		{"all ok", &Report{Scenarios: []*Scenario{{Steps: []*Step{{OK: true}}}, {Steps: []*Step{{OK: true}, {OK: true}}}}}, true},
		{"one bad", &Report{Scenarios: []*Scenario{{Steps: []*Step{{OK: true}}}, {Steps: []*Step{{OK: true}, {OK: false}}}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.settle()
			if tc.r.OK != tc.want {
				t.Errorf("OK=%v, want %v", tc.r.OK, tc.want)
			}
		})
	}
}

func TestLabDirectory(t *testing.T) {
	t.Run("temporary is removed by Close", func(t *testing.T) {
		l := &Lab{Report: &Report{}}
		if err := l.makeDir(""); err != nil {
			t.Fatal(err)
		}
		if !l.Temporary() {
			t.Fatal("not temporary")
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(l.Dir()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary directory still there: %v", err)
		}
	})
	t.Run("Keep leaves a temporary directory", func(t *testing.T) {
		l := &Lab{Report: &Report{}}
		if err := l.makeDir(""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(l.Dir()) })
		l.Keep()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(l.Dir()); err != nil || l.Report.Dir != l.Dir() {
			t.Errorf("kept directory: %v, report dir %q", err, l.Report.Dir)
		}
	})
	t.Run("a new directory is created", func(t *testing.T) {
		d := filepath.Join(t.TempDir(), "a", "b")
		l := &Lab{Report: &Report{}}
		if err := l.makeDir(d); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(d); err != nil || !st.IsDir() || l.Temporary() {
			t.Errorf("stat %v, temporary %v", err, l.Temporary())
		}
	})
	t.Run("a non-empty directory is refused", func(t *testing.T) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "x"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		l := &Lab{Report: &Report{}}
		if err := l.makeDir(d); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("err = %v, want a refusal naming the directory as not empty", err)
		}
	})
}
