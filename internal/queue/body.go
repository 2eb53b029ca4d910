package queue

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Body is a message body on its way into the Store. A small body is held
// in memory (Bytes); a large one was streamed by the receiver to a spool
// file (Path) that is already fsynced, so that no process ever holds a
// whole large message in memory.
//
// Ownership of a spool file: Store.Put may take the file over (BoltStore
// renames it into its own directory; a database store streams Open into
// its own storage). After Put returns, successfully or not, the caller
// removes whatever is still at Path (RemoveSpool); a store that copied the
// file leaves it for the caller to remove.
type Body struct {
	// Bytes is the body when held in memory; nil when Path is set.
	Bytes []byte
	// Path is the spool file holding the body when it is not in memory.
	Path string
	// Size is the body's length in bytes.
	Size int64
}

// BytesBody wraps a body held in memory.
func BytesBody(b []byte) Body { return Body{Bytes: b, Size: int64(len(b))} }

// InMemory reports whether the body is held in memory.
func (b Body) InMemory() bool { return b.Path == "" }

// Open reads the body from memory or from its spool file.
func (b Body) Open() (io.ReadCloser, error) {
	if b.InMemory() {
		return io.NopCloser(bytes.NewReader(b.Bytes)), nil
	}
	f, err := os.Open(b.Path)
	if err != nil {
		return nil, fmt.Errorf("open spooled message body: %w", err)
	}
	return f, nil
}

// RemoveSpool deletes the body's spool file if it is still there (the
// store did not take it over). A body in memory has nothing to remove.
func (b Body) RemoveSpool() error {
	if b.InMemory() {
		return nil
	}
	if err := os.Remove(b.Path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove spool file: %w", err)
	}
	return nil
}

// spoolPrefix names spool files, so that recovery removes only its own.
const spoolPrefix = "data-"

// CreateSpoolFile creates a new spool file in dir for a body being
// received. The caller writes the body, calls Sync before handing it to
// Put, and removes it on any failure.
func CreateSpoolFile(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, spoolPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("create spool file in %s: %w", dir, err)
	}
	return f, nil
}

// cleanSpool removes spool files left behind by a process that stopped
// while receiving: none of them was acknowledged (a body is in the store
// before 250 is sent), so none is a lost message.
func cleanSpool(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read spool directory %s: %w", dir, err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), spoolPrefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return n, fmt.Errorf("remove half-written spool file: %w", err)
		}
		n++
	}
	return n, nil
}
