// Package atomicfile replaces files so that a crash leaves either the old
// or the new content, never a mix: the configuration file, certificate
// files, the users file. One implementation, because "atomic" has three
// parts that are easy to get subtly wrong (fsync the data, rename in the same
// directory, fsync the directory) and every writer needs all three.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data and sets the file's permission bits to mode
// whatever they were: a temporary file in the same directory, fsync,
// rename over path, fsync of the directory. A symbolic link at path is
// followed, so the link stays and its target is replaced.
func Write(path string, data []byte, mode fs.FileMode) error {
	return write(path, data, mode.Perm(), false)
}

// WriteKeepMode is Write keeping the existing file's permission bits
// (newMode for a file that does not exist yet).
func WriteKeepMode(path string, data []byte, newMode fs.FileMode) error {
	return write(path, data, newMode.Perm(), true)
}

func write(path string, data []byte, mode fs.FileMode, keepMode bool) (err error) {
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
	// The mode is set before the data is written, so a secret is never
	// readable by others, not even in the temporary file.
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: set mode: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
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
	// Some file systems refuse fsync on a directory; the rename is done.
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("write %s: fsync directory: %w", path, err)
	}
	return nil
}
