package probe

import (
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
