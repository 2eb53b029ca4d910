package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/users"
)

// TestReloadReadsUsers: a users.json changed by another writer (the
// offline CLI, an administrator) is picked up by Reload, as SIGHUP does;
// a users file readable by others is refused and the running users stay.
func TestReloadReadsUsers(t *testing.T) {
	f := newFixture(t)
	srv := start(t, f.cfg)
	path := filepath.Join(f.dir, "data", users.FileName)
	other, err := users.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	other.SetParams(users.Params{Memory: 64, Time: 1, Threads: 1})
	u, err := other.NewUser("printer", "printer-Pw-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Add(u); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Users().Lookup("printer"); ok {
		t.Fatal("the running node saw the file change before a reload")
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Users().Authenticate("printer", "printer-Pw-1"); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("reload with a 0644 users file: %v", err)
	}
	if _, ok := srv.Users().Lookup("printer"); !ok {
		t.Fatal("a refused users file dropped the running users")
	}
}
