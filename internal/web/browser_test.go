package web_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// xssSubject would set window.__xss if a page rendered it as HTML.
const xssSubject = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`

// startChromium starts one headless chromium for the test (flags from the
// tested recipe: no sandbox as root, no background networking, a fresh
// profile).
func startChromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(testkit.Chromium); err != nil {
		t.Skipf("chromium not installed at %s (Debian package chromium): %v", testkit.Chromium, err)
	}
	opts := testkit.ChromiumOptions(t.TempDir())
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// presented returns the SHA-1 thumbprint of the certificate openssl
// s_client is shown at STARTTLS on addr: an independent client's view.
func presented(t *testing.T, addr string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	sc := exec.Command("openssl", "s_client", "-starttls", "smtp", "-connect", addr, "-servername", "mail.contoso.com")
	sc.Stdin = strings.NewReader("QUIT\r\n")
	out, err := sc.Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("openssl s_client: %v", err)
	}
	x := exec.Command("openssl", "x509", "-noout", "-fingerprint", "-sha1")
	x.Stdin = strings.NewReader(string(out))
	fp, err := x.Output()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	_, v, _ := strings.Cut(strings.TrimSpace(string(fp)), "=")
	return strings.ReplaceAll(v, ":", "")
}

// TestBrowserAdminCenter drives every page in headless chromium: log in,
// open each page, pin another certificate on a connector and see the live
// change with openssl s_client, run a probe from the form, retry a queued
// message, follow a message in the trace, and check that input echoed on
// the pages (a connector name, a message subject, error strings) never
// runs as script. Screenshots go to the test's temp dir; with
// MAILFLOW_UPDATE_SCREENSHOTS=1 they also replace docs/admin-*.png.
func TestBrowserAdminCenter(t *testing.T) {
	ctx := startChromium(t)
	e := newEnv(t, xssName)
	e.send(t, "admin@contoso.com", "user@contoso.com", "Quarterly report")
	e.send(t, "admin@contoso.com", "user@partner.example", xssSubject)
	var queued string
	testkit.Poll(t, 30*time.Second, "the partner message to be deferred", func() (bool, string) {
		for _, m := range e.d.Node.Queue().List() {
			for _, r := range m.Recipients {
				if r.Attempts == 1 && r.LastError != nil {
					queued = m.ID
					return true, ""
				}
			}
		}
		return false, ""
	})

	shots := filepath.Join(t.TempDir(), "screenshots")
	os.MkdirAll(shots, 0o755)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		if os.Getenv("MAILFLOW_UPDATE_SCREENSHOTS") == "1" {
			os.WriteFile(filepath.Join("..", "..", "docs", "admin-"+name+".png"), png, 0o644)
		}
	}
	noXSS := func(where string) {
		t.Helper()
		kind, err := chromedp.Run(ctx, chromedp.Evaluate[string](`typeof window.__xss`))
		if err != nil {
			t.Fatal(err)
		}
		if kind != "undefined" {
			t.Fatalf("%s: injected script ran (window.__xss is %s)", where, kind)
		}
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		step, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(step, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Logf("at %s:\n%.2000s", loc, body)
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		// textContent, not innerText: SVG elements have no innerText.
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}

	// waitFlash waits for the page after a POST/redirect/GET to show a flash
	// containing want. Waiting only for #flash to be visible is not enough:
	// the page the button sits on may still show the previous change's
	// flash. Evaluation errors while the page navigates are retried.
	waitFlash := func(want string) {
		t.Helper()
		expr := fmt.Sprintf(`(document.querySelector('#flash')?.textContent || '').includes(%q)`, want)
		testkit.Poll(t, 30*time.Second, "a flash saying "+want, func() (bool, string) {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
			if err != nil {
				return false, err.Error()
			}
			return ok, ""
		})
	}

	// Log in: / sends the browser to the form; the secret field is "token".
	run("open login", chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)))
	shot("login")
	run("log in", chromedp.SendKeys(chromedp.CSS(`input[name=token]`), e.token), chromedp.Click(chromedp.CSS(`#login`)),
		chromedp.WaitVisible(chromedp.CSS(`#flowmap`)))

	// The map names the connector as text (escaped), with the certificate.
	if got := text(`#flowmap`); !strings.Contains(got, xssName) || !strings.Contains(got, "CN=SERVER1") || !strings.Contains(got, "DomainValidation expects mail.partner.example") {
		t.Errorf("map text = %q", got)
	}
	noXSS("map")

	run("connectors", chromedp.Navigate(e.base+"/connectors"), chromedp.WaitVisible(chromedp.CSS(`#connectors`)))
	if got := text(`#connectors`); !strings.Contains(got, xssName) {
		t.Errorf("connector list does not show the name as text: %q", got)
	}
	noXSS("connectors")
	shot("connectors")

	// Edit the connector's certificate: before, openssl sees SERVER1;
	// after saving, the CA-issued mail.contoso.com, without a restart.
	if got := presented(t, e.smtp); got != e.pki.Server1.Thumbprint {
		t.Fatalf("before the edit openssl sees %s, want SERVER1 %s", got, e.pki.Server1.Thumbprint)
	}
	connURL := e.base + "/connectors/receive/" + url.PathEscape(frontend)
	run("connector page", chromedp.Navigate(connURL), chromedp.WaitVisible(chromedp.CSS(`#connector-form`)))
	// An invalid change is refused with the file's words and changes nothing.
	// The refusal echoes the bad value: as text.
	badBinding := `127.0.0.1:<img src=x onerror="window.__xss=3">`
	run("bad edit", chromedp.SetValue(chromedp.CSS(`#f-bindings`), badBinding), chromedp.Click(chromedp.CSS(`#save`)),
		chromedp.WaitVisible(chromedp.CSS(`#error`)))
	if got := text(`#error`); !strings.Contains(got, "onprem.yaml:") || !strings.Contains(got, "bindings") || !strings.Contains(got, "Fix:") ||
		!strings.Contains(got, `<img src=x onerror=`) {
		t.Errorf("refused edit shows %q, want file:line: key: … Fix: … quoting the value", got)
	}
	noXSS("refused connector edit")
	run("connector page again", chromedp.Navigate(connURL), chromedp.WaitVisible(chromedp.CSS(`#connector-form`)),
		chromedp.SetValue(chromedp.CSS(`#f-tls_certificate_name`), e.pki.Contoso.Name()), chromedp.Click(chromedp.CSS(`#save`)),
		chromedp.WaitVisible(chromedp.CSS(`#flash`)))
	waitFlash("Saved and applied live")
	if got := text(`#presented`); !strings.Contains(got, e.pki.Contoso.Thumbprint) {
		t.Errorf("after the edit the page says it presents %q", got)
	}
	if got := presented(t, e.smtp); got != e.pki.Contoso.Thumbprint {
		t.Errorf("after the edit openssl sees %s, want mail.contoso.com %s", got, e.pki.Contoso.Thumbprint)
	}
	noXSS("connector")
	shot("connector")

	// Certificates: upload CN=hybrid.contoso.net (SAN mail.contoso.com).
	// The frontend's pin names mail.contoso.com, so the renewal guard
	// refuses it in the form with the fix; ticking "force" imports it
	// (an extra certificate here, not a renewal). Then pin it to the
	// second connector from its row; the connector presents it at once.
	run("certificates", chromedp.Navigate(e.base+"/certificates"), chromedp.WaitVisible(chromedp.CSS(`#timeline`)),
		chromedp.SetUploadFiles(chromedp.CSS(`#file`), []string{e.pki.SANOnlyFile}), chromedp.Click(chromedp.CSS(`#import`)),
		chromedp.WaitVisible(chromedp.CSS(`#import-refused`)))
	if got := text(`#import-refused`); !strings.Contains(got, "--tls-certificate-name '"+e.pki.SANOnly.Name()+"'") {
		t.Errorf("the refusal in the form lacks the new pin %s: %q", e.pki.SANOnly.Name(), got)
	}
	run("certificates-force", chromedp.SetUploadFiles(chromedp.CSS(`#file`), []string{e.pki.SANOnlyFile}), chromedp.Click(chromedp.CSS(`#force`)),
		chromedp.Click(chromedp.CSS(`#import`)), chromedp.WaitVisible(chromedp.CSS(`#flash`)))
	waitFlash("Imported ")
	if got := text(`#certificates`); !strings.Contains(got, e.pki.SANOnly.Thumbprint) || !strings.Contains(got, frontend) || !strings.Contains(got, xssName) {
		t.Errorf("certificates page after import: %q", got)
	}
	pinRow := `tr[data-thumbprint="` + e.pki.SANOnly.Thumbprint + `"]`
	run("pin", chromedp.SetValue(chromedp.CSS(pinRow+` select`), "receive|"+xssName), chromedp.Click(chromedp.CSS(pinRow+` button`)),
		chromedp.WaitVisible(chromedp.CSS(`#flash`)))
	waitFlash("is now pinned")
	second := "127.0.0.1:" + strings.TrimPrefix(e.d.Node.Runtime().Cfg.ReceiveConnectors[1].Bindings[0], "127.0.0.1:")
	if got := presented(t, second); got != e.pki.SANOnly.Thumbprint {
		t.Errorf("after pinning, the second connector presents %s, want the imported %s", got, e.pki.SANOnly.Thumbprint)
	}
	noXSS("certificates")
	shot("certificates")

	// Queues: the deferred message with its explained 4.7.320; retry it.
	run("queues", chromedp.Navigate(e.base+"/queues"), chromedp.WaitVisible(chromedp.CSS(`.qrow`)))
	if got := text(`.qrow .lasterror`); !strings.Contains(got, "4.7.320") {
		t.Errorf("queue last error = %q", got)
	}
	if got := text(`.qrow`); !strings.Contains(got, xssSubject) {
		t.Errorf("queue row does not show the subject as text: %q", got)
	}
	noXSS("queues")
	shot("queues")
	run("retry", chromedp.Click(chromedp.CSS(`.qrow .retry`)), chromedp.WaitVisible(chromedp.CSS(`#flash`)))
	testkit.Poll(t, 30*time.Second, "the retried message's second attempt", func() (bool, string) {
		m, ok := e.d.Node.Queue().Get(queued)
		if !ok {
			return false, "gone"
		}
		return m.Recipients[0].Attempts >= 2, m.Recipients[0].LastError.String()
	})

	// Trace: search by sender, open the message, see its events.
	run("trace", chromedp.Navigate(e.base+"/trace"), chromedp.WaitVisible(chromedp.CSS(`#trace-form`)),
		chromedp.SetValue(chromedp.CSS(`#sender`), "admin@contoso.com"), chromedp.Click(chromedp.CSS(`#search`)),
		chromedp.WaitVisible(chromedp.CSS(`#trace-results`)))
	if got := text(`#trace-results`); !strings.Contains(got, xssSubject) || !strings.Contains(got, "Quarterly report") {
		t.Errorf("trace results = %q", got)
	}
	noXSS("trace")
	shot("trace")
	run("follow", chromedp.Navigate(e.base+"/trace/"+queued), chromedp.WaitVisible(chromedp.CSS(`#timeline-events`)))
	if got := text(`#trace-subject`); got != xssSubject {
		t.Errorf("trace subject = %q, want the literal text %q", got, xssSubject)
	}
	if got := text(`#timeline-events`); !strings.Contains(got, "RECEIVE") || strings.Count(got, "DEFER") < 2 {
		t.Errorf("timeline = %q, want RECEIVE and two DEFER events", got)
	}
	noXSS("trace message")
	shot("trace-message")

	// Diagnostics: probe the connector from the form; the verdict is the
	// one mailflow probe's code gives for the same options.
	run("probe", chromedp.Navigate(e.base+"/diagnostics"), chromedp.WaitVisible(chromedp.CSS(`#probe-form`)),
		chromedp.SetValue(chromedp.CSS(`#host`), e.smtp), chromedp.SetValue(chromedp.CSS(`#expect`), "mail.contoso.com"),
		chromedp.Click(chromedp.CSS(`#probe`)), chromedp.WaitVisible(chromedp.CSS(`#verdict`)))
	want := probe.Run(context.Background(), probe.Options{Target: e.smtp, Expect: "mail.contoso.com", Level: tlscheck.DomainValidation,
		Roots: e.d.Node.Runtime().Roots, Certificates: e.d.Node.Runtime().Store})
	if got := text(`#verdict`); got != want.Verdict.Result || got != probe.Pass {
		t.Errorf("probe verdict in the page = %q, mailflow probe = %q (want pass: mail.contoso.com is pinned now)", got, want.Verdict.Result)
	}
	if got := text(`#probe-report`); !strings.Contains(got, e.pki.Contoso.Thumbprint) {
		t.Errorf("probe report does not show the presented certificate: %q", got)
	}
	// The explain box echoes its input as text.
	run("explain", chromedp.SetValue(chromedp.CSS(`#input`), "450 4.7.320 "+xssSubject), chromedp.Click(chromedp.CSS(`#explain`)),
		chromedp.WaitVisible(chromedp.CSS(`#explain-out`)))
	if got := text(`#explain-out`); !strings.Contains(got, "4.7.320") || !strings.Contains(got, "<script>") {
		t.Errorf("explain output = %q", got)
	}
	noXSS("explain")
	run("probe again for the screenshot", chromedp.SetValue(chromedp.CSS(`#host`), e.smtp), chromedp.SetValue(chromedp.CSS(`#expect`), "mail.contoso.com"),
		chromedp.Click(chromedp.CSS(`#probe`)), chromedp.WaitVisible(chromedp.CSS(`#verdict`)))
	shot("diagnostics")

	// The audit log names the connector change with before and after.
	run("audit", chromedp.Navigate(e.base+"/audit"), chromedp.WaitVisible(chromedp.CSS(`#audit`)))
	if got := text(`#audit`); !strings.Contains(got, "connector.set") || !strings.Contains(got, "queue.retry") || !strings.Contains(got, "refused") {
		t.Errorf("audit log = %q", got)
	}
	noXSS("audit")
	shot("audit")

	// The map after the changes: the frontend presents mail.contoso.com,
	// To partner is red with its 4.7.320.
	run("map again", chromedp.Navigate(e.base+"/map"), chromedp.WaitVisible(chromedp.CSS(`#flowmap`)))
	if got := text(`#flowmap`); !strings.Contains(got, "CN=mail.contoso.com") || !strings.Contains(got, "deferred 4.7.320") {
		t.Errorf("map after the changes = %q", got)
	}
	noXSS("map again")
	shot("map")

	// Logging out ends the session.
	run("logout", chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)),
		chromedp.Navigate(e.base+"/queues"), chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)))
}
