package node

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
)

// ImportOptions are the choices of an import that the renewal guard would
// refuse.
type ImportOptions struct {
	// Force imports despite errors: they are logged as warnings and
	// recorded in the tracking log.
	Force bool `json:"force,omitempty"`
	// Repin points the connectors whose tls_certificate_name would no
	// longer select the certificate (a new issuer, e.g. a new
	// intermediate CA) at it, instead of refusing the import.
	Repin bool `json:"repin,omitempty"`
}

// Admission is the renewal guard's verdict on a certificate to import.
type Admission struct {
	Findings lifecycle.Findings // what the guard found, without the pins Repin resolves
	Repin    []lifecycle.Use    // connectors to re-pin, Pin holding the new tls_certificate_name (Repin only)
}

// AdmitImport runs the renewal guard g on cand, the certificate an import
// adds, for every connector that presents (or would present) a
// certificate it is meant to replace. With opts.Repin, a pin that would no
// longer select cand is not a refusal but a connector to re-pin. It
// returns a *lifecycle.RefusedError, with every finding and its fix, when
// an error remains and opts.Force is not set. The server's import (admin
// API, web admin center) and the CLI's offline import both use it.
func AdmitImport(g lifecycle.Guard, cand *certs.Certificate, opts ImportOptions) (Admission, error) {
	findings, uses := g.Admit(cand)
	var a Admission
	for _, f := range findings {
		if opts.Repin && f.Check == lifecycle.CheckPin {
			for _, u := range uses {
				if u.Connector == f.Connector {
					u.Pin = cand.Name()
					a.Repin = append(a.Repin, u)
					break
				}
			}
			continue
		}
		a.Findings = append(a.Findings, f)
	}
	if a.Findings.Refused() && !opts.Force {
		return a, &lifecycle.RefusedError{Thumbprint: cand.Thumbprint, Subject: cand.Subject, Issuer: cand.Issuer, Findings: a.Findings}
	}
	return a, nil
}

// ImportResult is what an import did.
type ImportResult struct {
	Cert     *certs.Certificate
	Findings lifecycle.Findings // warnings (and, forced, the errors imported anyway)
	Repinned []string           // connectors re-pinned to it
}

// ImportCertificate adds a certificate file to the configuration live,
// after the renewal guard admitted it (AdmitImport, against the
// configuration as it would be after the import). A refusal changes
// nothing (neither the file nor what the connectors present) and is a
// *lifecycle.RefusedError; a forced import logs every finding and records
// it in the tracking log like the other certificate steps.
func (s *Node) ImportCertificate(ref config.CertificateRef, opts ImportOptions) (ImportResult, error) {
	abs, err := filepath.Abs(ref.File)
	if err != nil {
		return ImportResult{}, err
	}
	ref.File = abs
	s.reload.Lock()
	defer s.reload.Unlock()
	var a Admission
	// The candidate is loaded as the configuration will load it (key and
	// password files relative to its directory). A file that does not
	// load is left to the configuration edit below, which refuses it with
	// the start-up error (file, line, key, fix).
	cfg := s.Runtime().Cfg
	keyFile, passFile := ref.KeyFile, ref.PasswordFile
	if keyFile != "" {
		keyFile = cfg.Resolve(keyFile)
	}
	if passFile != "" {
		passFile = cfg.Resolve(passFile)
	}
	if cand, err := certs.LoadFile(abs, keyFile, passFile); err == nil {
		a, _ = AdmitImport(s.Runtime().Guard(s.now()), cand, opts) // admitted returns the same refusal, after logging it
		if err := s.admitted(cand, a.Findings, opts.Force, "import", true); err != nil {
			return ImportResult{}, err
		}
	}
	var repinned []string
	if err := s.changeLocked(func(path string, check config.Check) error {
		before, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if err := config.AddCertificate(path, ref, check); err != nil {
			return err
		}
		for _, u := range a.Repin {
			kind := "receive"
			if u.Send {
				kind = "send"
			}
			if err := config.SetConnectorFields(path, kind, u.Connector, map[string]any{"tls_certificate_name": u.Pin}, check); err != nil {
				config.WriteAtomic(path, before)
				return fmt.Errorf("re-pin %s connector %s (nothing was imported): %w", kind, u.Connector, err)
			}
			repinned = append(repinned, u.Connector)
		}
		return nil
	}); err != nil {
		return ImportResult{}, err
	}
	for _, c := range s.Runtime().Store.All() {
		if sameFile(c.Source, abs) {
			for _, name := range repinned {
				s.log.Info("connector re-pinned to the imported certificate", "connector", name, "thumbprint", c.Thumbprint, "tls_certificate_name", c.Name())
				s.trackCertificate("repinned", name, c, "tls_certificate_name="+c.Name())
			}
			return ImportResult{Cert: c, Findings: a.Findings, Repinned: repinned}, nil
		}
	}
	return ImportResult{}, fmt.Errorf("certificate %s was added but is not in the store", abs)
}

// admitted logs the guard's findings on c and records them in the
// tracking log when record is set (step "refused", or "forced"/"warning"
// when c goes in; the ACME manager records its own steps), and returns the refusal when an error remains and force is not set.
// Every path that makes a certificate presentable (import, ACME) goes
// through it.
func (s *Node) admitted(c *certs.Certificate, fs lifecycle.Findings, force bool, how string, record bool) error {
	refused := fs.Refused() && !force
	for _, f := range fs {
		attrs := []any{"thumbprint", c.Thumbprint, "check", f.Check, "connector", f.Connector, "fix", f.Fix, "via", how}
		step := "warning"
		switch {
		case f.Severity == lifecycle.SevError && refused:
			s.log.Error("certificate refused: "+f.Problem, attrs...)
			step = "refused"
		case f.Severity == lifecycle.SevError:
			s.log.Warn("certificate admitted despite a problem (force): "+f.Problem, attrs...)
			step = "forced"
		default:
			s.log.Warn(f.Problem, attrs...)
		}
		if record {
			s.trackCertificate(step, f.Connector, c, f.Problem+" Fix: "+f.Fix)
		}
	}
	if refused {
		return &lifecycle.RefusedError{Thumbprint: c.Thumbprint, Subject: c.Subject, Issuer: c.Issuer, Findings: fs}
	}
	return nil
}
