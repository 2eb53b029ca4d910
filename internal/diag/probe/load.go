package probe

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// maxCertificateFiles bounds the files read from one --certs directory.
const maxCertificateFiles = 1000

// LoadCertificateStore loads the certificates named by paths (files, or
// directories whose regular files are read, not recursively) into a store,
// as the server's certificates for RecommendCertificate. PFX files are
// opened with the password in passwordFile. In a directory, files that hold
// no certificate (keys, password files, notes) are skipped and files that
// fail otherwise are reported as warnings; a file named explicitly must
// load.
func LoadCertificateStore(paths []string, passwordFile string) (*certs.Store, []string, error) {
	var (
		list     []*certs.Certificate
		warnings []string
	)
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("load certificates %s: %w", p, err)
		}
		if !st.IsDir() {
			c, err := certs.LoadFile(p, "", passwordFile)
			if err != nil {
				return nil, nil, err
			}
			list = append(list, c)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, nil, fmt.Errorf("load certificates %s: %w", p, err)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		found := 0
		for i, e := range entries {
			if i == maxCertificateFiles {
				warnings = append(warnings, fmt.Sprintf("%s: only the first %d files were read", p, maxCertificateFiles))
				break
			}
			if !e.Type().IsRegular() {
				continue
			}
			file := filepath.Join(p, e.Name())
			c, err := certs.LoadFile(file, "", passwordFile)
			switch {
			case errors.Is(err, certs.ErrNoCertificate):
				continue
			case err != nil:
				warnings = append(warnings, err.Error())
				continue
			}
			list = append(list, c)
			found++
		}
		if found == 0 {
			return nil, warnings, fmt.Errorf("load certificates %s: %w in any file of the directory (PEM, DER or PFX expected)", p, certs.ErrNoCertificate)
		}
	}
	return certs.NewStore(list...), warnings, nil
}

// LoadRoots returns the trusted roots of a validating sender: the system
// roots (unless system is false) plus every certificate in caFiles.
func LoadRoots(caFiles []string, system bool) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if system {
		if sys, err := x509.SystemCertPool(); err == nil {
			pool = sys
		}
	}
	if err := AppendRoots(pool, caFiles); err != nil {
		return nil, err
	}
	return pool, nil
}

// AppendRoots adds every certificate of caFiles (PEM with one or more
// certificates, or one DER certificate) to pool.
func AppendRoots(pool *x509.CertPool, caFiles []string) error {
	for _, f := range caFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("load CA file %s: %w", f, err)
		}
		if block, _ := pem.Decode(data); block != nil {
			if !pool.AppendCertsFromPEM(data) {
				return fmt.Errorf("load CA file %s: no certificate in the PEM data", f)
			}
			continue
		}
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return fmt.Errorf("load CA file %s: neither PEM nor a DER certificate: %w", f, err)
		}
		pool.AddCert(c)
	}
	return nil
}
