package testkit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/pglocal"
)

// Postgres is a private PostgreSQL server started by a test: its own data
// directory under /tmp, a free port on 127.0.0.1, password authentication
// (pglocal.Server, with failures reported to the test).
type Postgres struct {
	*pglocal.Server
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
	s, err := pglocal.New(durable)
	if errors.Is(err, pglocal.ErrNotInstalled) || errors.Is(err, pglocal.ErrMissingUser) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &Postgres{Server: s}
}

// CreateDatabase creates database name and returns its DSN.
func (p *Postgres) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := p.Server.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}
