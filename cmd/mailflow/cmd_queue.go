package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/queue"
)

func init() {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "List, retry, remove and count queued messages, suspend and resume next hops, on the running server (like Get-Queue / Retry-Queue / Suspend-Queue); export and import a queue",
	}
	var cfgPath string
	var asJSON bool
	cmd.PersistentFlags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file of the running server")
	list := &cobra.Command{
		Use:   "list",
		Short: "Show queued messages with each recipient's state and last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onServer(cfgPath, func(c *admin.Client) error {
				msgs, err := c.Queue()
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), msgs)
				}
				if len(msgs) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "queue is empty")
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tFROM\tRECIPIENT\tSTATE\tATTEMPTS\tNEXT RETRY\tLEASE\tLAST ERROR")
				for _, m := range msgs {
					for _, r := range m.Recipients {
						next := ""
						if !r.NextAttempt.IsZero() {
							next = r.NextAttempt.UTC().Format("2006-01-02 15:04:05Z")
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", m.ID, orDefault(m.From, "<>"), r.Addr, r.State, r.Attempts, next, leaseText(m.Lease), r.LastError.String())
					}
				}
				return tw.Flush()
			}, nil)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	retry := &cobra.Command{
		Use:   "retry [ID]",
		Short: "Retry a message now (all deferred messages without ID)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.Join(args, "")
			return onServer(cfgPath, func(c *admin.Client) error {
				if err := c.Retry(id); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "retry scheduled now for %s\n", orDefault(id, "all messages"))
				return nil
			}, nil)
		},
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a message from the queue without a delivery status notification",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return onServer(cfgPath, func(c *admin.Client) error {
				if err := c.Remove(args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
				return nil
			}, nil)
		},
	}
	hops := &cobra.Command{
		Use:   "hops",
		Short: "List the queue by next hop (send connector, Local, Unroutable), with suspensions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onServer(cfgPath, func(c *admin.Client) error {
				list, err := c.Hops()
				if err != nil || asJSON {
					if err == nil {
						err = printJSON(cmd.OutOrStdout(), list)
					}
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NEXT HOP\tREADY\tRETRY\tOLDEST\tSUSPENDED")
				for _, h := range list {
					oldest := "-"
					if !h.Oldest.IsZero() {
						oldest = h.Oldest.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%v\n", h.Name, h.Ready, h.Retry, oldest, h.Suspended)
				}
				return tw.Flush()
			}, nil)
		},
	}
	hops.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	suspend := &cobra.Command{
		Use:   "suspend HOP",
		Short: "Hold delivery to a next hop (like Suspend-Queue) until resumed; the suspension is stored with the queue and outlasts a restart",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return onServer(cfgPath, func(c *admin.Client) error {
				if err := c.Suspend(args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "next hop %s suspended: its messages wait (451 4.4.0) until mailflow queue resume\n", args[0])
				return nil
			}, nil)
		},
	}
	resume := &cobra.Command{
		Use:   "resume HOP",
		Short: "Resume delivery to a suspended next hop and retry its messages now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return onServer(cfgPath, func(c *admin.Client) error {
				if err := c.Resume(args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "next hop %s resumed; its messages are retried now\n", args[0])
				return nil
			}, nil)
		},
	}
	var statsJSON bool
	stats := &cobra.Command{
		Use:   "stats",
		Short: "Count queued messages, recipients by state and deliveries in progress by node (the whole cluster with a shared queue)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onServer(cfgPath, func(c *admin.Client) error {
				st, err := c.QueueStats()
				if err != nil {
					return err
				}
				if statsJSON {
					return printJSON(cmd.OutOrStdout(), st)
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "backend %s%s, %d message(s)\n", st.Backend, prefixed(", answered by node ", st.Node), st.Messages)
				for _, state := range []queue.State{queue.StateReady, queue.StateRetry, queue.StateDelivered, queue.StateFailed} {
					fmt.Fprintf(w, "  %-10s %d\n", state, st.Recipients[state])
				}
				for node, n := range st.Leases {
					fmt.Fprintf(w, "  delivering on %s: %d\n", node, n)
				}
				return nil
			}, nil)
		},
	}
	stats.Flags().BoolVar(&statsJSON, "json", false, "JSON output")
	cmd.AddCommand(list, retry, remove, hops, suspend, resume, stats, queueExportCmd(&cfgPath), queueImportCmd(&cfgPath))
	rootCmd.AddCommand(cmd)
}

// leaseText shows which node is delivering a message of a shared queue.
func leaseText(l queue.Lease) string {
	switch {
	case l.Holder == "":
		return ""
	case !l.Expires.After(time.Now()):
		return l.Holder + " (expired)"
	}
	return l.Holder
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
