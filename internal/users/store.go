package users

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
)

// FileName is the store's file in the data directory.
const FileName = "users.json"

// Path returns the users file of a configuration.
func Path(cfg *config.Config) string { return filepath.Join(cfg.DataDir(), FileName) }

// User is one submission account.
type User struct {
	Name string `json:"name"`
	Hash string `json:"hash,omitempty"`
	// SendAs lists the addresses the user may send as (MAIL FROM and
	// From:); "*@domain" allows a whole domain. Empty: any sender.
	SendAs  []string  `json:"send_as,omitempty"`
	Changed time.Time `json:"changed"`
}

// MaySendAs reports whether the user may use addr as a sender.
func (u *User) MaySendAs(addr string) bool {
	if len(u.SendAs) == 0 {
		return true
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	for _, a := range u.SendAs {
		if strings.EqualFold(a, addr) {
			return true
		}
		if strings.HasPrefix(a, "*@") && strings.EqualFold(a[1:], addr[at:]) {
			return true
		}
	}
	return false
}

// Errors a caller tells apart.
var (
	ErrInvalidCredentials = errors.New("invalid user name or password")
	ErrNoSuchUser         = errors.New("no such user")
	ErrExists             = errors.New("user already exists")
)

// Store holds the users of one server. It is safe for concurrent use.
type Store struct {
	path   string
	params Params
	now    func() time.Time

	mu    sync.RWMutex
	users map[string]*User // by lower-case name

	dummy parsed        // verified against for unknown users (timing)
	slots chan struct{} // bounds concurrent hash computations (memory)
}

// maxConcurrentChecks bounds simultaneous argon2id computations: each holds
// Params.Memory, and a flood of AUTH attempts must not exhaust memory.
const maxConcurrentChecks = 4

// Open loads the store at path; a missing file is an empty store (the file
// is created by the first change). A file readable by others is refused:
// it holds password hashes.
func Open(path string) (*Store, error) {
	s := &Store{path: path, params: DefaultParams, now: time.Now, users: map[string]*User{},
		slots: make(chan struct{}, maxConcurrentChecks)}
	h, err := Hash("mailflow-dummy", s.params)
	if err != nil {
		return nil, err
	}
	s.dummy, _ = parseHash(h)
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// SetParams changes the cost of hashes made from now on (tests use a low
// cost); existing hashes keep theirs.
func (s *Store) SetParams(p Params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.params = p
	if h, err := Hash("mailflow-dummy", p); err == nil {
		s.dummy, _ = parseHash(h)
	}
}

// Params returns the cost used for new hashes.
func (s *Store) Params() Params {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.params
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

type fileFormat struct {
	Users []*User `json:"users"`
}

// load reads the file under the write lock, as change writes it: a reload
// that read the file before a change was written must not make the users
// of before that change live again after it.
func (s *Store) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("users file %s: %w", s.path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("users file %s has mode %04o, readable by others, and it holds password hashes. Fix: chmod 600 %s", s.path, st.Mode().Perm(), s.path)
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("users file %s: %w", s.path, err)
	}
	var f fileFormat
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("users file %s: %w. Fix: restore it from a backup, or remove it and add the users again with mailflow user add", s.path, err)
	}
	users := map[string]*User{}
	for i, u := range f.Users {
		if u == nil {
			return fmt.Errorf("users file %s: entry %d is empty", s.path, i)
		}
		if err := validate(u); err != nil {
			return fmt.Errorf("users file %s: entry %d: %w", s.path, i, err)
		}
		k := strings.ToLower(u.Name)
		if users[k] != nil {
			return fmt.Errorf("users file %s: user %q appears twice. Fix: mailflow user remove %s, then add it again", s.path, u.Name, u.Name)
		}
		users[k] = u
	}
	s.users = users
	return nil
}

// Reload re-reads the file (after another process changed it).
func (s *Store) Reload() error { return s.load() }

func validate(u *User) error {
	if err := CheckName(u.Name); err != nil {
		return err
	}
	if err := CheckHash(u.Hash); err != nil {
		return fmt.Errorf("user %q: %w", u.Name, err)
	}
	for _, a := range u.SendAs {
		if err := CheckSendAs(a); err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
	}
	return nil
}

// CheckName says what is wrong with a user name (nil: fine): 1–64
// letters, digits and . _ - @ +.
func CheckName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("user name %q must be 1 to 64 characters", name)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._-@+", r):
		default:
			return fmt.Errorf("user name %q: character %q is not allowed (use letters, digits and . _ - @ +)", name, r)
		}
	}
	return nil
}

