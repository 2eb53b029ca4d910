package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/tlsrpt"
)

func init() {
	cmd := &cobra.Command{
		Use:   "tlsrpt",
		Short: "TLS reports (RFC 8460) mailflow keeps for the domains it delivers to",
	}
	var cfgPath, domain string
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the TLS reports that would be sent: today's so far and any finished day not sent yet",
		Long: `Prints, per day and policy domain, the RFC 8460 report mailflow builds from the
outcomes of its deliveries (successful sessions, and failures by result type and
MX host), and where it would go (the rua of _smtp._tls.<domain>). Reports of
finished days are sent once a day by the running server; today's grows until
midnight UTC. Reads the counts from the data directory of the configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			return showTLSReports(cmd.Context(), cmd.OutOrStdout(), cfg, strings.ToLower(domain), asJSON)
		},
	}
	show.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file (its data_dir holds the counts)")
	show.Flags().StringVar(&domain, "domain", "", "only this policy domain")
	show.Flags().BoolVar(&asJSON, "json", false, "print the reports as sent (RFC 8460 JSON)")
	cmd.AddCommand(show)
	rootCmd.AddCommand(cmd)
}

func showTLSReports(ctx context.Context, w io.Writer, cfg *config.Config, domain string, asJSON bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	store, err := tlsrpt.OpenStore(node.TLSRPTDir(cfg), nil)
	if err != nil {
		return err
	}
	meta := tlsrpt.Meta{OrganizationName: cfg.TLSRPT.OrganizationName, ContactInfo: cfg.TLSRPT.ContactInfo, Submitter: cfg.Server.FQDN}
	var reports []*tlsrpt.Report
	var domains []string
	for _, day := range store.Days() {
		for _, d := range store.Domains(day) {
			if domain != "" && d != domain {
				continue
			}
			r, err := store.Report(day, d, meta)
			if err != nil {
				return err
			}
			if r != nil {
				reports, domains = append(reports, r), append(domains, d)
			}
		}
	}
	if asJSON {
		if reports == nil {
			reports = []*tlsrpt.Report{}
		}
		return printJSON(w, reports)
	}
	if len(reports) == 0 {
		what := "any domain"
		if domain != "" {
			what = domain
		}
		fmt.Fprintf(w, "no TLS-RPT counts for %s in %s: no delivery to a domain's MX hosts since the last reports were sent\n", what, node.TLSRPTDir(cfg))
		return nil
	}
	res, err := node.TXTResolver(cfg)
	if err != nil {
		return err
	}
	if !cfg.TLSRPT.Sending() {
		fmt.Fprintln(w, "tls_rpt.send_reports is false: reports are counted but never sent")
	}
	for i, r := range reports {
		d := domains[i]
		day := r.DateRange.Start.Format(time.DateOnly)
		fmt.Fprintf(w, "%s  %s  report-id %s\n", day, d, r.ReportID)
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rua, err := tlsrpt.LookupRUA(lctx, res, d)
		cancel()
		switch {
		case tlsrpt.IsNoRecord(err):
			fmt.Fprintf(w, "  send to: nobody — %s publishes no _smtp._tls TXT record, so this report is dropped\n", d)
		case err != nil:
			fmt.Fprintf(w, "  send to: unknown (%v)\n", err)
		default:
			fmt.Fprintf(w, "  send to: %s\n", strings.Join(rua, ", "))
		}
		for _, p := range r.Policies {
			fmt.Fprintf(w, "  policy %s", p.Policy.Type)
			if len(p.Policy.MXHost) > 0 {
				fmt.Fprintf(w, " (mx %s)", strings.Join(p.Policy.MXHost, ", "))
			}
			fmt.Fprintf(w, ": %d successful, %d failed session(s)\n", p.Summary.Successful, p.Summary.Failed)
			for _, f := range p.FailureDetails {
				fmt.Fprintf(w, "    %d × %s  mx %s [%s]", f.FailedSessionCount, f.ResultType, f.ReceivingMXHostname, f.ReceivingIP)
				if f.AdditionalInformation != "" {
					fmt.Fprintf(w, "  %s", f.AdditionalInformation)
				}
				fmt.Fprintln(w)
			}
		}
	}
	return nil
}
