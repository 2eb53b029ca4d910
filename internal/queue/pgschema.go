package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgMigrations are the PostgreSQL schema versions, applied in order, each
// in its own transaction. Never edit a published migration: add one.
//
// queue_messages holds one row per queued message: the record in the same
// encoding as the embedded store (format byte, CRC-32C, the Message as
// JSON), when it is next due (NULL once nothing is pending) and the lease
// (holder node, claim number from queue_lease_claim, expiry). The body is
// in queue_bodies as numbered chunks of pgChunk bytes, written and read one
// chunk at a time so that no node holds a large message whole in memory;
// the chunks go with their message (ON DELETE CASCADE).
//
// queue_suspended_hops (2) holds the next hops an administrator suspended,
// for every node: the lower-case name as key, the name as given, and which
// node recorded it when (see HopStateStore).
var pgMigrations = []string{
	1: `
CREATE TABLE queue_messages (
	id            text PRIMARY KEY,
	record        bytea NOT NULL,
	due_at        timestamptz,
	lease_owner   text,
	lease_claim   bigint NOT NULL DEFAULT 0,
	lease_expires timestamptz
);
CREATE INDEX queue_messages_due ON queue_messages (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE queue_bodies (
	id    text NOT NULL REFERENCES queue_messages (id) ON DELETE CASCADE,
	seq   int NOT NULL,
	chunk bytea NOT NULL,
	PRIMARY KEY (id, seq)
);
CREATE SEQUENCE queue_lease_claim;
CREATE TABLE queue_quarantine (
	key       text NOT NULL,
	reason    text NOT NULL,
	record    bytea,
	body      bytea,
	set_aside timestamptz NOT NULL DEFAULT now()
);`,
	2: `
CREATE TABLE queue_suspended_hops (
	hop_key      text PRIMARY KEY,
	hop          text NOT NULL,
	node         text NOT NULL,
	suspended_at timestamptz NOT NULL DEFAULT now()
);`,
}

// pgSchemaVersion is the newest schema this mailflow knows.
var pgSchemaVersion = len(pgMigrations) - 1

// pgMigrationLock is the advisory lock key that serialises migrations when
// several nodes start at once.
const pgMigrationLock = 0x6d61696c666c6f77 // "mailflow"

// ErrSchemaTooNew means the database was migrated by a newer mailflow.
var ErrSchemaTooNew = errors.New("queue database schema is newer than this mailflow")

// migrate brings the schema to pgSchemaVersion. A database at a newer
// version is refused: this mailflow would misread rows it does not know.
func migrate(ctx context.Context, pool *pgxpool.Pool) (from, to int, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pgMigrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS mailflow_schema (component text PRIMARY KEY, version int NOT NULL)`); err != nil {
			return err
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM mailflow_schema WHERE component = 'queue'`).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			v = 0
		} else if err != nil {
			return err
		}
		from = v
		if v > pgSchemaVersion {
			return fmt.Errorf("%w: the database is at version %d, this mailflow knows up to %d. Fix: upgrade mailflow on this node to the version the other nodes run", ErrSchemaTooNew, v, pgSchemaVersion)
		}
		for n := v + 1; n <= pgSchemaVersion; n++ {
			if _, err := tx.Exec(ctx, pgMigrations[n]); err != nil {
				return fmt.Errorf("migration %d: %w", n, err)
			}
		}
		to = pgSchemaVersion
		_, err = tx.Exec(ctx, `INSERT INTO mailflow_schema (component, version) VALUES ('queue', $1)
			ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version`, to)
		return err
	})
	if err != nil {
		return from, from, fmt.Errorf("migrate queue database schema: %w", err)
	}
	return from, to, nil
}
