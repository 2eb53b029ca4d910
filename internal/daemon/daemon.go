// Package daemon assembles a running mailflow as mailflow serve runs it:
// the transport (node) with its metrics observers, the admin listener
// (JSON API, /metrics, /healthz, /readyz and the web admin center) and the
// optional separate metrics listener. The command and the tests start the
// same assembly, so what the tests drive is what an administrator runs.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/metrics"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/web"
)

// Options tune the assembly beyond the configuration file.
type Options struct {
	Logger *slog.Logger
	// Node is passed to node.Start; its Observer and Sessions are set here.
	Node node.Options
}

// Daemon is a running mailflow.
type Daemon struct {
	Node    *node.Node
	API     *admin.API // nil when admin.listen is off
	Metrics *metrics.Metrics
	// MetricsAddr is the separate metrics listener's address; nil when
	// metrics.listen is not set.
	MetricsAddr net.Addr
	metricsSrv  *http.Server
	log         *slog.Logger
}

// Start starts everything the configuration at path describes.
func Start(path string, opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := metrics.New()
	nopts := opts.Node
	nopts.Logger = opts.Logger
	nopts.Observer, nopts.Sessions, nopts.Outbound = m, m, m
	n, err := node.Start(path, nopts)
	if err != nil {
		return nil, err
	}
	m.Attach(n)
	d := &Daemon{Node: n, Metrics: m, log: opts.Logger}
	d.API, err = admin.StartWithExtras(n, opts.Logger, admin.Extras{
		Metrics: m.Handler(),
		UI:      web.UI(n, web.Options{Logger: opts.Logger.With("component", "web")}),
	})
	if err != nil {
		d.Close(context.Background())
		return nil, err
	}
	if l := n.Runtime().Cfg.Metrics.Listen; l != "" {
		ln, err := net.Listen("tcp", l)
		if err != nil {
			d.Close(context.Background())
			return nil, fmt.Errorf("metrics: listen on %s: %w (set metrics.listen to a free address, or remove it)", l, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		mux.HandleFunc("GET /healthz", admin.Liveness)
		mux.Handle("GET /readyz", admin.Readiness(n))
		d.MetricsAddr = ln.Addr()
		d.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)}
		go d.metricsSrv.Serve(ln)
	}
	return d, nil
}

// Close stops gracefully: the node stops accepting (readiness turns 503),
// sessions in flight finish until ctx ends, the queue stops, logs are
// flushed; then the HTTP listeners close.
func (d *Daemon) Close(ctx context.Context) error {
	err := d.Node.Close(ctx)
	if d.API != nil {
		err = errors.Join(err, d.API.Close(ctx))
	}
	if d.metricsSrv != nil {
		err = errors.Join(err, d.metricsSrv.Shutdown(ctx))
	}
	return err
}
