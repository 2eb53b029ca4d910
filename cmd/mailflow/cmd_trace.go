package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

func init() {
	var cfgPath, since string
	var f tracking.Filter
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "trace --config FILE [--sender A] [--recipient A] [--message-id ID] [--since T]",
		Short: "Where is my message and why: search the message tracking log (like a message trace)",
		Long: `Search the message tracking log: RECEIVE, SEND, DELIVER, DEFER, FAIL and DSN events with
the recipient status (for a deferral the full {LED=…};{MSG=…};{FQDN=…};{IP=…};{LRT=…} string —
paste it into mailflow explain). --since takes RFC 3339 (2026-11-21T10:00:00Z) or a duration (2h).
"@domain" as --sender/--recipient matches a whole domain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since != "" {
				if d, err := time.ParseDuration(since); err == nil {
					f.Since = time.Now().Add(-d)
				} else if t, err := time.Parse(time.RFC3339, since); err == nil {
					f.Since = t
				} else {
					return fmt.Errorf("--since %q: use RFC 3339 (2026-11-21T10:00:00Z) or a duration (2h)", since)
				}
			}
			var evs []tracking.Event
			err := onServer(cfgPath, func(c *admin.Client) (err error) {
				evs, err = c.Trace(f)
				return err
			}, func() error {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return err
				}
				evs, err = tracking.Search(filepath.Join(cfg.LogDir(), "MessageTracking"), f)
				return err
			})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), evs)
			}
			if len(evs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no matching tracking events")
				return nil
			}
			for _, e := range evs {
				fmt.Fprintln(cmd.OutOrStdout(), FormatTraceLine(e))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	cmd.Flags().StringVar(&f.Sender, "sender", "", "sender address or @domain")
	cmd.Flags().StringVar(&f.Recipient, "recipient", "", "recipient address or @domain")
	cmd.Flags().StringVar(&f.MessageID, "message-id", "", "Message-ID (with or without <>)")
	cmd.Flags().StringVar(&since, "since", "", "only events after this time")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	rootCmd.AddCommand(cmd)
}

// FormatTraceLine renders one tracking event as a trace line.
func FormatTraceLine(e tracking.Event) string {
	line := fmt.Sprintf("%s  %-7s %s  %s → %s", e.Time.UTC().Format("2006-01-02 15:04:05Z"), e.EventID,
		e.InternalMessageID, orDefault(e.Sender, "<>"), strings.Join(e.Recipients, ";"))
	if len(e.RecipientStatus) > 0 {
		line += "  " + strings.Join(e.RecipientStatus, ";")
	}
	if e.CustomData != "" {
		line += "  " + e.CustomData
	}
	return line
}
