package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/diag/validate"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// newConnectorValidateCmd is `mailflow connector validate`; the connector
// command (cmd_connector.go) adds it.
func newConnectorValidateCmd() *cobra.Command {
	var (
		cfgPath, domain, sendTest, from, policy, expect, certsPassword, version string
		caFiles, certPaths                                                      []string
		sendOnly, receiveOnly, asJSON                                           bool
	)
	cmd := &cobra.Command{
		Use:   "validate NAME --config FILE [--domain DOMAIN] [--send-test ADDRESS]",
		Short: `Test a connector like the cloud's "Validate this connector"`,
		Long: `Validate a connector of the configuration.

A send connector is tested live, host by host: each smart host (or each MX of
--domain) is resolved, connected to from the connector's source_ip, greeted with
its fqdn, and taken through STARTTLS with the connector's own tls_auth_level,
expected name (tls_domain, else --domain) and client certificate — the sender's
own code — and judged with the status the sender records (450 4.7.320 …).
With --send-test ADDRESS a test message then goes through the connector.

A receive connector is judged offline: which certificate it presents (the
server's own selection: tls_certificate_name, else its fqdn) to which remote
ranges, and whether a sender with --policy expecting --expect (default the
connector's fqdn) accepts it against the configuration's trust plus --ca; when
it would not, the fix names the certificate to pin. With --exchange-version the
certificate is the one that Exchange version would present (2010: chosen by the
connector FQDN; it has no TlsCertificateName, so the fix sets the FQDN instead).

Exit status: 0 pass, 1 fail, 2 could not test.`,
		Example: `  mailflow connector validate "Outbound to contoso" --config tenant.yaml --send-test admin@contoso.com
  mailflow connector validate "Default Frontend SERVER1" --config onprem.yaml --policy DomainValidation --expect mail.contoso.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sendOnly && receiveOnly {
				return &exitError{code: 2, err: fmt.Errorf("give --send or --receive, not both")}
			}
			kind := ""
			switch {
			case sendOnly:
				kind = "send"
			case receiveOnly:
				kind = "receive"
			}
			ver, err := certs.ParseVersion(version)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--exchange-version: %w", err)}
			}
			level, err := tlscheck.ParseLevel(policy)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--policy: %w", err)}
			}
			now := time.Now()
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			rt, err := node.BuildFrom(cfg, now)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			opts := validate.Options{
				Domain: domain, SendTest: sendTest, From: from, Level: level, Expect: expect,
				Now: func() time.Time { return now }, Version: ver,
			}
			if len(caFiles) > 0 {
				roots := rt.Roots.Clone()
				if err := certs.AppendCAFiles(roots, caFiles); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--ca: %w", err)}
				}
				opts.Roots = roots
			}
			if len(certPaths) > 0 {
				store, warnings, err := probe.LoadCertificateStore(certPaths, certsPassword)
				for _, w := range warnings {
					fmt.Fprintln(cmd.ErrOrStderr(), "mailflow: --certs:", w)
				}
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--certs: %w", err)}
				}
				opts.Certificates = store
			}
			ctx, stop := probeContext(cmd)
			defer stop()
			v, err := validate.Connector(ctx, rt, args[0], kind, opts)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if err := writeProbe(cmd.OutOrStdout(), asJSON, v, v.WriteText); err != nil {
				return err
			}
			return exitCode(v.ExitCode())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	f.BoolVar(&sendOnly, "send", false, "NAME is a send connector")
	f.BoolVar(&receiveOnly, "receive", false, "NAME is a receive connector")
	f.StringVar(&domain, "domain", "", "recipient domain: MX lookup for a connector without smart hosts, expected name without tls_domain")
	f.StringVar(&sendTest, "send-test", "", "send a test message to ADDRESS through the send connector")
	f.StringVar(&from, "from", "", "sender of the test message (default postmaster@<fqdn>)")
	f.StringVar(&policy, "policy", "DomainValidation", "receive connector: TLS level of the sender that connects to it")
	f.StringVar(&expect, "expect", "", "receive connector: name that sender expects (default the connector's fqdn)")
	f.StringArrayVar(&caFiles, "ca", nil, "receive connector: trust this CA file besides the configuration's trust; repeatable")
	f.StringArrayVar(&certPaths, "certs", nil, "receive connector: candidate certificates for the fix (default the configuration's)")
	f.StringVar(&certsPassword, "certs-password-file", "", "password of the PFX files given with --certs")
	f.StringVar(&version, "exchange-version", "", "receive connector: judge the certificate an Exchange server of this version would present (2010, 2013, 2016, 2019, se), and name that version's fix")
	f.BoolVar(&asJSON, "json", false, "write the result as JSON")
	return cmd
}
