package mailbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDeliverListRead(t *testing.T) {
	s := openStore(t)
	body := "Subject: hi\r\n\r\nhello\r\n"
	path, err := s.Deliver("Alice@Contoso.COM", "0000018F00000001", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(s.Dir(), "contoso.com", "alice", "new", "0000018F00000001.eml")
	if path != want {
		t.Fatalf("path = %s, want %s", path, want)
	}
	got, err := s.Read(path)
	if err != nil || string(got) != body {
		t.Fatalf("Read = %q, %v; want %q", got, err, body)
	}
	if _, err := s.Deliver("alice@contoso.com", "0000018F00000002", strings.NewReader("second")); err != nil {
		t.Fatal(err)
	}
	list, err := s.List("ALICE@contoso.com.")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || filepath.Base(list[0]) != "0000018F00000001.eml" || filepath.Base(list[1]) != "0000018F00000002.eml" {
		t.Fatalf("List = %v", list)
	}
	// Nothing may be left behind in tmp/.
	tmp, err := os.ReadDir(filepath.Join(s.Dir(), "contoso.com", "alice", "tmp"))
	if err != nil || len(tmp) != 0 {
		t.Fatalf("tmp/ = %v, %v; want empty", tmp, err)
	}
	empty, err := s.List("nobody@contoso.com")
	if err != nil || len(empty) != 0 {
		t.Fatalf("List(unknown) = %v, %v", empty, err)
	}
}

func TestDeliverIsIdempotent(t *testing.T) {
	s := openStore(t)
	first, err := s.Deliver("bob@contoso.com", "ABCDEF0123456789", strings.NewReader("original"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Deliver("bob@contoso.com", "ABCDEF0123456789", strings.NewReader("redelivered after crash"))
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("redelivery path %s != %s", again, first)
	}
	list, _ := s.List("bob@contoso.com")
	if len(list) != 1 {
		t.Fatalf("List after redelivery = %v, want one message", list)
	}

	// A reader moved the message to cur/ with flags: still no duplicate.
	cur := filepath.Join(s.Dir(), "contoso.com", "bob", "cur", "ABCDEF0123456789.eml:2,S")
	if err := os.Rename(first, cur); err != nil {
		t.Fatal(err)
	}
	third, err := s.Deliver("bob@contoso.com", "ABCDEF0123456789", strings.NewReader("again"))
	if err != nil {
		t.Fatal(err)
	}
	if third != cur {
		t.Fatalf("redelivery after read = %s, want %s", third, cur)
	}
	list, _ = s.List("bob@contoso.com")
	if len(list) != 1 {
		t.Fatalf("List after read + redelivery = %v", list)
	}
}

func TestDeliverRefusesTraversal(t *testing.T) {
	s := openStore(t)
	tests := []struct {
		name, rcpt, id string
		want           error
	}{
		{"dotdot local", "../../etc@contoso.com", "A1", ErrInvalidAddress},
		{"dotdot inside local", "a..b@contoso.com", "A1", ErrInvalidAddress},
		{"bare dotdot local", "..@contoso.com", "A1", ErrInvalidAddress},
		{"hidden local", ".profile@contoso.com", "A1", ErrInvalidAddress},
		{"slash local", "a/b@contoso.com", "A1", ErrInvalidAddress},
		{"quoted slash local", `"a/../../b"@contoso.com`, "A1", ErrInvalidAddress},
		{"backslash local", `a\b@contoso.com`, "A1", ErrInvalidAddress},
		{"NUL local", "a\x00b@contoso.com", "A1", ErrInvalidAddress},
		{"newline local", "a\nb@contoso.com", "A1", ErrInvalidAddress},
		{"invalid UTF-8", "a\xffb@contoso.com", "A1", ErrInvalidAddress},
		{"dotdot domain", "a@..", "A1", ErrInvalidAddress},
		{"traversing domain", "a@contoso.com/../../etc", "A1", ErrInvalidAddress},
		{"slash domain", "a@contoso/com", "A1", ErrInvalidAddress},
		{"NUL domain", "a@contoso.com\x00", "A1", ErrInvalidAddress},
		{"IP literal", "a@[127.0.0.1]", "A1", ErrInvalidAddress},
		{"no domain", "postmaster", "A1", ErrInvalidAddress},
		{"empty local", "@contoso.com", "A1", ErrInvalidAddress},
		{"long local", strings.Repeat("a", 65) + "@contoso.com", "A1", ErrInvalidAddress},
		{"traversing id", "a@contoso.com", "../../../tmp/x", ErrInvalidID},
		{"slash id", "a@contoso.com", "a/b", ErrInvalidID},
		{"NUL id", "a@contoso.com", "a\x00", ErrInvalidID},
		{"hidden id", "a@contoso.com", ".x", ErrInvalidID},
		{"empty id", "a@contoso.com", "", ErrInvalidID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Deliver(tc.rcpt, tc.id, strings.NewReader("x"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Deliver(%q, %q) error = %v, want %v", tc.rcpt, tc.id, err, tc.want)
			}
		})
	}
	// Nothing may have been created anywhere.
	entries, err := os.ReadDir(s.Dir())
	if err != nil || len(entries) != 0 {
		t.Fatalf("store has %v after refused deliveries (err %v)", entries, err)
	}
}

func TestReadRefusesPathsOutsideStore(t *testing.T) {
	parent := t.TempDir()
	secret := filepath.Join(parent, "secret.txt")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(parent, "mail"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Deliver("a@contoso.com", "A1", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// A symbolic link planted inside the store that points outside.
	link := filepath.Join(s.Dir(), "contoso.com", "a", "new", "B2.eml")
	if err := os.Symlink("../../../../secret.txt", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		secret,
		filepath.Join(s.Dir(), "..", "secret.txt"),
		"../secret.txt",
		s.Dir(),
		link,
		filepath.Join(s.Dir(), "a\x00"),
	} {
		if b, err := s.Read(p); err == nil {
			t.Errorf("Read(%q) = %q, want refusal", p, b)
		}
	}
}

func TestDeliverRefusesSymlinkedMailboxOutside(t *testing.T) {
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	if err := os.Mkdir(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(parent, "mail"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// An attacker with write access to the tree links a domain outside it.
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "contoso.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deliver("a@contoso.com", "A1", strings.NewReader("x")); err == nil {
		t.Fatal("Deliver followed a symlink outside the store")
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Fatalf("files written outside the store: %v", entries)
	}
}

func FuzzSplitRecipient(f *testing.F) {
	for _, s := range []string{"a@contoso.com", "../x@y", `"a b"@c.d`, "a@b@c.d", "A+tag@Contoso.COM.", "\x00@\x00", "<a@b.c>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rcpt string) {
		local, domain, err := SplitRecipient(rcpt)
		if err != nil {
			return
		}
		for _, part := range []string{local, domain} {
			if part == "" || strings.ContainsAny(part, "/\\\x00") || strings.Contains(part, "..") || strings.HasPrefix(part, ".") {
				t.Fatalf("SplitRecipient(%q) = %q, %q: unsafe directory name", rcpt, local, domain)
			}
			if part != strings.ToLower(part) {
				t.Fatalf("SplitRecipient(%q) = %q, %q: not lower-cased", rcpt, local, domain)
			}
		}
	})
}
