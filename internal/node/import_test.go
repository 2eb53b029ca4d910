package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// ImportCertificate runs the renewal guard: a renewal from a new issuer
// that the pin would not select is a *lifecycle.RefusedError with the new
// pin, and nothing changes; forced, it goes in and every finding is in the
// tracking log as a "forced" step beside the other certificate steps.
func TestImportCertificateRunsTheGuard(t *testing.T) {
	f := newFixture(t)
	f.write(t, onprem(f.port, f.pki.Contoso.Name()))
	srv := start(t, f.cfg)
	leaf := testkit.NewIssuerRenewal(t, f.pki.CA, filepath.Join(f.dir, "new-issuer.pem"))
	good, before := f.read(t), srv.Runtime()

	_, err := srv.ImportCertificate(config.CertificateRef{File: leaf.Source}, node.ImportOptions{})
	var refused *lifecycle.RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, node.ErrRefusedByGuard) || refused.Thumbprint != leaf.Thumbprint {
		t.Fatalf("import of a renewal the pin does not select: %v", err)
	}
	if !strings.Contains(err.Error(), "tls_certificate_name: '"+leaf.Name()+"'") {
		t.Fatalf("the refusal does not give the new pin: %v", err)
	}
	if !bytes.Equal(f.read(t), good) || srv.Runtime() != before {
		t.Fatal("the refused import changed the file or the runtime")
	}
	if got := testkit.Presented(t, fmt.Sprintf("127.0.0.1:%d", f.port)); got != f.pki.Contoso.Thumbprint {
		t.Fatalf("after the refusal new sessions get %s", got)
	}

	res, err := srv.ImportCertificate(config.CertificateRef{File: leaf.Source}, node.ImportOptions{Force: true})
	if err != nil || res.Cert.Thumbprint != leaf.Thumbprint || !res.Findings.Refused() {
		t.Fatalf("forced import: %+v %v", res, err)
	}
	tr := trackingText(t, srv)
	for _, want := range []string{"S:Certificate=refused;Where=Default Frontend SERVER1;Thumbprint=" + leaf.Thumbprint, "S:Certificate=forced;Where=Default Frontend SERVER1;Thumbprint=" + leaf.Thumbprint} {
		if !strings.Contains(tr, want) {
			t.Errorf("tracking log lacks %q:\n%s", want, tr)
		}
	}
}
