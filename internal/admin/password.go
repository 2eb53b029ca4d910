package admin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/users"
)

// PasswordFile is where mailflow admin passwd keeps the web login
// password's argon2id hash (as SMTP AUTH users' passwords): admin.password beside the data directory's other
// secrets (mode 0600).
func PasswordFile(cfg *config.Config) string {
	return filepath.Join(cfg.DataDir(), "admin.password")
}

// MinPasswordLength is the shortest password mailflow admin passwd takes.
const MinPasswordLength = 12

// SetPassword stores the argon2id hash of password at path (0600), replacing
// any earlier one atomically.
func SetPassword(path, password string) error {
	if len(password) < MinPasswordLength {
		return fmt.Errorf("the password has %d characters: use at least %d", len(password), MinPasswordLength)
	}
	hash, err := users.Hash(password, users.DefaultParams)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	// A new file is created 0600 first: WriteAtomic keeps the mode it finds.
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
		f.Close()
	}
	if err := config.WriteAtomic(path, []byte(hash+"\n")); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// passwordOK reports whether password matches the stored hash; false when
// no password was set.
func passwordOK(path, password string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	return users.Verify(strings.TrimSpace(string(b)), password)
}

// passwordChecks bounds concurrent password checks.
var passwordChecks = make(chan struct{}, 4)

// checkSecret is Login.Check: the token (constant-time compare), else the
// password. The file is read on every login, so mailflow admin passwd
// takes effect without a restart.
func (a *API) checkSecret(secret string) (string, bool) {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return "", false
	}
	if tokenOK("Bearer "+secret, a.token) {
		return "admin (token)", true
	}
	// Each argon2id check holds about 19 MiB: a burst of logins waits its
	// turn rather than exhausting memory.
	passwordChecks <- struct{}{}
	ok := passwordOK(a.passwordFile, secret)
	<-passwordChecks
	if ok {
		return "admin (password)", true
	}
	return "", false
}
