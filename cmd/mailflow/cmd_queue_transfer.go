package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/queue"
)

// queueExportCmd and queueImportCmd move a queue between stores (the
// bbolt file and PostgreSQL, either way): export with the old
// configuration, import with the new one.
func queueExportCmd(cfgPath *string) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the suspended next hops and every queued message with its body (JSON lines) from the configured store; stop the server(s) first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withQueueStore(*cfgPath, func(s queue.Store, where string) error {
				w := cmd.OutOrStdout()
				if out != "" && out != "-" {
					f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
					if err != nil {
						return fmt.Errorf("export: %w", err)
					}
					defer f.Close()
					w = f
				}
				c, err := queue.Export(context.Background(), s, w)
				if err != nil {
					return err
				}
				if f, ok := w.(*os.File); ok && f != os.Stdout {
					if err := f.Sync(); err != nil {
						return fmt.Errorf("export: %w", err)
					}
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "exported %d message(s) and %d suspended next hop(s)%s from %s\n", c.Messages, len(c.SuspendedHops), hopNames(c.SuspendedHops), where)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "-", "file to write (created, never overwritten); - for standard output")
	return cmd
}

func queueImportCmd(cfgPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Add the messages and suspended next hops of a queue export to the configured store, keeping ids and states; ids already there are skipped, no suspension is lifted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = os.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				r = f
			}
			return withQueueStore(*cfgPath, func(s queue.Store, where string) error {
				c, err := queue.Import(context.Background(), s, r)
				fmt.Fprintf(cmd.OutOrStdout(), "imported %d message(s) into %s, skipped %d already there, %d suspended next hop(s)%s\n",
					c.Messages, where, c.Skipped, len(c.SuspendedHops), hopNames(c.SuspendedHops))
				return err
			})
		},
	}
}

// hopNames is " (A, B)" for the report lines, or "" for none.
func hopNames(hops []string) string {
	if len(hops) == 0 {
		return ""
	}
	return " (" + strings.Join(hops, ", ") + ")"
}

// withQueueStore opens the store the configuration names (the bbolt file
// is locked while a server runs on it, and says so).
func withQueueStore(cfgPath string, fn func(s queue.Store, where string) error) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, where, err := node.OpenQueueStore(cfg, log)
	if err != nil {
		return fmt.Errorf("open queue in %s: %w", where, err)
	}
	defer s.Close()
	return fn(s, where)
}
