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

// openQueueStore opens the shared PostgreSQL store when the configuration
// asks for one, and returns nil for the embedded bbolt store (the queue
// opens that itself in data_dir/queue). where names the queue in errors.
func openQueueStore(cfg *config.Config, log *slog.Logger) (queue.Store, string, error) {
	if cfg.Queue.Backend != config.QueuePostgres {
		return nil, filepath.Join(cfg.DataDir(), "queue"), nil
	}
	s, err := OpenSharedQueue(cfg, log)
	return s, "the PostgreSQL database (queue.backend postgres)", err
}

// OpenSharedQueue connects to the configured PostgreSQL queue as node
// server.name. The CLI's export and import use it too.
func OpenSharedQueue(cfg *config.Config, log *slog.Logger) (*queue.PostgresStore, error) {
	dsn, err := cfg.QueueDSN()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := queue.OpenPostgresStore(ctx, queue.PostgresOptions{
		DSN: dsn, Node: cfg.Server.Name, Lease: time.Duration(cfg.Queue.Lease), Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("open the shared queue (queue.backend postgres): %w", err)
	}
	return s, nil
}
