package admin_test

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// The token is created at first start, readable by the owner only, and
// survives a restart (the CLI keeps working across restarts).
func TestTokenCreatedPrivateAtFirstStart(t *testing.T) {
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "onprem.yaml")
	testkit.WriteFile(t, cfg, onprem(testkit.FreePort(t), testkit.FreePort(t), pki.Server1.Name()))
	tokenFile := filepath.Join(dir, "data", "admin.token")
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Fatalf("token exists before the first start: %v", err)
	}

	startStop := func() string {
		t.Helper()
		srv, api := startAPI(t, cfg, nil)
		defer closeServer(t, srv, api)
		if api.TokenFile() != tokenFile {
			t.Fatalf("token file %s, want the default %s", api.TokenFile(), tokenFile)
		}
		st, err := os.Stat(tokenFile)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
		}
		tok, err := admin.ReadToken(tokenFile)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hex.DecodeString(tok); err != nil || len(tok) != 64 {
			t.Fatalf("token %q is not 32 random bytes in hex", tok)
		}
		c := &admin.Client{Base: "http://" + api.Addr(), Token: tok}
		if _, err := c.Status(); err != nil {
			t.Fatalf("the token does not open the API: %v", err)
		}
		return tok
	}
	first := startStop()
	if second := startStop(); second != first {
		t.Fatal("a restart replaced the token")
	}
}

func TestEnsureToken(t *testing.T) {
	dir := t.TempDir()

	// A missing directory is created private.
	path := filepath.Join(dir, "nested", "admin.token")
	tok, err := admin.EnsureToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("token directory: %v %v, want mode 0700", st.Mode().Perm(), err)
	}
	again, err := admin.EnsureToken(path)
	if err != nil || again != tok {
		t.Fatalf("second EnsureToken = %q, %v; want the same token", again, err)
	}

	// Two tokens are never the same.
	other, err := admin.EnsureToken(filepath.Join(dir, "other.token"))
	if err != nil || other == tok {
		t.Fatalf("a second token file got %q (%v), the same as the first", other, err)
	}

	// An empty token file is an error saying what to do, not an empty
	// token that would match an empty header.
	empty := filepath.Join(dir, "empty.token")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := admin.EnsureToken(empty); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("empty token file: %q, %v", got, err)
	}

	// Concurrent first starts agree on one token.
	shared := filepath.Join(dir, "shared.token")
	const n = 8
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = admin.EnsureToken(shared)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("concurrent EnsureToken %d: %q %v, want %q", i, got[i], errs[i], got[0])
		}
	}
}
