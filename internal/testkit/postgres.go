package testkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a private PostgreSQL server started by a test: its own data
// directory under /tmp, a free port on 127.0.0.1, password authentication.
type Postgres struct {
	Port     int
	Dir      string
	bin      string
	password string
	asUser   string // "postgres" when the tests run as root
	durable  bool   // fsync on (benchmarks); tests run with fsync off
}

// PostgresBin returns the directory holding initdb and pg_ctl (the newest
// installed PostgreSQL), or "" when PostgreSQL is not installed.
func PostgresBin() string {
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

// StartPostgres initialises and starts a private PostgreSQL for the test
// and stops it (immediately) and removes it at the end. The test is skipped
// with a clear message when PostgreSQL is not installed (CI installs it).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	return startPostgres(t, false)
}

// StartDurablePostgres is StartPostgres with fsync on, as in production:
// for benchmarks of durable commits.
func StartDurablePostgres(t testing.TB) *Postgres {
	t.Helper()
	return startPostgres(t, true)
}

func startPostgres(t testing.TB, durable bool) *Postgres {
	t.Helper()
	bin := PostgresBin()
	if bin == "" {
		t.Skip("PostgreSQL is not installed (initdb/pg_ctl not found under /usr/lib/postgresql/*/bin): apt-get install postgresql")
	}
	p := &Postgres{bin: bin, durable: durable, password: "mf-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	if os.Geteuid() == 0 {
		p.asUser = "postgres"
	}
	// The server's user must be able to traverse every parent, so the
	// directory lives directly under /tmp rather than in t.TempDir().
	dir, err := os.MkdirTemp("/tmp", "mailflow-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.Dir = dir
	t.Cleanup(func() {
		p.Stop("immediate")
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if p.asUser != "" {
		u, err := user.Lookup(p.asUser)
		if err != nil {
			t.Skipf("PostgreSQL needs the %q user to run as when tests run as root: %v", p.asUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(p.password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p.asUser != "" {
		p.chown(t, pwfile)
	}
	if out, err := p.run("initdb", "-D", p.data(), "-U", "postgres", "-E", "UTF8", "--no-sync",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile="+pwfile); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Port = FreePort(t)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *Postgres) data() string { return filepath.Join(p.Dir, "data") }

func (p *Postgres) chown(t testing.TB, path string) {
	u, err := user.Lookup(p.asUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func (p *Postgres) run(tool string, args ...string) ([]byte, error) {
	path := filepath.Join(p.bin, tool)
	var cmd *exec.Cmd
	if p.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = p.Dir
	return cmd.CombinedOutput()
}

// Start starts the server (again) on its port and waits until it accepts
// connections.
func (p *Postgres) Start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", p.Port, p.Dir)
	if !p.durable {
		opts += " -c fsync=off"
	}
	out, err := p.run("pg_ctl", "-D", p.data(), "-o", opts, "-l", filepath.Join(p.Dir, "log"), "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(p.Dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Stop stops the server: mode "fast" is a clean shutdown, "immediate" a
// crash (recovery at the next start).
func (p *Postgres) Stop(mode string) error {
	if _, err := os.Stat(filepath.Join(p.data(), "postmaster.pid")); err != nil {
		return nil
	}
	out, err := p.run("pg_ctl", "-D", p.data(), "-m", mode, "-w", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// DSN is the connection URL for database db as the superuser.
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", p.password, p.Port, db)
}

// CreateDatabase creates database name and returns its DSN.
func (p *Postgres) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return p.DSN(name)
}
