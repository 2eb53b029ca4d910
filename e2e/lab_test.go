package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// labReport is the JSON `mailflow lab --json` prints.
type labReport struct {
	OK        bool   `json:"ok"`
	Dir       string `json:"dir"`
	Scenarios []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Steps []struct {
			Name     string   `json:"name"`
			OK       bool     `json:"ok"`
			Expected string   `json:"expected"`
			Observed string   `json:"observed"`
			Evidence []string `json:"evidence"`
		} `json:"steps"`
	} `json:"scenarios"`
}

// runLab runs `mailflow lab` with args (within two minutes: it plays
// whole scenarios) and returns stdout, stderr and the exit code.
func runLab(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	code, stdout, stderr := runCLI(t, 2*time.Minute, append([]string{"lab"}, args...)...)
	return stdout, stderr, code
}

// opensslThumbprint is the SHA-1 fingerprint openssl computes for the
// first certificate in a PEM file, in Windows' thumbprint form.
func opensslThumbprint(t *testing.T, pemFile string) string {
	t.Helper()
	out, err := exec.Command("openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in", pemFile).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509 %s: %v\n%s", pemFile, err, out)
	}
	_, fp, ok := strings.Cut(strings.TrimSpace(string(out)), "=")
	if !ok {
		t.Fatalf("openssl output %q", out)
	}
	return strings.ToUpper(strings.ReplaceAll(fp, ":", ""))
}

var renewalThumbprints = regexp.MustCompile(`thumbprint ([0-9A-F]{40}) → ([0-9A-F]{40})`)

