package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")

	// A new file gets 0644.
	if err := WriteAtomic(path, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("new file mode = %v", st.Mode().Perm())
	}

	// An existing file keeps its mode and gets the new content.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(path, []byte("two\n")); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, path)); got != "two\n" {
		t.Errorf("content = %q", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600 kept", st.Mode().Perm())
	}

	// A symbolic link stays a link; its target is replaced.
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink("c.yaml", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(link, []byte("three\n")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	if got := string(readFile(t, path)); got != "three\n" {
		t.Errorf("target content = %q", got)
	}

	// No temporary files are left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v", names)
	}

	// A directory that does not exist fails cleanly.
	if err := WriteAtomic(filepath.Join(dir, "missing", "c.yaml"), []byte("x")); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}
