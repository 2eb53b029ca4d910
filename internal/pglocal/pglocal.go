// Package pglocal starts a private PostgreSQL server: its own data directory
// under /tmp, a free port on 127.0.0.1, password authentication, run as the
// "postgres" user when the caller is root (initdb refuses root). The test
// helpers (internal/testkit) and the benchmark harness (bench/loadgen) both
// start their PostgreSQL through it; it imports no testing code so the
// benchmark binary can use it.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled is returned by New when initdb/pg_ctl cannot be found.
var ErrNotInstalled = errors.New("PostgreSQL is not installed (initdb/pg_ctl not found under /usr/lib/postgresql/*/bin): apt-get install postgresql")

// Server is a private PostgreSQL server.
type Server struct {
	Port     int
	Dir      string
	bin      string
	password string
	asUser   string // "postgres" when running as root
	durable  bool   // fsync on (benchmarks); tests run with fsync off
}

// Bin returns the directory holding initdb and pg_ctl (the newest
// installed PostgreSQL), or "" when PostgreSQL is not installed.
func Bin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// New initialises and starts a private server. durable turns fsync on, as
// in production. The caller must Close it. When the error is
// ErrNotInstalled (or wraps ErrMissingUser) nothing was created.
func New(durable bool) (*Server, error) {
	bin := Bin()
	if bin == "" {
		return nil, ErrNotInstalled
	}
	s := &Server{bin: bin, durable: durable, password: "mf-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	var uid, gid int
	if os.Geteuid() == 0 {
		s.asUser = "postgres"
		u, err := user.Lookup(s.asUser)
		if err != nil {
			return nil, fmt.Errorf("%w: PostgreSQL needs the %q user to run as when started by root: %v", ErrMissingUser, s.asUser, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	// The server's user must be able to traverse every parent, so the
	// directory lives directly under /tmp.
	dir, err := os.MkdirTemp("/tmp", "mailflow-pg-")
	if err != nil {
		return nil, err
	}
	s.Dir = dir
	fail := func(err error) (*Server, error) {
		s.Close()
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o644); err != nil {
		return fail(err)
	}
	if s.asUser != "" {
		for _, p := range []string{dir, pwfile} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fail(err)
			}
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "-E", "UTF8", "--no-sync",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile="+pwfile); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	if s.Port, err = freePort(); err != nil {
		return fail(err)
	}
	if err := s.Start(); err != nil {
		return fail(err)
	}
	return s, nil
}

// ErrMissingUser: running as root without a "postgres" user.
var ErrMissingUser = errors.New("no postgres user")

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Close stops the server immediately and removes its directory.
func (s *Server) Close() {
	s.Stop("immediate")
	os.RemoveAll(s.Dir)
}

func (s *Server) data() string { return filepath.Join(s.Dir, "data") }

func (s *Server) run(tool string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, tool)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.Dir
	return cmd.CombinedOutput()
}

// Start starts the server (again) on its port and waits until it accepts
// connections.
func (s *Server) Start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", s.Port, s.Dir)
	if !s.durable {
		opts += " -c fsync=off"
	}
	out, err := s.run("pg_ctl", "-D", s.data(), "-o", opts, "-l", filepath.Join(s.Dir, "log"), "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.Dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Stop stops the server: mode "fast" is a clean shutdown, "immediate" a
// crash (recovery at the next start).
func (s *Server) Stop(mode string) error {
	if _, err := os.Stat(filepath.Join(s.data(), "postmaster.pid")); err != nil {
		return nil
	}
	out, err := s.run("pg_ctl", "-D", s.data(), "-m", mode, "-w", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// DSN is the connection URL for database db as the superuser.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", s.password, s.Port, db)
}

// CreateDatabase creates database name and returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("connect to the private PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}
