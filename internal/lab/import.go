package lab

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/node"
)

// importCertificate imports file through the admin API as an admin would:
// without force, so the server's renewal guard checks it. A refusal is
// shown in the step with every finding and fix; when forceWhy says why the
// scenario needs the certificate anyway (a deliberate negative control),
// it is then imported with force, which the server logs as warnings.
// Without a reason the refusal is the step's error.
func importCertificate(s *Step, who string, c *admin.Client, file, forceWhy string) (admin.ImportResult, error) {
	res, err := c.ImportCertificate(admin.ImportRequest{File: file})
	var apiErr *admin.APIError
	if err == nil || !errors.As(err, &apiErr) || len(apiErr.Findings) == 0 {
		if err == nil {
			s.evidence(fmt.Sprintf("[%s admin] POST /api/v1/certificates {\"file\":%q} → %s", who, filepath.Base(file), infoLine(res.Info)))
		}
		return res, err
	}
	s.evidence(fmt.Sprintf("[%s admin] POST /api/v1/certificates {\"file\":%q} → %d, refused by the renewal guard:", who, filepath.Base(file), apiErr.Code))
	for _, f := range apiErr.Findings {
		s.evidence("  " + f.String())
	}
	if forceWhy == "" {
		return admin.ImportResult{}, err
	}
	res, err = c.ImportCertificate(admin.ImportRequest{File: file, ImportOptions: node.ImportOptions{Force: true}})
	if err != nil {
		return admin.ImportResult{}, err
	}
	s.evidence(fmt.Sprintf("[%s admin] POST /api/v1/certificates {\"file\":%q,\"force\":true} (%s) → %s; the server logged the problems as warnings", who, filepath.Base(file), forceWhy, infoLine(res.Info)))
	return res, nil
}
