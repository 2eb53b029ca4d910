package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/hybrid"
	"github.com/mailflowhq/mailflow/internal/node"
)

func init() {
	cmd := &cobra.Command{
		Use:   "hybrid",
		Short: "Plan and check the hybrid connection between on-premises and the cloud tenant (both sides, one certificate)",
	}
	cmd.AddCommand(newHybridPlanCmd(), newHybridCheckCmd())
	rootCmd.AddCommand(cmd)
}

func newHybridPlanCmd() *cobra.Command {
	var (
		cfgPath, certArg, certPassword, version, rangesFile, outDir, tenantCfg string
		fqdn, tenantDomain, tenantHost, onpremHost, sourceIP, tenantSourceIP   string
		onpremIPs, bindings, tenantBindings                                    []string
		asJSON, apply                                                          bool
	)
	cmd := &cobra.Command{
		Use:   "plan --config onprem.yaml --certificate THUMBPRINT|FILE --exchange-version 2010|2013|2016|2019|se",
		Short: "Every setting of a hybrid connection, both sides, from one certificate",
		Long: `Derive from one certificate every setting of the hybrid connection, consistent on
both sides: the mailflow connectors of on-premises and of the tenant, the Exchange
Management Shell commands for on-premises and the Exchange Online PowerShell commands.

On-premises receives the tenant on a connector chosen by Exchange Online's published IP
ranges (built in, with their date; --tenant-ranges FILE overrides them), whose Fqdn is a
name on the certificate and which presents that certificate and requires the tenant's
(mail.protection.outlook.com); it sends to the tenant validating mail.protection.outlook.com
and presenting the certificate. The tenant's outbound connector expects that name
(TlsDomain) and its inbound connector requires it (TlsSenderCertificateName).

Exchange 2010 has no TlsCertificateName: the plan sets the connector Fqdn to a name on the
certificate and says which certificate 2010 will then pick.

--out DIR writes onprem-connectors.yaml, tenant-connectors.yaml, onprem.ps1,
exchange-online.ps1, plan.json and plan.txt. --apply writes the on-premises connectors into
--config and, with --tenant-config FILE, the tenant's into FILE (validated first; comments kept).
When the tenant is a mailflow (a lab or test bed), --tenant-config also supplies the defaults of
--tenant-domain, --tenant-bindings, --onprem-smart-host and --tenant-source-ip; an existing
on-premises connector keeps its bindings and smart host unless the flags say otherwise.`,
		Example: `  mailflow hybrid plan --config onprem.yaml --certificate 4C0FA622D0D66E777AA123B1AF123456F001AE23 --exchange-version 2016 --onprem-ip 203.0.113.25
  mailflow hybrid plan --config onprem.yaml --certificate certs/mail-contoso.pfx --exchange-version 2010 --out hybrid/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			v, err := certs.ParseVersion(version)
			if err != nil || v == certs.VersionMailflow {
				return &exitError{code: 2, err: fmt.Errorf("--exchange-version: give 2010, 2013, 2016, 2019 or se")}
			}
			rt, err := node.Build(cfgPath, now)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			cert, err := findCertificate(rt.Store, certArg, certPassword, cfgPath)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			in := hybrid.Input{
				OnPrem: rt.Cfg, Store: rt.Store, Certificate: cert, Version: v, OnPremIPs: onpremIPs, FQDN: fqdn,
				TenantDomain: tenantDomain, TenantSmartHost: tenantHost, OnPremSmartHost: onpremHost,
				Bindings: bindings, TenantBindings: tenantBindings, SourceIP: sourceIP, TenantSourceIP: tenantSourceIP, Now: now,
			}
			if rangesFile != "" {
				if in.Ranges, err = hybrid.LoadRanges(rangesFile); err != nil {
					return &exitError{code: 2, err: err}
				}
			}
			if tenantCfg != "" {
				if in.Tenant, err = config.Load(tenantCfg); err != nil {
					return &exitError{code: 2, err: err}
				}
			}
			p, err := hybrid.MakePlan(in)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if outDir != "" {
				if err := writePlanFiles(outDir, p); err != nil {
					return err
				}
			}
			if apply {
				if err := p.OnPrem.Apply(cfgPath, node.Check(now, nil)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "mailflow: on-premises connectors written to %s\n", cfgPath)
				if tenantCfg != "" {
					if err := p.Tenant.Apply(tenantCfg, node.Check(now, nil)); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "mailflow: tenant connectors written to %s\n", tenantCfg)
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			return p.WriteText(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "on-premises configuration file")
	f.StringVar(&certArg, "certificate", "", "the certificate both sides use: its thumbprint, or a PEM/PFX file already in the configuration")
	f.StringVar(&certPassword, "certificate-password-file", "", "password of a PFX given with --certificate")
	f.StringVar(&version, "exchange-version", "", "on-premises Exchange version: 2010, 2013, 2016, 2019 or se")
	f.StringVar(&rangesFile, "tenant-ranges", "", "file of the tenant's sending IP ranges, one per line (default: Exchange Online's published ranges, built in)")
	f.StringArrayVar(&onpremIPs, "onprem-ip", nil, "public IP on-premises sends from (repeatable)")
	f.StringVar(&fqdn, "fqdn", "", "the name both sides use (default: a name on the certificate under an accepted domain)")
	f.StringVar(&tenantDomain, "tenant-domain", "", "the tenant's routing domain (default <first label>.mail.onmicrosoft.com)")
	f.StringVar(&tenantHost, "tenant-smart-host", "", "where on-premises sends cloud mail (default <domain-with-dashes>.mail.protection.outlook.com)")
	f.StringVar(&onpremHost, "onprem-smart-host", "", "where the tenant sends on-premises mail, host[:port] (default the FQDN)")
	f.StringArrayVar(&bindings, "bindings", nil, "on-premises receive connector binding IP:port (default 0.0.0.0:25; repeatable)")
	f.StringArrayVar(&tenantBindings, "tenant-bindings", nil, "tenant inbound connector binding, for a mailflow tenant (default 0.0.0.0:25)")
	f.StringVar(&sourceIP, "source-ip", "", "on-premises send connector source_ip (a local address)")
	f.StringVar(&tenantSourceIP, "tenant-source-ip", "", "tenant send connector source_ip, for a mailflow tenant")
	f.StringVar(&outDir, "out", "", "write the plan's files into DIR")
	f.BoolVar(&apply, "apply", false, "write the on-premises connectors into --config (and the tenant's into --tenant-config)")
	f.StringVar(&tenantCfg, "tenant-config", "", "the tenant's configuration, when the tenant is a mailflow: defaults for its domain, bindings and outbound connector; with --apply its connectors are written into it")
	f.BoolVar(&asJSON, "json", false, "JSON output")
	cmd.MarkFlagRequired("certificate")
	cmd.MarkFlagRequired("exchange-version")
	return cmd
}

// findCertificate resolves --certificate: a thumbprint of the store, or a
// file whose certificate is in the store.
func findCertificate(store *certs.Store, arg, password, cfgPath string) (*certs.Certificate, error) {
	if c := store.FindThumbprint(arg); c != nil {
		return c, nil
	}
	if _, err := os.Stat(arg); err != nil {
		return nil, fmt.Errorf("--certificate %s is neither the thumbprint of a certificate in %s nor a readable file. Fix: list them with mailflow cert list --config %s", arg, cfgPath, cfgPath)
	}
	c, err := certs.LoadFile(arg, "", password)
	if err != nil {
		return nil, fmt.Errorf("--certificate: %w", err)
	}
	if in := store.FindThumbprint(c.Thumbprint); in != nil {
		return in, nil
	}
	return nil, fmt.Errorf("--certificate %s (%s, thumbprint %s) is not in %s. Fix: import it first: mailflow cert import %s --config %s", arg, c.Subject, c.Thumbprint, cfgPath, arg, cfgPath)
}

// writePlanFiles writes a plan's files into dir.
func writePlanFiles(dir string, p *hybrid.Plan) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	onprem, err := p.OnPrem.YAML("# mailflow hybrid plan: on-premises connectors (add to onprem.yaml, or use --apply)\n")
	if err != nil {
		return err
	}
	tenant, err := p.Tenant.YAML("# mailflow hybrid plan: tenant connectors (add to tenant.yaml)\n")
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	var txt strings.Builder
	if err := p.WriteText(&txt); err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"onprem-connectors.yaml": onprem,
		"tenant-connectors.yaml": tenant,
		"onprem.ps1":             []byte(hybrid.Script("mailflow hybrid plan: Exchange Management Shell (on-premises)", p.Shell)),
		"exchange-online.ps1":    []byte(hybrid.Script("mailflow hybrid plan: Exchange Online PowerShell (Connect-ExchangeOnline first)", p.Online)),
		"plan.json":              append(js, '\n'),
		"plan.txt":               []byte(txt.String()),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write the plan: %w", err)
		}
	}
	return nil
}

func newHybridCheckCmd() *cobra.Command {
	var (
		cfgPath, tenantCfg, version, rangesFile string
		onpremIPs                               []string
		live, asJSON                            bool
	)
	cmd := &cobra.Command{
		Use:   "check --config onprem.yaml --tenant-config tenant.yaml [--live]",
		Short: "Check that each side's expectations match what the other presents, both ways",
		Long: `Check every pairing of the hybrid connection both ways and print one table: direction,
expectation, what is presented, verdict, fix.

Offline (always): for each accepted domain of one side, the other side's route to it, the
receive connector its source address lands on (source_ip, else --onprem-ip for
on-premises and the tenant ranges for the tenant), whether that connector is domain-secure,
the certificate it presents (by the on-premises version's rules: --exchange-version)
against the sender's TLS policy and trust, and the sender's client certificate against
tls_sender_certificate_name and the receiver's trust.

--live also delivers a test message each way through the sender's own send connector, from
its source address, with its TLS policy and client certificate (mailflow connector validate).

Exit status: 0 all consistent, 1 a mismatch, 2 could not check.`,
		Example: `  mailflow hybrid check --config onprem.yaml --tenant-config tenant.yaml --onprem-ip 203.0.113.25
  mailflow hybrid check --config onprem.yaml --tenant-config tenant.yaml --live --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			v, err := certs.ParseVersion(version)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--exchange-version: %w", err)}
			}
			if tenantCfg == "" {
				return &exitError{code: 2, err: fmt.Errorf("give --tenant-config FILE, the tenant's configuration")}
			}
			on, err := node.Build(cfgPath, now)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			ten, err := node.Build(tenantCfg, now)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			ranges := hybrid.ExchangeOnline
			if rangesFile != "" {
				if ranges, err = hybrid.LoadRanges(rangesFile); err != nil {
					return &exitError{code: 2, err: err}
				}
			}
			onSide := hybrid.Side{Name: "on-premises", RT: on, Version: v, Sources: onpremIPs}
			tenSide := hybrid.Side{Name: "tenant", RT: ten, Sources: ranges.Ranges}
			r := hybrid.Check(onSide, tenSide, now)
			if live {
				ctx, stop := probeContext(cmd)
				defer stop()
				r.Rows = append(r.Rows, hybrid.Live(ctx, onSide, tenSide, now)...)
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), r); err != nil {
					return err
				}
			} else if err := r.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			return exitCode(r.ExitCode())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "on-premises configuration file")
	f.StringVar(&tenantCfg, "tenant-config", "", "the tenant's configuration file")
	f.StringVar(&version, "exchange-version", "", "predict on-premises certificates by this Exchange version's rules (2010, 2013, 2016, 2019, se; default mailflow's own)")
	f.StringVar(&rangesFile, "tenant-ranges", "", "the tenant's sending IP ranges (default: Exchange Online's published ranges)")
	f.StringArrayVar(&onpremIPs, "onprem-ip", nil, "address on-premises sends from when its send connector has no source_ip (repeatable)")
	f.BoolVar(&live, "live", false, "also deliver a test message each way through the real connectors")
	f.BoolVar(&asJSON, "json", false, "JSON output")
	return cmd
}
