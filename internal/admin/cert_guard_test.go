package admin_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// newIssuerRenewal pins the frontend to CN=mail.contoso.com from the lab CA
// and writes a renewal of it issued by a new intermediate CA (chain
// complete): the pin would no longer select it.
func newIssuerRenewal(t *testing.T, e *env) *certs.Certificate {
	t.Helper()
	if _, err := e.client.SetConnector("receive", frontend, map[string]any{"tls_certificate_name": e.pki.Contoso.Name()}); err != nil {
		t.Fatal(err)
	}
	return testkit.NewIssuerRenewal(t, e.pki.CA, filepath.Join(e.dir, "new-issuer.pem"))
}

// An import through the admin API that would break a pin is refused with
// the findings and the new pin as data, and changes nothing; with force it
// applies and the server logs the problem as a warning.
func TestImportThroughAPIRunsTheRenewalGuard(t *testing.T) {
	e := newEnv(t)
	leaf := newIssuerRenewal(t, e)
	good := testkit.ReadFile(t, e.cfg)
	before := testkit.Presented(t, e.smtpAddr)
	if before != e.pki.Contoso.Thumbprint {
		t.Fatalf("before the import the frontend presents %s", before)
	}

	_, err := e.client.ImportCertificate(admin.ImportRequest{File: leaf.Source})
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 422 {
		t.Fatalf("import of a certificate that breaks the pin: %v, want 422", err)
	}
	var pin *lifecycle.Finding
	for i, f := range apiErr.Findings {
		if f.Check == lifecycle.CheckPin && f.Severity == lifecycle.SevError && f.Connector == frontend {
			pin = &apiErr.Findings[i]
		}
	}
	if pin == nil || !strings.Contains(pin.Fix, "--tls-certificate-name '"+leaf.Name()+"'") || !strings.Contains(pin.Problem, "issuer changed") {
		t.Fatalf("refusal lacks the pin finding with the new value %s: %+v", leaf.Name(), apiErr.Findings)
	}
	if !bytes.Equal(testkit.ReadFile(t, e.cfg), good) {
		t.Fatal("the refused import changed the configuration file")
	}
	if got := testkit.Presented(t, e.smtpAddr); got != before {
		t.Fatalf("after the refusal the frontend presents %s, want %s", got, before)
	}
	if n := e.logs.Count("certificate refused", leaf.Thumbprint, "check=pin"); n == 0 {
		t.Fatalf("the refusal was not logged:\n%s", e.logs)
	}

	res, err := e.client.ImportCertificate(admin.ImportRequest{File: leaf.Source, ImportOptions: node.ImportOptions{Force: true}})
	if err != nil {
		t.Fatalf("forced import: %v", err)
	}
	if res.Thumbprint != leaf.Thumbprint || !lifecycle.Findings(res.Findings).Refused() {
		t.Fatalf("forced import answered %s with findings %+v", res.Thumbprint, res.Findings)
	}
	if bytes.Equal(testkit.ReadFile(t, e.cfg), good) {
		t.Fatal("the forced import did not add the certificate to the file")
	}
	if n := e.logs.Count("certificate admitted despite a problem (force)", leaf.Thumbprint, "check=pin"); n == 0 {
		t.Fatalf("the forced import did not log the warning:\n%s", e.logs)
	}
	// The pin still selects the old certificate: forcing changed nothing
	// that senders see yet, which is what the warning says.
	if got := testkit.Presented(t, e.smtpAddr); got != before {
		t.Fatalf("after the forced import the frontend presents %s, want %s", got, before)
	}
}

// repin imports and re-pins in one step: new sessions get the renewal.
func TestImportThroughAPIRepins(t *testing.T) {
	e := newEnv(t)
	leaf := newIssuerRenewal(t, e)
	res, err := e.client.ImportCertificate(admin.ImportRequest{File: leaf.Source, ImportOptions: node.ImportOptions{Repin: true}})
	if err != nil {
		t.Fatalf("import with repin: %v", err)
	}
	if len(res.Repinned) != 1 || res.Repinned[0] != frontend || lifecycle.Findings(res.Findings).Refused() {
		t.Fatalf("import with repin answered repinned=%v findings=%+v", res.Repinned, res.Findings)
	}
	if got := testkit.Presented(t, e.smtpAddr); got != leaf.Thumbprint {
		t.Fatalf("after the re-pin the frontend presents %s, want the renewal %s", got, leaf.Thumbprint)
	}
	if !strings.Contains(string(testkit.ReadFile(t, e.cfg)), "CN=Contoso Lab Issuing CA 2") {
		t.Fatal("the configuration file does not hold the new pin")
	}
}
