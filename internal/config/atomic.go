package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteAtomic replaces path with data so that a crash leaves either the old
// or the new file, never a mix: write a temporary file in the same
// directory, fsync it, rename it over path, fsync the directory. The file
// keeps its permission bits (0644 for a new file); a symbolic link is
// followed so the link stays and its target is replaced.
func WriteAtomic(path string, data []byte) error {
	return writeAtomic(path, data, 0o644, true)
}

// WriteAtomicMode is WriteAtomic with the file's permission bits set to
// mode whatever they were: for files that hold secrets (0600), which must
// not stay readable by others because someone widened the old file's mode.
func WriteAtomicMode(path string, data []byte, mode fs.FileMode) error {
	return writeAtomic(path, data, mode.Perm(), false)
}

// writeAtomic writes with mode, or with the existing file's mode when
// keepMode is set.
func writeAtomic(path string, data []byte, mode fs.FileMode, keepMode bool) (err error) {
	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved
	}
	if keepMode {
		if st, err := os.Stat(target); err == nil {
			mode = st.Mode().Perm()
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: set mode: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The rename is durable only once the directory entry is on disk.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: open directory for fsync: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync directory: %w", path, err)
	}
	return nil
}
