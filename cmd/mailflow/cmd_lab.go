package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/lab"
)

func init() {
	var asJSON, keep bool
	var dir string
	cmd := &cobra.Command{
		Use:   "lab [--json] [--keep] [--dir DIR]",
		Short: "Reproduce reported hybrid TLS failures end to end on loopback: the 450 4.7.320 failure and its live fix, hybrid mutual TLS, device relay through the tenant, DANE after a renewal, a renewal from a new intermediate CA and ACME",
		Long: `Build a lab CA and certificates, start a "tenant" (playing Exchange Online) and an
"on-premises" mailflow on loopback, and play two failures administrators have reported
(the title of each published report is printed with it), the device relay they are
being asked to build, and the first failure in its DANE form, step by step:

  1. Exchange Online defers mail for on-premises with 450 4.7.320 SubjectMismatch because
     Default Frontend presents its self-signed CN=SERVER1 certificate: the trace, the
     protocol-log lines, the diagnosis, the certificate pinned live, the retry delivered.
  2. A hybrid receive connector chosen by the cloud's source address with its own
     certificate, mutual TLS both ways, and the questions answered by running them: a
     certificate whose CN is another name but whose SAN holds the expected name passes
     DomainValidation; a renewal with an extra SAN is picked up without re-pinning.
  3. A scanner authenticates (SMTP AUTH after STARTTLS) on the on-premises Client
     Frontend; on-premises relays its mail for an outside recipient through the tenant,
     which recognises contoso's client certificate (an OnPremises inbound connector); with
     the wrong certificate the tenant answers 550 5.7.64 TenantAttribution, explained.
  4. The first failure in its DANE form: the tenant validates contoso's DNSSEC-signed TLSA
     record (the lab's DNS plays the validating resolver); a renewal with a new key makes it
     defer with 450 4.7.323 tlsa-invalid; mailflow cert import warns, the probe names the
     record to publish, and publishing it beside the old one delivers.
  5. The next renewal of mail.contoso.com: a certificate request answered by a CA that
     now signs with a new intermediate, so the pin would select nothing — the import is
     refused with the new pin printed, then imported with it live while mail flows; and
     an acme: certificate from the lab's own ACME CA (tls-alpn-01 on loopback) renewing live.

Every change goes through the admin API, as an administrator's would. The exit status is 0
only if every step behaved as expected. The lab directory (a temporary one unless --dir)
is removed at the end unless --keep or --dir is given; --keep also leaves the servers
running, and prints how to poke them, until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			opts := lab.Options{Dir: dir}
			var narrator *lab.Narrator
			if !asJSON {
				narrator = lab.NewNarrator(out)
				opts.Observer = narrator
			}
			l, err := lab.Run(ctx, opts)
			if err != nil {
				return err
			}
			if keep || dir != "" {
				l.Keep()
			}
			defer l.Close()
			if asJSON {
				if err := printJSON(out, l.Report); err != nil {
					return err
				}
			} else {
				narrator.Outro(l.Report)
			}
			if keep && ctx.Err() == nil {
				// JSON stays alone on stdout; the help goes to stderr.
				help := io.Writer(out)
				if asJSON {
					help = cmd.ErrOrStderr()
				}
				lab.WriteKeepHelp(help, l)
				<-ctx.Done()
				fmt.Fprintln(help, "mailflow lab: stopping the servers; the lab directory stays:", l.Dir())
			}
			if err := l.Close(); err != nil {
				return fmt.Errorf("lab cleanup: %w", err)
			}
			if !l.Report.OK {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print the report as JSON: {"ok", "scenarios": [{"name", "ok", "steps": [{"name", "ok", "expected", "observed", "evidence"}]}]}`)
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the servers running (until Ctrl-C) and the lab directory in place")
	cmd.Flags().StringVar(&dir, "dir", "", "lab directory (new or empty); kept afterwards. Default: a temporary directory, removed")
	rootCmd.AddCommand(cmd)
}
