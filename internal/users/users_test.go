package users

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestStoreLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.SetParams(cheap)
	u, err := s.NewUser("Scanner01", "pw-one", []string{"scanner@contoso.com", "*@devices.contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(u); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(u); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "pw-one") || !strings.Contains(string(data), "$argon2id$v=19$") {
		t.Fatalf("file holds the password or no argon2id hash:\n%s", data)
	}
	if _, err := s.Authenticate("scanner01", "pw-one"); err != nil {
		t.Fatalf("right password (name case-insensitive): %v", err)
	}
	if _, err := s.Authenticate("scanner01", "pw-two"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.Authenticate("nobody", "pw-one"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	h, _ := Hash("pw-two", cheap)
	if err := s.SetPassword("SCANNER01", h); err != nil {
		t.Fatal(err)
	}
	// A second store on the same file sees the change (what a node reloads).
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Authenticate("Scanner01", "pw-two")
	if err != nil {
		t.Fatalf("new password after reopen: %v", err)
	}
	for addr, want := range map[string]bool{"scanner@contoso.com": true, "SCANNER@Contoso.com": true, "x@devices.contoso.com": true,
		"ceo@contoso.com": false, "": false, "x@evil-devices.contoso.com": false} {
		if got.MaySendAs(addr) != want {
			t.Errorf("MaySendAs(%q) = %v, want %v", addr, !want, want)
		}
	}
	if l := s2.List(); len(l) != 1 || l[0].Hash != "" {
		t.Fatalf("List: %+v", l)
	}
	if err := s2.Remove("scanner01"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Remove("scanner01"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("second remove: %v", err)
	}
}

func TestStoreRefusesReadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	os.WriteFile(path, []byte(`{"users":[]}`), 0o644)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Open of a 0644 users file: %v", err)
	}
}

func TestValidation(t *testing.T) {
	for _, n := range []string{"", "a b", strings.Repeat("x", 65), "a\x00b", "ä"} {
		if CheckName(n) == nil {
			t.Errorf("name %q accepted", n)
		}
	}
	for _, p := range []string{"", "a\nb", strings.Repeat("x", MaxPassword+1)} {
		if CheckPassword(p) == nil {
			t.Errorf("password %q accepted", p)
		}
	}
	for _, a := range []string{"nodomain", "@contoso.com", "a@", "<a@b>"} {
		if CheckSendAs(a) == nil {
			t.Errorf("send-as %q accepted", a)
		}
	}
	for _, h := range []string{"", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "$bcrypt$x"} {
		if CheckHash(h) == nil {
			t.Errorf("hash %q accepted", h)
		}
	}
}

// TestWriteRestoresMode0600: a users file that was made readable by others
// while the server ran (chmod, a restore from a backup) is written back
// with mode 0600 by the next change: every write leaves the hashes private.
func TestWriteRestoresMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.SetParams(cheap)
	for i, name := range []string{"one", "two"} {
		u, err := s.NewUser(name, "pw-"+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add(u); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %v (%v) after a change, want 0600", st.Mode().Perm(), err)
	}
}

// TestReloadDuringChanges: a reload (SIGHUP, the admin API) while users
// are being added never brings back the file as it was before a change
// that has already returned: every added user is live at the end.
func TestReloadDuringChanges(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	s.SetParams(cheap)
	const n = 40
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			u, err := s.NewUser(fmt.Sprintf("user%02d", i), "pw", nil)
			if err == nil {
				err = s.Add(u)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for reloading := true; reloading; {
		select {
		case <-done:
			reloading = false
		default:
			if err := s.Reload(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := s.Len(); got != n {
		t.Fatalf("%d users live after %d adds and concurrent reloads", got, n)
	}
}
