package queue

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"
)

// HopStateStore is a Store that also keeps which next hops an
// administrator suspended (`mailflow queue suspend`), so that a suspension
// lives with the queue it holds: it survives a restart or a crash of the
// node, and with a shared store it holds for every node of the cluster.
// Both BoltStore and PostgresStore implement it.
//
// Next hop names compare case-insensitively (the key is the lower-case
// name); the name is kept as last given.
type HopStateStore interface {
	// SuspendedHops returns the suspended next hops, sorted.
	SuspendedHops(ctx context.Context) ([]string, error)
	// SuspendHop records hop as suspended; it returns once that is
	// durable. Suspending a suspended hop again is not an error.
	SuspendHop(ctx context.Context, hop string) error
	// ResumeHop removes the suspension of hop; it returns once that is
	// durable. found is false when hop was not suspended.
	ResumeHop(ctx context.Context, hop string) (found bool, err error)
}

// hopKey is the stored key of a next hop.
func hopKey(hop string) string { return strings.ToLower(hop) }

var errEmptyHop = errors.New("a next hop name is required")

// bucketHops holds the suspended next hops of the embedded store: the
// lower-case name → the name as given.
var bucketHops = []byte("suspended_hops")

// SuspendedHops reads the suspended next hops from the store file.
func (s *BoltStore) SuspendedHops(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHops).ForEach(func(_, v []byte) error {
			out = append(out, string(v))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read suspended next hops from %s: %w", s.path, err)
	}
	sort.Strings(out)
	return out, nil
}

// SuspendHop records the suspension in the store file (committed and
// fsynced like a message).
func (s *BoltStore) SuspendHop(ctx context.Context, hop string) error {
	if hop == "" {
		return errEmptyHop
	}
	err := s.write(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHops).Put([]byte(hopKey(hop)), []byte(hop))
	})
	if err != nil {
		return fmt.Errorf("record next hop %s as suspended in %s: %w", hop, s.path, err)
	}
	return nil
}

// ResumeHop removes the suspension from the store file.
func (s *BoltStore) ResumeHop(ctx context.Context, hop string) (found bool, err error) {
	key := []byte(hopKey(hop))
	err = s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHops)
		// The function may run again in a later transaction (group
		// commit), so found is set each time, not accumulated.
		found = b.Get(key) != nil
		return b.Delete(key)
	})
	if err != nil {
		return false, fmt.Errorf("record next hop %s as resumed in %s: %w", hop, s.path, err)
	}
	return found, nil
}

// SuspendedHops reads the suspended next hops of the whole cluster.
func (s *PostgresStore) SuspendedHops(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT hop FROM queue_suspended_hops ORDER BY hop`)
	var out []string
	if err == nil {
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err = s.seen(err); err != nil {
		return nil, fmt.Errorf("read suspended next hops from the queue database: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

// SuspendHop records the suspension for every node (committed when it
// returns), with this node's name and the time, for an administrator
// reading the table.
func (s *PostgresStore) SuspendHop(ctx context.Context, hop string) error {
	if hop == "" {
		return errEmptyHop
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO queue_suspended_hops (hop_key, hop, node) VALUES ($1, $2, $3)
		ON CONFLICT (hop_key) DO UPDATE SET hop = EXCLUDED.hop, node = EXCLUDED.node, suspended_at = now()`,
		hopKey(hop), hop, s.node)
	if err = s.seen(err); err != nil {
		return fmt.Errorf("record next hop %s as suspended in the queue database: %w", hop, err)
	}
	return nil
}

// ResumeHop removes the suspension for every node.
func (s *PostgresStore) ResumeHop(ctx context.Context, hop string) (found bool, err error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM queue_suspended_hops WHERE hop_key = $1`, hopKey(hop))
	if err = s.seen(err); err != nil {
		return false, fmt.Errorf("record next hop %s as resumed in the queue database: %w", hop, err)
	}
	return tag.RowsAffected() > 0, nil
}
