package admin_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/users"
)

// TestUsersLive: users added, changed and removed through the API are live
// in the node's store at once and written to users.json (0600); hashes
// never come back; mistakes get the right status.
func TestUsersLive(t *testing.T) {
	e := newEnv(t)
	cheap := users.Params{Memory: 64, Time: 1, Threads: 1}
	h1, _ := users.Hash("first-Password", cheap)
	h2, _ := users.Hash("second-Password", cheap)
	if err := e.client.AddUser("scanner", h1, []string{"scanner@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Users().Authenticate("scanner", "first-Password"); err != nil {
		t.Fatalf("added user does not authenticate: %v", err)
	}
	var ae *admin.APIError
	if err := e.client.AddUser("SCANNER", h1, nil); !errors.As(err, &ae) || ae.Code != http.StatusConflict {
		t.Fatalf("duplicate add: %v", err)
	}
	if err := e.client.AddUser("bad name", h1, nil); !errors.As(err, &ae) || ae.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad name: %v", err)
	}
	if err := e.client.AddUser("x", "not-a-hash", nil); !errors.As(err, &ae) || ae.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad hash: %v", err)
	}
	if err := e.client.SetUserPassword("scanner", h2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Users().Authenticate("scanner", "first-Password"); err == nil {
		t.Fatal("old password still works")
	}
	if _, err := e.srv.Users().Authenticate("scanner", "second-Password"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	list, err := e.client.Users()
	if err != nil || len(list) != 1 || list[0].Hash != "" || list[0].SendAs[0] != "scanner@contoso.com" {
		t.Fatalf("list: %+v %v", list, err)
	}
	path := filepath.Join(e.dir, "data", "users.json")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users.json: %v %v", err, st)
	}
	if err := e.client.RemoveUser("scanner"); err != nil {
		t.Fatal(err)
	}
	if err := e.client.RemoveUser("scanner"); !errors.As(err, &ae) || ae.Code != http.StatusNotFound {
		t.Fatalf("second remove: %v", err)
	}
	if data, _ := os.ReadFile(path); strings.Contains(string(data), "scanner") {
		t.Fatalf("removed user still in the file:\n%s", data)
	}
}
