package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/node"
)

func newCertCheckCmd() *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check [--config FILE] [--json]",
		Short: "Check every certificate a connector presents or may present, as senders will",
		Long: `For every receive connector (and send connector with a pinned client certificate):
which certificate it presents; whether the connector's FQDN is in its CN or SANs; whether a
pinned tls_certificate_name selects it; whether its chain is complete to a trusted root (system
roots plus trust.ca_files); whether its key usage allows TLS; whether it expires within
server.certificate_expiry_warning (30 days by default). The other certificates the connector
may present are checked too (their problems are warnings).

Exit status: 0 pass, 1 a problem was found, 2 could not check (configuration does not load).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			rt, err := node.Build(cfgPath, now)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			g := rt.Guard(now)
			r := g.Check(time.Duration(rt.Cfg.ExpiryWarning()))
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false) // keep <I>…<S>… readable
				if err := enc.Encode(r); err != nil {
					return err
				}
				return exitCode(r.ExitCode())
			}
			w := cmd.OutOrStdout()
			for _, c := range r.Connectors {
				kind := "receive"
				if c.Send {
					kind = "send"
				}
				status := "PASS"
				if len(c.Findings) > 0 {
					status = "FAIL"
				}
				fmt.Fprintf(w, "%s %s connector %q (fqdn %s)\n", status, kind, c.Connector, c.FQDN)
				if c.Presents != "" {
					fmt.Fprintf(w, "  presents %s %s (%d days left)\n", c.Presents, c.Subject, c.DaysLeft)
				}
				for _, f := range c.Findings {
					fmt.Fprintf(w, "  %s: %s\n    Fix: %s\n", f.Severity, f.Problem, f.Fix)
				}
			}
			if len(r.Connectors) == 0 {
				fmt.Fprintln(w, "no connector presents a certificate")
			}
			return exitCode(r.ExitCode())
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
