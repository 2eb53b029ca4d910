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

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/node"
)

func init() {
	var cfgPath, level string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the mail transport: receive connectors, queue, send connectors, logs",
		Long: `Run the mail transport described by the configuration file.

SIGHUP re-reads the file and applies it live (new sessions use it at once;
sessions in flight finish undisturbed). An invalid file is refused with the
error and the running configuration stays. SIGINT/SIGTERM stop gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(level)
			if err != nil {
				return err
			}
			slog.SetDefault(logger)
			srv, err := node.Start(cfgPath, node.Options{Logger: logger})
			if err != nil {
				return err
			}
			for _, a := range srv.Receiver().Addrs() {
				fmt.Fprintf(cmd.OutOrStdout(), "mailflow: listening on %s\n", a)
			}
			api, err := admin.Start(srv, logger)
			if err != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				srv.Close(ctx)
				cancel()
				return err
			}
			if api != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "mailflow: admin API on %s (token in %s)\n", api.Addr(), api.TokenFile())
			}
			fmt.Fprintln(cmd.OutOrStdout(), "mailflow: ready")
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
			for sig := range sigs {
				if sig == syscall.SIGHUP {
					if err := srv.Reload(); err != nil {
						logger.Error("configuration refused; the running configuration stays", "file", cfgPath, "error", err)
					}
					continue
				}
				logger.Info("shutting down", "signal", sig.String())
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if api != nil {
					api.Close(ctx)
				}
				err := srv.Close(ctx)
				cancel()
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug | info | warn | error")
	rootCmd.AddCommand(cmd)
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
