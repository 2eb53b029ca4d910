package node_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// The renewal flow of Exchange, live: a connector pinned by
// "<I>issuer<S>subject" presents an imported renewal (same issuer and
// subject, newer NotBefore) without re-pinning; the pinned certificate
// cannot be removed while it is the only one the pin matches, and can be
// once the renewal is in.
func TestCertificateRenewalLive(t *testing.T) {
	f := newFixture(t)
	f.write(t, onprem(f.port, f.pki.Contoso.Name()))
	srv := start(t, f.cfg)
	addr := srv.Receiver().Addrs()[0].String()
	old, renewed := f.pki.Contoso, f.pki.Renewed
	if got := testkit.Presented(t, addr); got != old.Thumbprint {
		t.Fatalf("pinned connector presents %s, want mail.contoso.com %s", got, old.Thumbprint)
	}

	// Removing the only certificate the pin matches is refused.
	good := f.read(t)
	before := srv.Runtime()
	err := srv.RemoveCertificate(old.Thumbprint)
	es := config.AsErrors(err)
	if len(es) == 0 || es[0].File != f.cfg || es[0].Line == 0 || es[0].Key != "receive_connectors[0].tls_certificate_name" ||
		!strings.Contains(es[0].Msg, "matches no loaded certificate") {
		t.Fatalf("removing the pinned certificate: %v, want a refusal naming receive_connectors[0].tls_certificate_name with its line", err)
	}
	if !bytes.Equal(f.read(t), good) || srv.Runtime() != before {
		t.Fatal("refused removal changed the file or the runtime")
	}
	if got := testkit.Presented(t, addr); got != old.Thumbprint {
		t.Fatalf("after the refused removal: %s", got)
	}

	// A session in flight across the import keeps the old certificate.
	inFlight, err := testkit.DialTLS(addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inFlight.Mail("sender@tenant.example", nil); err != nil {
		t.Fatal(err)
	}
	res, err := srv.ImportCertificate(config.CertificateRef{File: f.pki.RenewedFile}, node.ImportOptions{})
	c := res.Cert
	if err != nil {
		t.Fatalf("import renewal: %v", err)
	}
	if c.Thumbprint != renewed.Thumbprint {
		t.Fatalf("import returned %s, want %s", c.Thumbprint, renewed.Thumbprint)
	}
	if got := testkit.Presented(t, addr); got != renewed.Thumbprint {
		t.Fatalf("after importing the renewal new sessions get %s, want the renewal %s", got, renewed.Thumbprint)
	}
	if !strings.Contains(string(f.read(t)), `tls_certificate_name: "`+old.Name()+`"`) {
		t.Fatal("the import re-pinned the connector; it must not need to")
	}
	if code, err := inFlight.Finish("user@contoso.com", body("across import")); code != 250 {
		t.Fatalf("session in flight across the import: %d %v", code, err)
	}
	if inFlight.Thumbprint != old.Thumbprint {
		t.Fatalf("session in flight saw %s", inFlight.Thumbprint)
	}
	inFlight.Quit()

	// Importing it again is refused; the file stays as it is.
	good = f.read(t)
	if _, err := srv.ImportCertificate(config.CertificateRef{File: f.pki.RenewedFile}, node.ImportOptions{}); err == nil || !strings.Contains(err.Error(), "already listed") {
		t.Fatalf("second import of the same file: %v", err)
	}
	if !bytes.Equal(f.read(t), good) {
		t.Fatal("refused import changed the file")
	}

	// Now the old certificate can go; the renewal stays in use.
	if err := srv.RemoveCertificate(old.Thumbprint); err != nil {
		t.Fatalf("removing the replaced certificate: %v", err)
	}
	if srv.Runtime().Store.FindThumbprint(old.Thumbprint) != nil {
		t.Fatal("removed certificate still in the store")
	}
	if got := testkit.Presented(t, addr); got != renewed.Thumbprint {
		t.Fatalf("after removing the old certificate: %s", got)
	}
	if err := srv.RemoveCertificate(renewed.Thumbprint); err == nil {
		t.Fatal("removing the last certificate the pin matches was accepted")
	}
	if got := testkit.Presented(t, addr); got != renewed.Thumbprint {
		t.Fatalf("after the refused removal: %s", got)
	}
}

// Importing a file that does not load is refused with the start-up error
// (file, line of the new entry, key, fix) and changes nothing.
func TestImportUnreadableCertificateRefused(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.cfg)
	// A second copy of the PFX, so only the missing password is wrong.
	pfx, err := os.ReadFile(f.pki.ContosoPFX)
	if err != nil {
		t.Fatal(err)
	}
	copyPFX := filepath.Join(f.dir, "copy.pfx")
	if err := os.WriteFile(copyPFX, pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	good := f.read(t)
	before := srv.Runtime()
	for _, tt := range []struct {
		name string
		ref  config.CertificateRef
		key  string // the start-up error's key; "" for a refusal before validation
	}{
		{"missing file", config.CertificateRef{File: filepath.Join(f.dir, "certs", "nothing.pem")}, "certificates[2].file"},
		{"PFX without its password", config.CertificateRef{File: copyPFX}, "certificates[2].file"},
		{"file already listed", config.CertificateRef{File: f.pki.Server1File}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := srv.ImportCertificate(tt.ref, node.ImportOptions{})
			if err == nil {
				t.Fatal("import accepted")
			}
			if tt.key != "" {
				es := config.AsErrors(err)
				if len(es) != 1 || es[0].File != f.cfg || es[0].Line == 0 || es[0].Key != tt.key || es[0].Fix == "" {
					t.Fatalf("refusal lacks file, line, key %s or fix: %v", tt.key, err)
				}
			} else if !strings.Contains(err.Error(), "already listed") {
				t.Fatalf("refusal: %v", err)
			}
			if !bytes.Equal(f.read(t), good) || srv.Runtime() != before {
				t.Fatal("refused import changed the file or the runtime")
			}
		})
	}
	if err := srv.RemoveCertificate("00112233445566778899AABBCCDDEEFF00112233"); err == nil || !strings.Contains(err.Error(), "no certificate with thumbprint") {
		t.Fatalf("removing an unknown thumbprint: %v", err)
	}
}
