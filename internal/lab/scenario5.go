package lab

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/acmelab"
	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/lifecycle/acme"
	"github.com/mailflowhq/mailflow/internal/loopback"
	"github.com/mailflowhq/mailflow/internal/node"
)

// Scenario 5 follows the second report's renewal question one step
// further: contoso renews mail.contoso.com through a third-party CA
// (certificate request, signed reply, import) and the CA has meanwhile
// switched to a new intermediate. The renewal's issuer differs, so
// Default Frontend's pin <I>CN=Contoso Lab CA<S>CN=mail.contoso.com would
// select nothing once the old certificate expires or is removed. mailflow
// refuses the import and prints the new pin; importing with the new pin
// swaps the certificate live and mail keeps flowing.
const (
	scenario5Name   = "Scenario 5: a renewal from a new intermediate CA would break the pin; refused, then imported with the new pin; an ACME certificate renewing live"
	scenario5Report = `"Exchange 2010 hybrid: does a renewed certificate with more SAN entries still work?" (the second report), at the next renewal`
	newIntermediate = "CN=Contoso Lab Issuing CA 2"
)

func (l *Lab) scenario5(ctx context.Context) *Scenario {
	sc := &Scenario{
		Name: scenario5Name, FieldReport: scenario5Report,
		Summary: "the renewal guard refuses a certificate the pin would not select and prints the new pin; imported with it, the certificate is swapped live while mail flows",
	}
	r := l.newRun(ctx, sc)
	pki := l.pki
	var (
		w       *world
		req     *certs.PendingRequest
		reply   string
		renewed *certs.Certificate
		newPin  string
		// renewedFile is the renewal with its key in the certificate
		// store, refused in step 4 and imported with --repin in step 5.
		renewedFile string
	)
	oldPin := pki.Contoso.Name()

	r.step("Start from the fixed state: Default Frontend pins mail.contoso.com and mail flows",
		fmt.Sprintf("%s presents CN=mail.contoso.com (pinned %q) and a message from the cloud is delivered", defaultFrontend, oldPin),
		func(s *Step) error {
			tweak, err := l.startACME(s, "scenario5")
			if err != nil {
				return err
			}
			if w, _, err = l.startScenario(s, "scenario 5", "scenario5", worldShape{Configure: tweak}); err != nil {
				return err
			}
			if _, err := w.Onprem.Admin.SetConnector("receive", defaultFrontend, map[string]any{"tls_certificate_name": oldPin}); err != nil {
				return err
			}
			s.evidence(fileLines(w.Onprem.Config, "tls_certificate_name")...)
			return r.deliverFromCloud(s, w, "scenario 5: before the renewal", pki.Contoso.Thumbprint)
		})

	r.step("Request the renewal for the third-party CA (mailflow cert request)",
		"a PKCS#10 request for CN=mail.contoso.com with both SANs; the key stays in the store as a pending request",
		func(s *Step) error {
			cfg := w.Onprem.srv.Runtime().Cfg
			var err error
			req, err = certs.NewRequest(certs.RequestTemplate{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"}, KeyType: "ecdsa-p256"})
			if err != nil {
				return err
			}
			if err := lifecycle.Pending(cfg).Save(req); err != nil {
				return err
			}
			pending, err := lifecycle.Pending(cfg).List()
			if err != nil {
				return err
			}
			s.evidence(fmt.Sprintf("mailflow cert request --config %s --subject \"CN=mail.contoso.com\" --san mail.contoso.com --san autodiscover.contoso.com --key ecdsa-p256 --out mail.csr", w.Onprem.Config),
				fmt.Sprintf("pending request %s, key %s", req.ID, req.KeyFile))
			s.expect(len(pending) == 1 && pending[0].ID == req.ID, "%d pending requests, want the new one", len(pending))
			s.observe("pending request %s for %s (%s)", req.ID, req.Subject, strings.Join(req.SANs, ", "))
			return nil
		})

	r.step("The CA signs it with its new intermediate and sends the chain",
		fmt.Sprintf("a certificate for the request's key issued by %s (itself issued by CN=Contoso Lab CA), sent with the intermediate", newIntermediate),
		func(s *Step) error {
			var err error
			reply, err = l.signAsCA(w.Dir, req.CSR)
			if err != nil {
				return err
			}
			s.evidence("the CA's reply: " + reply)
			s.observe("the CA returned %s", filepath.Base(reply))
			return nil
		})

	r.step("Import the renewal as it is: refused, with the new pin",
		fmt.Sprintf("the renewal guard refuses it (its issuer is %s, so the pin %q would select nothing: STARTTLS would no longer be offered, event 12014) and prints tls_certificate_name '<I>%s<S>CN=mail.contoso.com'; nothing changes", newIntermediate, oldPin, newIntermediate),
		func(s *Step) error {
			rt := w.Onprem.srv.Runtime()
			before, err := os.ReadFile(w.Onprem.Config)
			if err != nil {
				return err
			}
			c, _, err := lifecycle.CompleteRequest(rt.Cfg, reply)
			if err != nil {
				return err
			}
			renewed, newPin = c, c.Name()
			// The certificate with the request's key, as cert import
			// stores it; step 5 imports the same file.
			if renewedFile, err = lifecycle.WriteIssued(rt.Cfg, c); err != nil {
				return err
			}
			_, err = w.Onprem.Admin.ImportCertificate(admin.ImportRequest{File: renewedFile})
			var apiErr *admin.APIError
			if !s.expect(errors.As(err, &apiErr) && apiErr.Code == 422, "the server accepted a certificate the pin does not select: %v", err) {
				return nil
			}
			s.evidence(fmt.Sprintf("[on-premises admin] POST /api/v1/certificates {\"file\":%q} → %d, refused by the renewal guard:", filepath.Base(renewedFile), apiErr.Code))
			fs := apiErr.Findings
			for _, f := range fs {
				s.evidence(f.String())
			}
			s.expect(fs.Refused(), "the refusal carries no error finding")
			var pinFinding *lifecycle.Finding
			for i := range fs {
				if fs[i].Check == lifecycle.CheckPin {
					pinFinding = &fs[i]
				}
			}
			if s.expect(pinFinding != nil, "no pin finding") {
				s.expect(strings.Contains(pinFinding.Problem, "tls_certificate_name: '"+newPin+"'"), "the finding does not print the new pin %s", newPin)
				s.expect(strings.Contains(pinFinding.Fix, "-TlsCertificateName '"+newPin+"'"), "the fix does not give the Set-ReceiveConnector value")
			}
			// What the pin would do once the old certificate is gone.
			after := certs.NewStore(c, pki.Server1)
			sel := after.Select(certs.Request{CertificateName: oldPin, ConnectorFQDN: onpremFQDN, Connector: defaultFrontend})
			s.expect(sel.Cert == nil, "without the old certificate the pin still selects %v", sel.Cert)
			s.evidence("without the old certificate: " + sel.Warning)
			now, err := os.ReadFile(w.Onprem.Config)
			s.expect(err == nil && string(now) == string(before), "the refused import changed %s", w.Onprem.Config)
			p, err := probeCertificate(ctx, tenantSource, w.Onprem.SMTP)
			if err != nil {
				return err
			}
			s.expect(p.Cert.Thumbprint == pki.Contoso.Thumbprint, "after the refusal %s presents %s", defaultFrontend, p.Cert.Thumbprint)
			s.observe("refused; new pin %s", newPin)
			return nil
		})

	r.step("Import it with the new pin, live (mailflow cert import --repin)",
		fmt.Sprintf("the certificate is added and %s re-pinned without a restart; new sessions get the renewal, and mail from the cloud is delivered over it", defaultFrontend),
		func(s *Step) error {
			cfg := w.Onprem.srv.Runtime().Cfg
			path := renewedFile
			res, err := w.Onprem.Admin.ImportCertificate(admin.ImportRequest{File: path, ImportOptions: node.ImportOptions{Repin: true}})
			if err != nil {
				return err
			}
			s.expect(len(res.Repinned) == 1 && res.Repinned[0] == defaultFrontend, "the import re-pinned %v, want %s", res.Repinned, defaultFrontend)
			s.evidence(fmt.Sprintf("[on-premises admin] POST /api/v1/certificates {\"file\":%q,\"repin\":true} → %s, re-pinned %v", filepath.Base(path), infoLine(res.Info), res.Repinned))
			list, err := w.Onprem.Admin.Connectors()
			if err != nil {
				return err
			}
			if err := lifecycle.Pending(cfg).Remove(req.ID); err != nil {
				return err
			}
			s.evidence(fmt.Sprintf("mailflow cert import %s --config %s --repin", filepath.Base(reply), w.Onprem.Config))
			s.evidence(fileLines(w.Onprem.Config, "tls_certificate_name")...)
			if df := connector(list, "receive", defaultFrontend); s.expect(df != nil && df.Certificate != nil, "%s missing", defaultFrontend) {
				s.evidence(receiveLine(df))
			}
			return r.deliverFromCloud(s, w, "scenario 5: after the renewal", renewed.Thumbprint)
		})

	r.step("An ACME certificate from the lab's ACME CA renews live",
		fmt.Sprintf("the acme: certificate for %s obtained at start-up (a real tls-alpn-01 validation on loopback) is pinned on %s; a renewal keeps issuer and subject, so the pin picks it up: new sessions get it and mail is delivered over it", hybridFQDN, defaultFrontend),
		func(s *Step) error {
			ms := w.Onprem.srv.ACMEManagers()
			if len(ms) != 1 {
				return fmt.Errorf("%d ACME certificates configured, want 1", len(ms))
			}
			m := ms[0]
			first, err := r.waitACME(m)
			if err != nil {
				return err
			}
			s.evidence("obtained at start-up: " + describe(first) + ", issued by " + first.Issuer)
			pin := first.Name()
			if _, err := w.Onprem.Admin.SetConnector("receive", defaultFrontend, map[string]any{"tls_certificate_name": pin}); err != nil {
				return err
			}
			s.evidence(fileLines(w.Onprem.Config, "tls_certificate_name")...)
			if err := r.deliverFromCloud(s, w, "scenario 5: over the ACME certificate", first.Thumbprint); err != nil {
				return err
			}
			if err := m.RenewNow(r.ctx); err != nil {
				return fmt.Errorf("ACME renewal: %w", err)
			}
			second := m.Current()
			s.expect(second != nil && second.Thumbprint != first.Thumbprint, "the renewal did not change the certificate")
			s.expect(second != nil && second.Name() == pin, "the renewal's issuer and subject %s differ from the pin %s", second.Name(), pin)
			s.evidence("renewed: " + describe(second) + ", issued by " + second.Issuer)
			p, err := probeCertificate(r.ctx, tenantSource, w.Onprem.SMTP)
			if err != nil {
				return err
			}
			s.expect(p.Cert.Thumbprint == second.Thumbprint, "after the renewal a new session gets %s, want %s", p.Cert.Thumbprint, second.Thumbprint)
			if err := r.deliverFromCloud(s, w, "scenario 5: after the ACME renewal", second.Thumbprint); err != nil {
				return err
			}
			s.observe("ACME certificate %s renewed to %s live; the pin %s selects the renewal", first.Thumbprint, second.Thumbprint, pin)
			return nil
		})
	return r.done()
}

// startACME starts the lab's ACME CA for a scenario (its validations reach
// the on-premises challenge listener on loopback) and returns the
// configuration change that trusts it and adds an acme: certificate.
func (l *Lab) startACME(s *Step, sub string) (func(*configData), error) {
	dir := filepath.Join(l.dir, sub)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p, err := loopback.FreePorts(1)
	if err != nil {
		return nil, err
	}
	ca, err := acmelab.Start(acmelab.Options{Validity: 3600, TLSPort: p[0]})
	if err != nil {
		return nil, fmt.Errorf("start the lab ACME CA: %w", err)
	}
	l.closers = append(l.closers, ca.Close)
	trust := filepath.Join(dir, "lab-acme-ca.pem")
	if err := os.WriteFile(trust, ca.TrustPEM(), 0o644); err != nil {
		return nil, err
	}
	s.evidence(fmt.Sprintf("[lab ACME CA] directory %s, validates tls-alpn-01 on 127.0.0.1:%d, trusted through %s", ca.Directory, p[0], trust))
	return func(d *configData) {
		d.ExtraCAFile, d.ACMEDirectory, d.ACMEListen = trust, ca.Directory, fmt.Sprintf("127.0.0.1:%d", p[0])
	}, nil
}

// waitACME waits until the ACME manager holds a certificate.
func (r *run) waitACME(m *acme.Manager) (*certs.Certificate, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.lab.wait)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if c := m.Current(); c != nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no ACME certificate within %s (last error: %v)", r.lab.wait, m.LastError())
		case <-tick.C:
		}
	}
}

