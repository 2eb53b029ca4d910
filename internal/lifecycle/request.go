package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
)

// Pending is the store of pending certificate requests of a
// configuration: <data_dir>/certificates/pending.
func Pending(cfg *config.Config) certs.PendingStore {
	return certs.PendingStore{Dir: filepath.Join(cfg.DataDir(), "certificates", "pending")}
}

// IssuedPath is where a completed request's certificate, chain and key are
// kept: <data_dir>/certificates/<CN>-<first 8 of thumbprint>.pem.
func IssuedPath(cfg *config.Config, c *certs.Certificate) string {
	name := c.Leaf.Subject.CommonName
	if name == "" && len(c.SANs) > 0 {
		name = c.SANs[0]
	}
	name = strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, name)
	return filepath.Join(cfg.DataDir(), "certificates", name+"-"+c.Thumbprint[:8]+".pem")
}

// CompleteRequest reads a CA's reply (PEM, DER or PKCS#7), finds the
// pending request whose key it was issued for and returns the certificate
// with chain and key, not yet written. Nothing is changed on error.
func CompleteRequest(cfg *config.Config, file string) (*certs.Certificate, *certs.PendingRequest, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("import %s: %w", file, err)
	}
	chain, err := certs.ParseCertificates(data)
	if err != nil {
		return nil, nil, fmt.Errorf("import %s: %w", file, err)
	}
	c, p, err := Pending(cfg).Complete(chain)
	if err != nil {
		return nil, nil, fmt.Errorf("import %s: %w", file, err)
	}
	return c, p, nil
}

// WriteIssued writes a completed certificate (chain and key, mode 0600)
// to IssuedPath and sets its Source.
func WriteIssued(cfg *config.Config, c *certs.Certificate) (string, error) {
	path := IssuedPath(cfg, c)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("certificate store %s: %w", filepath.Dir(path), err)
	}
	if err := certs.WritePEM(path, c); err != nil {
		return "", err
	}
	c.Source = path
	return path, nil
}
