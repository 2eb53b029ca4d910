package testpeer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSplitAddr(t *testing.T) {
	for _, c := range []struct {
		addr, local, domain string
		ok                  bool
	}{
		{"user@contoso.com", "user", "contoso.com", true},
		{"User@Contoso.COM", "user", "contoso.com", true},
		{"user", "", "", false},
		{"@contoso.com", "", "", false},
		{"user@", "", "", false},
		{"../x@contoso.com", "", "", false},
		{"u/x@contoso.com", "", "", false},
		{"user@../etc", "", "", false},
		{".hidden@contoso.com", "", "", false},
		{"a b@contoso.com", "", "", false},
	} {
		local, domain, err := splitAddr(c.addr)
		if (err == nil) != c.ok || local != c.local || domain != c.domain {
			t.Errorf("splitAddr(%q) = %q, %q, %v; want %q, %q, ok=%v", c.addr, local, domain, err, c.local, c.domain, c.ok)
		}
	}
}

func TestMaildirMessages(t *testing.T) {
	dir := t.TempDir()
	box := filepath.Join(dir, "contoso.com", "user")
	for _, f := range []string{"new/2.host", "new/1.host", "cur/0.host:2,S", "tmp/3.host"} {
		p := filepath.Join(box, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := MaildirMessages(dir, "User@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(box, "new/1.host"), filepath.Join(box, "new/2.host"), filepath.Join(box, "cur/0.host:2,S")}
	if !slices.Equal(got, want) {
		t.Errorf("MaildirMessages = %v, want %v (tmp/ is never a delivery)", got, want)
	}
	if got, err := MaildirMessages(dir, "nobody@contoso.com"); err != nil || len(got) != 0 {
		t.Errorf("empty maildir: %v, %v", got, err)
	}
	if _, err := MaildirMessages(dir, "../user@contoso.com"); err == nil {
		t.Error("an address leaving the tree was accepted")
	}
}
