package web_test

import (
	"bytes"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// upload posts the import form with the certificate file and the given
// checkboxes, as a browser does.
func (b *browser) upload(file string, boxes ...string) (int, string) {
	b.t.Helper()
	csrf := b.csrf("/certificates")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf)
	for _, box := range boxes {
		mw.WriteField(box, "1")
	}
	fw, err := mw.CreateFormFile("file", filepath.Base(file))
	if err != nil {
		b.t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		b.t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequest("POST", b.base+"/certificates/import", &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// An upload that would break a pin is refused in the form with the
// findings and the new pin (escaped), and changes nothing; ticking
// "force" imports it and the server logs the problem as a warning.
func TestUploadRunsTheRenewalGuard(t *testing.T) {
	e := newEnv(t, "Second")
	if err := e.d.Node.SetConnector("receive", frontend, map[string]any{"tls_certificate_name": e.pki.Contoso.Name()}); err != nil {
		t.Fatal(err)
	}
	leaf := testkit.NewIssuerRenewal(t, e.pki.CA, filepath.Join(t.TempDir(), "new-issuer.pem"))
	good := testkit.ReadFile(t, e.cfg)
	before := e.d.Node.Runtime()
	b := e.browser(t)
	b.login(e.token)

	code, page := b.upload(leaf.Source)
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, `id="import-refused"`) {
		t.Fatalf("upload of a certificate that breaks the pin: %d, want 422 with the refusal in the form:\n%s", code, page)
	}
	newPin := html.EscapeString("--tls-certificate-name '" + leaf.Name() + "'")
	if !strings.Contains(page, newPin) || strings.Contains(page, "<I>CN=Contoso Lab Issuing CA 2") {
		t.Fatalf("the refusal does not show the escaped fix %s:\n%s", newPin, page)
	}
	if !bytes.Equal(testkit.ReadFile(t, e.cfg), good) || e.d.Node.Runtime() != before {
		t.Fatal("the refused upload changed the configuration file or the running configuration")
	}
	if got := presented(t, e.smtp); got != e.pki.Contoso.Thumbprint {
		t.Fatalf("after the refusal the frontend presents %s, want %s", got, e.pki.Contoso.Thumbprint)
	}
	saved, _ := filepath.Glob(filepath.Join(e.d.Node.Runtime().Cfg.DataDir(), "certificates", "*"))
	if len(saved) != 0 {
		t.Fatalf("the refused upload left files behind: %v", saved)
	}

	code, page = b.upload(leaf.Source, "force")
	if code != http.StatusSeeOther {
		t.Fatalf("forced upload: %d\n%s", code, page)
	}
	if e.d.Node.Runtime().Store.FindThumbprint(leaf.Thumbprint) == nil {
		t.Fatal("the forced upload is not in the live store")
	}
	if n := e.logs.Count("certificate admitted despite a problem (force)", leaf.Thumbprint, "check=pin"); n == 0 {
		t.Fatalf("the forced upload did not log the warning:\n%s", e.logs)
	}
}