// CheckSendAs says what is wrong with one SendAs entry (nil: fine): it
// must be local@domain or *@domain.
func CheckSendAs(a string) error {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.ContainsAny(a, " \t<>\"") || len(a) > 320 {
		return fmt.Errorf("send-as address %q must be local@domain or *@domain", a)
	}
	return nil
}

// CheckPassword says what is wrong with a new password (nil: fine).
func CheckPassword(p string) error {
	switch {
	case p == "":
		return errors.New("the password is empty")
	case len(p) > MaxPassword:
		return fmt.Errorf("the password is longer than %d bytes", MaxPassword)
	case strings.ContainsAny(p, "\x00\r\n"):
		return errors.New("the password contains a NUL or a line break")
	}
	return nil
}

// MaxPassword bounds passwords (a SASL PLAIN response stays well inside an
// SMTP line).
const MaxPassword = 256

// NewUser builds a user with password hashed at the store's cost.
func (s *Store) NewUser(name, password string, sendAs []string) (*User, error) {
	if err := CheckPassword(password); err != nil {
		return nil, err
	}
	h, err := Hash(password, s.Params())
	if err != nil {
		return nil, err
	}
	u := &User{Name: name, Hash: h, SendAs: sendAs, Changed: s.now().UTC()}
	if err := validate(u); err != nil {
		return nil, err
	}
	return u, nil
}

// Add stores a new user; the name must not exist yet.
func (s *Store) Add(u *User) error {
	if err := validate(u); err != nil {
		return err
	}
	return s.change(func(m map[string]*User) error {
		k := strings.ToLower(u.Name)
		if m[k] != nil {
			return fmt.Errorf("%w: %s (change its password with mailflow user passwd)", ErrExists, u.Name)
		}
		m[k] = u
		return nil
	})
}

// SetPassword replaces a user's hash.
func (s *Store) SetPassword(name, hash string) error {
	if err := CheckHash(hash); err != nil {
		return err
	}
	return s.change(func(m map[string]*User) error {
		old := m[strings.ToLower(name)]
		if old == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchUser, name)
		}
		u := *old
		u.Hash = hash
		u.Changed = s.now().UTC()
		m[strings.ToLower(name)] = &u
		return nil
	})
}

// Remove deletes a user.
func (s *Store) Remove(name string) error {
	return s.change(func(m map[string]*User) error {
		if m[strings.ToLower(name)] == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchUser, name)
		}
		delete(m, strings.ToLower(name))
		return nil
	})
}

// change applies edit to a copy of the users, writes the file and only
// then makes the copy live: a failed write changes nothing.
func (s *Store) change(edit func(map[string]*User) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]*User, len(s.users)+1)
	for k, u := range s.users {
		m[k] = u
	}
	if err := edit(m); err != nil {
		return err
	}
	if err := s.write(m); err != nil {
		return err
	}
	s.users = m
	return nil
}

func (s *Store) write(m map[string]*User) error {
	f := fileFormat{Users: sortedUsers(m)}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("users file %s: %w", s.path, err)
	}
	// 0600 on every write, whatever the old file's mode: the hashes are
	// never readable by others, not even for a moment (the temporary file
	// is created 0600 too).
	return config.WriteAtomicMode(s.path, append(data, '\n'), 0o600)
}

func sortedUsers(m map[string]*User) []*User {
	out := make([]*User, 0, len(m))
	for _, u := range m {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

// List returns copies of all users, sorted by name, without their hashes.
func (s *Store) List() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []User
	for _, u := range sortedUsers(s.users) {
		c := *u
		c.Hash = ""
		c.SendAs = append([]string(nil), u.SendAs...)
		out = append(out, c)
	}
	return out
}

// Len is the number of users.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users)
}

// Lookup returns a copy of a user without its hash.
func (s *Store) Lookup(name string) (User, bool) {
	s.mu.RLock()
	u := s.users[strings.ToLower(name)]
	s.mu.RUnlock()
	if u == nil {
		return User{}, false
	}
	c := *u
	c.Hash = ""
	return c, true
}

// Authenticate checks a name and password. It returns the user (without
// its hash) or ErrInvalidCredentials, and takes about as long for an
// unknown name as for a wrong password.
func (s *Store) Authenticate(name, password string) (User, error) {
	s.mu.RLock()
	u := s.users[strings.ToLower(name)]
	dummy := s.dummy
	s.mu.RUnlock()
	h := dummy
	if u != nil {
		var err error
		if h, err = parseHash(u.Hash); err != nil {
			h, u = dummy, nil
		}
	}
	s.slots <- struct{}{}
	ok := verify(h, password)
	<-s.slots
	if u == nil || !ok {
		return User{}, ErrInvalidCredentials
	}
	c := *u
	c.Hash = ""
	return c, nil
}
