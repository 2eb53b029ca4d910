package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/certs"

	"github.com/mailflowhq/mailflow/internal/diag/logs"
)

func init() {
	logsCmd := &cobra.Command{
		Use:   "logs",
		Short: "Analyse Exchange-format protocol and message tracking logs",
	}
	var (
		expect       []string
		asJSON       bool
		since, until string
		noProgress   bool
		version      string
	)
	analyze := &cobra.Command{
		Use:   "analyze PATH...",
		Short: "Report per connector what certificates went to whom, and the TLS problems the logs show",
		Long: `Analyse SmtpReceive and SmtpSend protocol logs and message tracking logs —
Exchange's or mailflow's own, plain or gzip. PATH is a file or a directory
(searched recursively for *.LOG, *.log and *.gz files). The kind of each log
is read from its #Log-type header.

For each connector: sessions, remote address ranges, STARTTLS offered and
used, the certificates presented (thumbprint, subject, SANs) with counts and
first/last seen, TLS failures and client certificates received. Tracking
logs: deferrals and failures grouped by reason.

Findings: a presented certificate that lacks the --expect name, self-signed
certificates sent to senders that validate, STARTTLS not offered,
NoCredentials/UnknownCredentials, expired or soon-expiring certificates,
and the same sender answered with different certificates ("half the
messages fail").

Fixes follow the rules of the Exchange version that wrote the logs: Exchange
2010 (daily RECVyyyymmdd-n.LOG files, or a "#Version: 14" header) has no
TlsCertificateName, so its fix sets the connector FQDN; 2013 and later
(hourly RECVyyyymmddhh-n.LOG) pin the certificate. --exchange-version overrides.

Exit status: 0 no findings, 1 findings, 2 a path could not be read.`,
		Example: `  mailflow logs analyze "C:\Program Files\Microsoft\Exchange Server\V15\TransportRoles\Logs\FrontEnd\ProtocolLog\SmtpReceive" --expect mail.contoso.com
  mailflow logs analyze RECV2017041417-1.LOG --expect mail.contoso.com --json
  mailflow logs analyze /var/lib/mailflow/logs --since 24h`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			opts := logs.Options{Expect: expect, Now: func() time.Time { return now }}
			var err error
			if opts.Version, err = certs.ParseVersion(version); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--exchange-version: %w", err)}
			}
			if opts.Since, err = parseLogTimeFlag("since", since, now); err != nil {
				return &exitError{code: 2, err: err}
			}
			if opts.Until, err = parseLogTimeFlag("until", until, now); err != nil {
				return &exitError{code: 2, err: err}
			}
			if !opts.Since.IsZero() && !opts.Until.IsZero() && opts.Until.Before(opts.Since) {
				return &exitError{code: 2, err: fmt.Errorf("--until %s is before --since %s", until, since)}
			}
			stderr := cmd.ErrOrStderr()
			var bar *logs.ProgressBar
			if !noProgress && isTerminal(stderr) {
				bar = logs.NewProgressBar(stderr, time.Now)
				opts.Progress = bar.Update
			}
			report := logs.Analyze(args, opts)
			out := cmd.OutOrStdout()
			if asJSON {
				err = report.WriteJSON(out)
			} else {
				err = report.WriteText(out)
			}
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if asJSON {
				// The text report lists unreadable inputs itself; with JSON
				// on stdout, say it where a person sees it too.
				for _, f := range report.Files {
					if f.Error != "" {
						fmt.Fprintf(stderr, "mailflow logs analyze: %s: %s\n", f.Path, f.Error)
					}
				}
			}
			if code := report.ExitCode(); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	analyze.Flags().StringArrayVar(&expect, "expect", nil, "host name every presented certificate must hold in its CN or a SAN (repeatable; wildcards like *.contoso.com allowed)")
	analyze.Flags().BoolVar(&asJSON, "json", false, "write the report as JSON")
	analyze.Flags().StringVar(&since, "since", "", "only records at or after this time: RFC 3339 (2025-05-02T09:00:00Z), a date (2025-05-02, UTC) or a duration back from now (24h)")
	analyze.Flags().StringVar(&until, "until", "", "only records at or before this time (same forms as --since)")
	analyze.Flags().BoolVar(&noProgress, "no-progress", false, "do not draw the progress bar on a terminal")
	analyze.Flags().StringVar(&version, "exchange-version", "", "name fixes by this Exchange version's rules (2010, 2013, 2016, 2019, se; default: told from the log file names)")
	logsCmd.AddCommand(analyze)
	rootCmd.AddCommand(logsCmd)
}

// parseLogTimeFlag reads --since/--until: RFC 3339, a date-time without
// zone (UTC, like the logs), a date, or a duration back from now.
func parseLogTimeFlag(name, v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %q: want RFC 3339 (2025-05-02T09:00:00Z), a UTC date-time (2025-05-02 09:00), a date (2025-05-02) or a duration (24h)", name, v)
}

// isTerminal reports whether w is a character device (a terminal), without
// a terminal library: only then is a progress bar drawn.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