// deliverFromCloud sends a message from the cloud user to on-premises and
// expects it delivered over the certificate with thumbprint want.
func (r *run) deliverFromCloud(s *Step, w *world, subject, want string) error {
	sub, err := submit(r.ctx, clientSource, w.Tenant.SMTP, cloudUser, onpremUser, subject)
	if err != nil {
		return err
	}
	d, err := r.expectDelivered(s, w.Tenant, w.Onprem, sub, 0)
	if err != nil || d == nil {
		return err
	}
	s.expect(d.sent.Thumbprint == want, "on-premises presented %s, want %s", d.sent.Thumbprint, want)
	return nil
}

// signAsCA plays the third-party CA: it signs the request with a new
// intermediate (issued by the lab CA) and writes the reply, the
// certificate followed by the intermediate, as CAs send it.
func (l *Lab) signAsCA(dir string, csrDER []byte) (string, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return "", err
	}
	if err := csr.CheckSignature(); err != nil {
		return "", fmt.Errorf("the request's signature: %w", err)
	}
	now := time.Now()
	inter, err := certs.Generate(certs.Template{Subject: newIntermediate, IsCA: true, Issuer: l.pki.CA, KeyType: "ecdsa-p256",
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0)})
	if err != nil {
		return "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)), RawSubject: csr.RawSubject, DNSNames: csr.DNSNames,
		NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter.Leaf, csr.PublicKey, inter.PrivateKey)
	if err != nil {
		return "", err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Chain[0]})...)
	path := filepath.Join(dir, "mail-contoso-renewal.cer")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", err
	}
	return path, nil
}
