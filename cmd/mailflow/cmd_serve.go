package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/daemon"
)

func init() {
	var cfgPath, level string
	var shutdownTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the mail transport: receive connectors, queue, send connectors, logs",
		Long: `Run the mail transport described by the configuration file.

SIGHUP re-reads the file and applies it live (new sessions use it at once;
sessions in flight finish undisturbed). An invalid file is refused with the
error and the running configuration stays. SIGINT/SIGTERM stop gracefully: stop accepting
(GET /readyz turns 503), let sessions in flight finish within
--shutdown-timeout, stop the queue, flush the logs.

The admin listener (admin.listen) serves the JSON API, the web admin center
(open http://127.0.0.1:8025/ and log in with the token), /metrics behind the
token as a bearer credential, and /healthz and /readyz without it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(level)
			if err != nil {
				return err
			}
			slog.SetDefault(logger)
			// Catch the signals before anything listens: a SIGTERM that arrives
			// as soon as "ready" is printed must stop gracefully, not kill.
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sigs)
			d, err := daemon.Start(cfgPath, daemon.Options{Logger: logger})
			if err != nil {
				return err
			}
			srv := d.Node
			for _, a := range srv.Receiver().Addrs() {
				fmt.Fprintf(cmd.OutOrStdout(), "mailflow: listening on %s\n", a)
			}
			if d.API != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "mailflow: admin API, admin center and /metrics on %s (token in %s)\n", d.API.Addr(), d.API.TokenFile())
			}
			if d.MetricsAddr != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "mailflow: /metrics (no token) on %s\n", d.MetricsAddr)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "mailflow: ready")
			for sig := range sigs {
				if sig == syscall.SIGHUP {
					if err := srv.Reload(); err != nil {
						logger.Error("configuration refused; the running configuration stays", "file", cfgPath, "error", err)
					}
					continue
				}
				logger.Info("shutting down: no new connections; sessions in flight may finish", "signal", sig.String(), "timeout", shutdownTimeout)
				ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
				err := d.Close(ctx)
				cancel()
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), "mailflow: stopped")
				}
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug | info | warn | error")
	cmd.Flags().DurationVar(&shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long sessions in flight may take to finish before they are closed")
	rootCmd.AddCommand(cmd)
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