// TestLabJSON runs `mailflow lab --json --dir DIR` and checks every step,
// then judges the key evidence against what openssl and the files in the
// kept lab directory say, independently of the lab's own verdicts.
func TestLabJSON(t *testing.T) {
	need(t, "openssl")
	dir := filepath.Join(t.TempDir(), "lab")
	start := time.Now()
	stdout, stderr, code := runLab(t, "--json", "--dir", dir)
	t.Logf("mailflow lab took %s", time.Since(start).Round(time.Millisecond))
	var r labReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	for _, sc := range r.Scenarios {
		for _, st := range sc.Steps {
			if !st.OK {
				t.Errorf("%s / %s: expected %s; observed %s\n%s", sc.Name, st.Name, st.Expected, st.Observed, strings.Join(st.Evidence, "\n"))
			}
		}
	}
	if !r.OK || code != 0 || len(r.Scenarios) != 5 {
		t.Fatalf("ok=%v exit=%d scenarios=%d; stderr:\n%s", r.OK, code, len(r.Scenarios), stderr)
	}
	if r.Dir != dir {
		t.Errorf("report dir %q, want %q", r.Dir, dir)
	}

	var all []string // every observed and evidence line, scenario by scenario
	sc1 := strings.Builder{}
	for i, sc := range r.Scenarios {
		for _, st := range sc.Steps {
			lines := append([]string{st.Observed}, st.Evidence...)
			all = append(all, lines...)
			if i == 0 {
				sc1.WriteString(strings.Join(lines, "\n") + "\n")
			}
		}
	}
	text := strings.Join(all, "\n")

	// Scenario 1: the deferral and the certificate behind it.
	s1 := sc1.String()
	if !regexp.MustCompile(`DEFER .*450 4\.7\.320 Certificate validation failed.*SubjectMismatch`).MatchString(s1) {
		t.Error("scenario 1 shows no DEFER with 450 4.7.320 … SubjectMismatch")
	}
	server1 := opensslThumbprint(t, filepath.Join(dir, "certs", "server1-selfsigned.pem"))
	if !strings.Contains(s1, ",CN=SERVER1,Certificate subject") || !strings.Contains(s1, ","+server1+",Certificate thumbprint") {
		t.Errorf("scenario 1 lacks the protocol-log lines of the self-signed certificate %s", server1)
	}
	if !strings.Contains(s1, "Set-ReceiveConnector -TlsCertificateName \"<I>") {
		t.Error("scenario 1 does not give the Set-ReceiveConnector fix")
	}

	// Scenario 2: the renewal's thumbprint change, checked with openssl.
	m := renewalThumbprints.FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no \"thumbprint A → B\" renewal evidence")
	}
	renewed := opensslThumbprint(t, filepath.Join(dir, "certs", "mail-contoso-renewed.pem"))
	if m[1] == m[2] || m[2] != renewed {
		t.Errorf("renewal thumbprints %s → %s; openssl says the renewal is %s", m[1], m[2], renewed)
	}
	tenant := opensslThumbprint(t, filepath.Join(dir, "certs", "mail-protection.pem"))
	if !strings.Contains(text, ","+tenant+",Certificate thumbprint") || !strings.Contains(text, "Status='Success'; Domain='mail.protection.outlook.com'") {
		t.Errorf("no protocol-log evidence that the tenant's client certificate %s was verified", tenant)
	}
	sanOnly := opensslThumbprint(t, filepath.Join(dir, "certs", "hybrid-san.pem"))
	if !strings.Contains(text, ","+sanOnly+",Certificate thumbprint") || !strings.Contains(text, "validation succeeded (DomainValidation, expected mail.contoso.com)") {
		t.Errorf("no evidence that CN=hybrid.contoso.net (%s) passed DomainValidation for mail.contoso.com", sanOnly)
	}

	// Scenario 3, from the kept files: the tenant's protocol log shows
	// contoso's certificate (thumbprint by openssl) and the attribution;
	// no file of the scenario holds the device's password; users.json is
	// 0600.
	pemOut, err := exec.Command("openssl", "pkcs12", "-in", filepath.Join(dir, "certs", "mail-contoso.pfx"),
		"-passin", "file:"+filepath.Join(dir, "certs", "mail-contoso.pass"), "-nokeys", "-clcerts").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12: %v\n%s", err, pemOut)
	}
	contosoPEM := filepath.Join(t.TempDir(), "mail-contoso.pem")
	if err := os.WriteFile(contosoPEM, pemOut, 0o600); err != nil {
		t.Fatal(err)
	}
	contoso := opensslThumbprint(t, contosoPEM)
	tenantLogs := readTree(t, filepath.Join(dir, "scenario3", "tenant-data", "logs", "ProtocolLog", "SmtpReceive"))
	if !strings.Contains(tenantLogs, ","+contoso+",Certificate thumbprint") || !strings.Contains(tenantLogs, ",CN=mail.contoso.com,Tenant attribution by certificate") {
		t.Errorf("the tenant's SmtpReceive log does not show contoso's certificate %s recognised", contoso)
	}
	if !strings.Contains(tenantLogs, ",>,550 5.7.64 TenantAttribution; Relay Access Denied,") {
		t.Error("the tenant's SmtpReceive log lacks the 550 5.7.64 refusal of the wrong certificate")
	}
	if all := readTree(t, filepath.Join(dir, "scenario3")); strings.Contains(all, "Lab-Scanner-Pw-4821") || !strings.Contains(all, ",<,AUTH PLAIN,") {
		t.Error("scenario 3's files hold the device password, or lack the redacted AUTH line")
	}
	if st, err := os.Stat(filepath.Join(dir, "scenario3", "onprem-data", "users.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("users.json: %v, want mode 0600", err)
	}

	// The kept directory holds what the report claims: delivered mail and
	// the on-premises protocol log with the SERVER1 certificate.
	for _, glob := range []string{
		filepath.Join(dir, "scenario1", "onprem-data", "mailboxes", "contoso.com", "onprem.user", "new", "*.eml"),
		filepath.Join(dir, "scenario2", "tenant-data", "mailboxes", "contoso.mail.onmicrosoft.com", "cloud.user", "new", "*.eml"),
	} {
		if files, _ := filepath.Glob(glob); len(files) == 0 {
			t.Errorf("no delivered message matches %s", glob)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "scenario1", "onprem-data", "logs", "ProtocolLog", "SmtpReceive", "RECV*.LOG"))
	found := false
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(",CN=SERVER1,Certificate subject")) {
			found = true
		}
	}
	if !found {
		t.Errorf("the on-premises SmtpReceive logs %v do not show CN=SERVER1 being sent", logs)
	}
}

// TestLabNarrativeCleansUp runs the default text mode: a readable
// narrative, exit status 0, and the temporary lab directory gone.
func TestLabNarrativeCleansUp(t *testing.T) {
	stdout, stderr, code := runLab(t)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Scenario 1:", "Scenario 2:", "Scenario 3:", " ✓ 1. ", "450 4.7.320", "550 5.7.64", "Scenario 4:", "450 4.7.323 tlsa-invalid", "✓ All "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("narrative lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, " ✗ ") {
		t.Errorf("a step failed:\n%s", stdout)
	}
	m := regexp.MustCompile(`lab directory: (\S+)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no lab directory line:\n%s", stdout)
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary lab directory %s is still there: %v", m[1], err)
	}
}

// readTree concatenates every regular file under dir.
func readTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return b.String()
}
