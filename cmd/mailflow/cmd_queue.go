package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/admin"
)

func init() {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "List, retry and remove queued messages on the running server (like Get-Queue / Retry-Queue)",
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
				fmt.Fprintln(tw, "ID\tFROM\tRECIPIENT\tSTATE\tATTEMPTS\tNEXT RETRY\tLAST ERROR")
				for _, m := range msgs {
					for _, r := range m.Recipients {
						next := ""
						if !r.NextAttempt.IsZero() {
							next = r.NextAttempt.UTC().Format("2006-01-02 15:04:05Z")
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, orDefault(m.From, "<>"), r.Addr, r.State, r.Attempts, next, r.LastError.String())
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
	cmd.AddCommand(list, retry, remove)
	rootCmd.AddCommand(cmd)
}
