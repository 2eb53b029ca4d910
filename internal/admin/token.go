package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnsureToken returns the token stored at path, creating a new random one
// (mode 0600) when the file does not exist.
func EnsureToken(path string) (string, error) {
	tok, err := ReadToken(path)
	if err == nil {
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate admin token: %w", err)
	}
	tok = hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	// Write the token completely under a temporary name (CreateTemp makes
	// it 0600), then link it into place: the link fails if another start got there first, and no
	// reader ever sees a half-written (empty) token file.
	f, err := os.CreateTemp(filepath.Dir(path), ".admin-token-*")
	if err != nil {
		return "", fmt.Errorf("create admin token %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write admin token %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("sync admin token %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write admin token %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ReadToken(path)
		}
		return "", fmt.Errorf("create admin token %s: %w", path, err)
	}
	return tok, nil
}

// ReadToken reads the token file.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("admin token file %s is empty: delete it and restart mailflow serve to generate a new one", path)
	}
	return tok, nil
}

func tokenOK(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}
