package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
)

// Check returns the config.Check that makes an edit acceptable only if the
// whole runtime builds: certificates load, pins match, trust reads. The
// built runtime is handed to keep (may be nil) so a live change applies
// exactly what was validated.
func Check(now time.Time, keep func(*Runtime)) config.Check {
	return func(c *config.Config) error {
		rt, err := BuildFrom(c, now)
		if err != nil {
			return err
		}
		if keep != nil {
			keep(rt)
		}
		return nil
	}
}

// Change runs an edit of the configuration file (one of the config.Set…
// functions, given the file and the check) and applies the validated result
// live. An invalid change is refused with the start-up error and changes
// nothing: neither the file nor the running configuration.
func (s *Node) Change(edit func(path string, check config.Check) error) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	return s.changeLocked(edit)
}

// changeLocked is Change with s.reload held.
func (s *Node) changeLocked(edit func(path string, check config.Check) error) error {
	before, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.path, err)
	}
	var rt *Runtime
	if err := edit(s.path, Check(s.now(), func(r *Runtime) { rt = r })); err != nil {
		return err
	}
	if rt == nil {
		return errors.New("internal error: the change was saved but not validated; run mailflow serve's reload (SIGHUP)")
	}
	if err := s.apply(rt); err != nil {
		// The file was valid but could not be made live (a listener could
		// not open): put the file back so file and server agree.
		if rerr := config.WriteAtomic(s.path, before); rerr != nil {
			return fmt.Errorf("%w; the change is saved in %s but NOT live, and restoring the file failed: %v", err, s.path, rerr)
		}
		return fmt.Errorf("%w; the change was not applied and %s was restored", err, s.path)
	}
	return nil
}

// SetConnector changes fields of a receive or send connector live.
func (s *Node) SetConnector(kind, name string, fields map[string]any) error {
	return s.Change(func(path string, check config.Check) error {
		return config.SetConnectorFields(path, kind, name, fields, check)
	})
}

// RemoveCertificate removes the certificate with the thumbprint live. A
// certificate still pinned by a connector is refused by validation.
func (s *Node) RemoveCertificate(thumbprint string) error {
	c := s.Runtime().Store.FindThumbprint(thumbprint)
	if c == nil {
		return fmt.Errorf("no certificate with thumbprint %s; list them with mailflow cert list", thumbprint)
	}
	return s.Change(func(path string, check config.Check) error {
		return config.RemoveCertificate(path, c.Source, check)
	})
}

func sameFile(a, b string) bool {
	return filepath.Clean(a) == filepath.Clean(b) || strings.EqualFold(filepath.Clean(a), filepath.Clean(b))
}
