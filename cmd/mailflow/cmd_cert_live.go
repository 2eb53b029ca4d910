package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/node"
)

func newCertRemoveCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "remove THUMBPRINT --config FILE",
		Short: "Remove a certificate from the running server (refused while a connector pins it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tp := args[0]
			return onServer(cfgPath, func(c *admin.Client) error {
				if err := c.RemoveCertificate(tp); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s and applied live\n", tp)
				return nil
			}, func() error {
				rt, err := node.Build(cfgPath, time.Now())
				if err != nil {
					return err
				}
				c := rt.Store.FindThumbprint(tp)
				if c == nil {
					return fmt.Errorf("no certificate with thumbprint %s in %s; list them with mailflow cert list --config %s", tp, cfgPath, cfgPath)
				}
				if err := config.RemoveCertificate(cfgPath, c.Source, node.Check(time.Now(), nil)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s (%s) from %s\n", tp, c.Source, cfgPath)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	return cmd
}

func newCertLabCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "lab --dir DIR",
		Short: "Create the lab CA and the certificates examples/*.yaml name, under DIR/certs",
		Long: `Create the lab PKI under DIR/certs: lab-ca.pem (CN=Contoso Lab CA), server1-selfsigned.pem
(self-signed CN=SERVER1, like Exchange's default certificate), mail-contoso.pfx + mail-contoso.pass
(CA-issued CN=mail.contoso.com), mail-protection.pem (the tenant's CN=mail.protection.outlook.com)
and a few more used by the lab (hybrid-san.pem, mail-contoso-renewed.pem, untrusted.pem).

  mailflow cert lab --dir examples && mailflow serve --config examples/onprem.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := labpki.New(dir, time.Now())
			if err != nil {
				return err
			}
			for _, c := range []struct {
				file string
				cert *certs.Certificate
			}{{p.CAFile, p.CA}, {p.Server1File, p.Server1}, {p.ContosoPFX, p.Contoso}, {p.TenantFile, p.Tenant},
				{p.SANOnlyFile, p.SANOnly}, {p.RenewedFile, p.Renewed}, {p.UntrustedFile, p.Untrusted}} {
				fmt.Fprintf(cmd.OutOrStdout(), "%-40s %s  %s\n", c.file, c.cert.Thumbprint, c.cert.Name())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "examples", "directory; certificates go to DIR/certs")
	return cmd
}
