package config

import (
	"io/fs"

	"github.com/mailflowhq/mailflow/internal/atomicfile"
)

// WriteAtomic replaces path with data so that a crash leaves either the old
// or the new file, never a mix: write a temporary file in the same
// directory, fsync it, rename it over path, fsync the directory. The file
// keeps its permission bits (0644 for a new file); a symbolic link is
// followed so the link stays and its target is replaced.
func WriteAtomic(path string, data []byte) error {
	return atomicfile.WriteKeepMode(path, data, 0o644)
}

// WriteAtomicMode is WriteAtomic with the file's permission bits set to
// mode whatever they were: for files that hold secrets (0600), which must
// not stay readable by others because someone widened the old file's mode.
func WriteAtomicMode(path string, data []byte, mode fs.FileMode) error {
	return atomicfile.Write(path, data, mode)
}
