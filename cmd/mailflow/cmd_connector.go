package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/node"
)

func init() {
	cmd := &cobra.Command{
		Use:   "connector",
		Short: "List, change and validate receive and send connectors (live on a running server)",
	}
	cmd.AddCommand(newConnectorListCmd(), newConnectorSetCmd(), newConnectorValidateCmd())
	rootCmd.AddCommand(cmd)
}

func newConnectorListCmd() *cobra.Command {
	var cfgPath, version string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --config FILE [--exchange-version 2010|2013|2016|2019|se]",
		Short: "Show each connector with the certificate it presents and who it relays for",
		Long: `Show each connector with the certificate it presents (receive: for STARTTLS; send: as
client certificate) and who it relays for.

With --exchange-version the certificates are predictions: the ones an Exchange server of
that version would present with the same certificates and connector settings, by that
version's rules. Exchange 2010 has no TlsCertificateName and chooses by the connector FQDN
(a valid CA-issued certificate first, then the longest validity); 2013 and later honour
TlsCertificateName first.`,
		Example: `  mailflow connector list --config onprem.yaml
  mailflow connector list --config onprem.yaml --exchange-version 2010`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := certs.ParseVersion(version)
			if err != nil {
				return fmt.Errorf("--exchange-version: %w", err)
			}
			var list []admin.ConnectorInfo
			err = onServer(cfgPath, func(c *admin.Client) (err error) {
				list, err = c.PredictConnectors(v)
				return err
			}, func() error {
				rt, err := node.Build(cfgPath, time.Now())
				if err != nil {
					return err
				}
				list = admin.PredictConnectors(rt, time.Now(), v)
				return nil
			})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			writeConnectors(cmd.OutOrStdout(), list)
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	cmd.Flags().StringVar(&version, "exchange-version", "", "predict the certificates an Exchange server of this version would present (2010, 2013, 2016, 2019, se)")
	return cmd
}

