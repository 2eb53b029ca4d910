// Package mailbox owns local delivery for accepted domains: one maildir per
// recipient under <dir>/<domain>/<local>/ (tmp, new, cur), one file per
// message named <message id>.eml.
//
// Delivery is durable before Deliver returns: the message is written to
// tmp/, fsynced, renamed into new/ and the directory is fsynced, so the
// queue may forget the message once Deliver succeeds. Delivery is
// idempotent per message id: a redelivery after a crash (the queue retries
// anything not confirmed) finds the existing file and does not duplicate.
//
// Every file operation goes through an os.Root, so neither a crafted
// address nor a symbolic link planted in the tree can reach outside the
// store; addresses are also validated and lower-cased (SplitRecipient).
package mailbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Store is a directory of maildirs. It is safe for concurrent use.
type Store struct {
	dir  string // absolute, cleaned
	root *os.Root
	seq  atomic.Uint64
}

const fileSuffix = ".eml"

// Open opens (creating if needed) the store rooted at dir.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mailbox store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create mailbox store %s: %w", abs, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("open mailbox store %s: %w", abs, err)
	}
	return &Store{dir: abs, root: root}, nil
}

// Dir is the absolute directory of the store.
func (s *Store) Dir() string { return s.dir }

// Close releases the store's directory handle.
func (s *Store) Close() error { return s.root.Close() }

// Deliver stores body for rcpt under msgID and returns the file's path.
// When the message is already in the mailbox (new/ or, once read, cur/)
// the existing path is returned and body is not read.
func (s *Store) Deliver(rcpt, msgID string, body io.Reader) (string, error) {
	local, domain, err := SplitRecipient(rcpt)
	if err != nil {
		return "", err
	}
	if err := checkID(msgID); err != nil {
		return "", err
	}
	box := domain + "/" + local
	if existing, ok, err := s.find(box, msgID); err != nil {
		return "", fmt.Errorf("deliver %s to %s: %w", msgID, rcpt, err)
	} else if ok {
		return existing, nil
	}
	if err := s.ensureMaildir(domain, local); err != nil {
		return "", fmt.Errorf("deliver %s to %s: %w", msgID, rcpt, err)
	}

	tmp := fmt.Sprintf("%s/tmp/%s.%d.%d.%d", box, msgID, time.Now().UnixNano(), os.Getpid(), s.seq.Add(1))
	final := box + "/new/" + msgID + fileSuffix
	if err := s.writeSynced(tmp, body); err != nil {
		_ = s.root.Remove(tmp)
		return "", fmt.Errorf("deliver %s to %s: %w", msgID, rcpt, err)
	}
	if err := s.root.Rename(tmp, final); err != nil {
		_ = s.root.Remove(tmp)
		return "", fmt.Errorf("deliver %s to %s: %w", msgID, rcpt, err)
	}
	// The rename is only durable once the directory entry is on disk.
	if err := s.syncDir(box + "/new"); err != nil {
		return "", fmt.Errorf("deliver %s to %s: %w", msgID, rcpt, err)
	}
	return s.abs(final), nil
}

func (s *Store) writeSynced(name string, body io.Reader) error {
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if _, err := io.Copy(f, body); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("fsync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	return nil
}

// ensureMaildir creates <domain>/<local>/{tmp,new,cur} and, the first time,
// fsyncs every directory whose entries changed so that the new mailbox
// survives a crash along with the first message.
func (s *Store) ensureMaildir(domain, local string) error {
	box := domain + "/" + local
	if _, err := s.root.Stat(box + "/new"); err == nil {
		return nil
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := s.root.MkdirAll(box+"/"+sub, 0o700); err != nil {
			return fmt.Errorf("create maildir %s: %w", box, err)
		}
	}
	for _, d := range []string{box, domain, "."} {
		if err := s.syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) syncDir(name string) error {
	d, err := s.root.Open(name)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", name, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", name, err)
	}
	return nil
}

// find looks for msgID in new/ and cur/ (where a maildir reader moves it,
// adding ":2,<flags>").
func (s *Store) find(box, msgID string) (string, bool, error) {
	name := box + "/new/" + msgID + fileSuffix
	if _, err := s.root.Stat(name); err == nil {
		return s.abs(name), true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	entries, err := fs.ReadDir(s.root.FS(), box+"/cur")
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	prefix := msgID + fileSuffix
	for _, e := range entries {
		if n := e.Name(); n == prefix || strings.HasPrefix(n, prefix+":") {
			return s.abs(box + "/cur/" + n), true, nil
		}
	}
	return "", false, nil
}

// List returns the paths of rcpt's messages (new/ then cur/), each sorted
// by name, which is arrival order for queue ids. A mailbox that has never
// received mail is empty, not an error.
func (s *Store) List(rcpt string) ([]string, error) {
	local, domain, err := SplitRecipient(rcpt)
	if err != nil {
		return nil, err
	}
	box := domain + "/" + local
	var out []string
	for _, sub := range []string{"new", "cur"} {
		entries, err := fs.ReadDir(s.root.FS(), box+"/"+sub)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list mailbox %s: %w", rcpt, err)
		}
		var names []string
		for _, e := range entries {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		for _, n := range names {
			out = append(out, s.abs(box+"/"+sub+"/"+n))
		}
	}
	return out, nil
}

// Read returns the content of a message file named by Deliver or List.
// Paths outside the store, including through symbolic links, are refused.
func (s *Store) Read(path string) ([]byte, error) {
	rel, err := s.rel(path)
	if err != nil {
		return nil, err
	}
	b, err := s.root.ReadFile(rel)
	if err != nil {
		return nil, fmt.Errorf("read message %s: %w", path, err)
	}
	return b, nil
}

func (s *Store) rel(path string) (string, error) {
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.dir, p)
	}
	rel, err := filepath.Rel(s.dir, filepath.Clean(p))
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || strings.ContainsRune(path, 0) {
		return "", fmt.Errorf("read message %q: path is outside the mailbox store %s", path, s.dir)
	}
	return rel, nil
}

func (s *Store) abs(rel string) string {
	return filepath.Join(s.dir, filepath.FromSlash(rel))
}
