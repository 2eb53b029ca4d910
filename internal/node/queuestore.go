package node

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/queue"
)

// OpenQueueStore opens the queue store the configuration names: the
// embedded bbolt file in data_dir/queue, or the PostgreSQL database shared
// by every node (queue.backend postgres), as node server.name. where names
// it for messages. The server and the CLI's queue export/import use it.
func OpenQueueStore(cfg *config.Config, log *slog.Logger) (s queue.Store, where string, err error) {
	if cfg.Queue.Backend != config.QueuePostgres {
		path := filepath.Join(cfg.DataDir(), "queue", "queue.db")
		bs, err := queue.OpenBoltStore(path, log)
		if err != nil {
			return nil, path, err
		}
		return bs, path, nil
	}
	where = "the PostgreSQL database (queue.backend postgres)"
	dsn, err := cfg.QueueDSN()
	if err != nil {
		return nil, where, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ps, err := queue.OpenPostgresStore(ctx, queue.PostgresOptions{
		DSN: dsn, Node: cfg.Server.Name, Lease: time.Duration(cfg.Queue.Lease), Logger: log,
	})
	if err != nil {
		return nil, where, fmt.Errorf("open the shared queue (queue.backend postgres): %w", err)
	}
	return ps, where, nil
}