func writeConnectors(w io.Writer, list []admin.ConnectorInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range list {
		if c.Kind == "receive" {
			fmt.Fprintf(tw, "Receive connector\t%s\n", c.ID)
			fmt.Fprintf(tw, "  Bindings\t%s\n", strings.Join(c.Bindings, ", "))
			fmt.Fprintf(tw, "  RemoteIPRanges\t%s\n", strings.Join(c.Ranges, ", "))
			fmt.Fprintf(tw, "  Fqdn\t%s\n", c.FQDN)
			fmt.Fprintf(tw, "  TlsCertificateName\t%s\n", orNull(c.Pinned))
			if c.Certificate != nil {
				fmt.Fprintf(tw, "  %s\t%s (thumbprint %s, %s)\n", presentsLabel(c), c.Certificate.Subject, c.Certificate.Thumbprint, selfSigned(c.Certificate.SelfSigned))
			} else {
				fmt.Fprintf(tw, "  %s\tnothing: STARTTLS not offered\n", presentsLabel(c))
			}
			if c.Note != "" {
				fmt.Fprintf(tw, "  Note\t%s\n", c.Note)
			}
			if c.Warning != "" {
				fmt.Fprintf(tw, "  Warning\t%s\n", c.Warning)
			}
			fmt.Fprintf(tw, "  RequireTLS\t%v\n", c.RequireTLS)
			if c.Secure {
				fmt.Fprintf(tw, "  DomainSecureEnabled\ttrue\n")
			}
			fmt.Fprintf(tw, "  Permissions\t%s\n", c.Permissions)
			fmt.Fprintf(tw, "  Relays for\t%s\n", c.Relay)
		} else {
			fmt.Fprintf(tw, "Send connector\t%s\n", c.Name)
			fmt.Fprintf(tw, "  AddressSpaces\t%s\n", strings.Join(c.Spaces, ", "))
			fmt.Fprintf(tw, "  SmartHosts\t%s\n", orMX(c.SmartHosts))
			fmt.Fprintf(tw, "  Fqdn\t%s\n", c.FQDN)
			fmt.Fprintf(tw, "  RequireTLS\t%v\n", c.RequireTLS)
			fmt.Fprintf(tw, "  TlsAuthLevel\t%s\n", orDefault(c.AuthLevel, "EncryptionOnly"))
			fmt.Fprintf(tw, "  DANE\t%s\n", orDefault(c.DANE, "off"))
			sts := orDefault(c.MTASTS, "enforce")
			if len(c.SmartHosts) > 0 && sts != "off" {
				sts += " (applies to delivery by MX only; this connector uses smart hosts)"
			}
			fmt.Fprintf(tw, "  MTA-STS\t%s\n", sts)
			fmt.Fprintf(tw, "  TlsDomain\t%s\n", orDefault(c.TLSDomain, "(recipient domain)"))
			fmt.Fprintf(tw, "  TlsCertificateName\t%s\n", orNull(c.Pinned))
			if c.Certificate != nil {
				fmt.Fprintf(tw, "  %s (client)\t%s (thumbprint %s, %s)\n", presentsLabel(c), c.Certificate.Subject, c.Certificate.Thumbprint, selfSigned(c.Certificate.SelfSigned))
			} else {
				fmt.Fprintf(tw, "  %s (client)\tno client certificate\n", presentsLabel(c))
			}
			if c.Note != "" {
				fmt.Fprintf(tw, "  Note\t%s\n", c.Note)
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// presentsLabel says whose choice the certificate is: this server's, or
// the prediction for an Exchange version.
func presentsLabel(c admin.ConnectorInfo) string {
	if c.ExchangeVersion == "" {
		return "Presents"
	}
	v, _ := certs.ParseVersion(c.ExchangeVersion)
	return "Would present on " + v.String()
}

func orNull(s string) string { return orDefault(s, "(null: automatic selection)") }
func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
func orMX(hosts []string) string {
	if len(hosts) == 0 {
		return "(MX lookup)"
	}
	return strings.Join(hosts, ", ")
}
func selfSigned(b bool) string {
	if b {
		return "self-signed"
	}
	return "CA-issued"
}

// connectorKeys are the settable keys of receive and send connectors, as
// config derives them from its model (snake_case); the flag is the
// kebab-case form.
var connectorKeys = func() []string {
	var keys []string
	seen := map[string]bool{}
	for _, kind := range []string{"receive", "send"} {
		for _, k := range config.SettableConnectorKeys(kind) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}()

func newConnectorSetCmd() *cobra.Command {
	var cfgPath string
	var send bool
	var unset []string
	vals := map[string]*string{}
	cmd := &cobra.Command{
		Use:   `set NAME --config FILE [--tls-certificate-name "<I>issuer<S>subject"] [--KEY VALUE …]`,
		Short: "Change a connector on the running server (no restart), or in the file when none runs",
		Long: `Change a connector like Set-ReceiveConnector / Set-SendConnector. On a running server the
change is validated exactly as at start-up, written to the file atomically (comments kept) and
applied live: new sessions use it at once, sessions in flight finish undisturbed. An invalid
change is refused and changes nothing. Lists are comma-separated ("Tls,BasicAuth").
Use --send for a send connector; --unset KEY returns a key to its default.

Example: a receive connector with no pinned certificate presents its self-signed
CN=SERVER1, so Exchange Online defers mail with 450 4.7.320 SubjectMismatch; pin the
CA-issued certificate that holds the name the cloud validates:
  mailflow connector set "Default Frontend SERVER1" --config onprem.yaml \
    --tls-certificate-name "<I>CN=Contoso Lab CA<S>CN=mail.contoso.com"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fields := map[string]any{}
			for _, k := range connectorKeys {
				if f := cmd.Flags().Lookup(strings.ReplaceAll(k, "_", "-")); f != nil && f.Changed {
					fields[k] = *vals[k]
				}
			}
			for _, k := range unset {
				fields[strings.ReplaceAll(k, "-", "_")] = nil
			}
			if len(fields) == 0 {
				return fmt.Errorf("nothing to change: give at least one --KEY VALUE (see mailflow connector set --help)")
			}
			kind := "receive"
			if send {
				kind = "send"
			}
			name := args[0]
			err := onServer(cfgPath, func(c *admin.Client) error {
				_, err := c.SetConnector(kind, name, fields)
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s connector %q changed and applied live (no restart).\n", kind, name)
				}
				return err
			}, func() error {
				err := config.SetConnectorFields(cfgPath, kind, name, fields, node.Check(time.Now(), nil))
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s connector %q changed in %s; a running server picks it up on SIGHUP or restart.\n", kind, name, cfgPath)
				}
				return err
			})
			return err
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	cmd.Flags().BoolVar(&send, "send", false, "NAME is a send connector")
	cmd.Flags().StringSliceVar(&unset, "unset", nil, "return KEY to its default (repeatable)")
	for _, k := range connectorKeys {
		v := new(string)
		vals[k] = v
		cmd.Flags().StringVar(v, strings.ReplaceAll(k, "_", "-"), "", "set "+k)
	}
	return cmd
}
