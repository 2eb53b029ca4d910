package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/node"
)

func init() {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "List and create certificates (like Get-ExchangeCertificate / New-ExchangeCertificate)",
	}
	cmd.AddCommand(newCertListCmd(), newCertNewCmd(), newCertRequestCmd(), newCertImportCmd(), newCertCheckCmd(), newCertRemoveCmd(), newCertLabCmd(), newCertTLSACmd())
	rootCmd.AddCommand(cmd)
}

func newCertListCmd() *cobra.Command {
	var cfgPath, keyFile, passwordFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--config FILE] [--json] [FILES…]",
		Short: "Show certificates with thumbprint, names, dates and the <I>issuer<S>subject value",
		Long: `Show the certificates of the configuration (--config, the certificates: list) and/or
the given files (PEM, DER or PFX). The Name line is the value to put in
tls_certificate_name.`,
		RunE: func(cmd *cobra.Command, files []string) error {
			if cfgPath == "" && len(files) == 0 {
				return errors.New("give --config FILE or certificate files")
			}
			var list []*certs.Certificate
			if cfgPath != "" {
				cs, err := loadConfigCerts(cfgPath)
				if err != nil {
					return err
				}
				list = append(list, cs...)
			}
			for _, f := range files {
				c, err := certs.LoadFile(f, keyFile, passwordFile)
				if err != nil {
					return err
				}
				list = append(list, c)
			}
			now := time.Now()
			if asJSON {
				infos := make([]certs.Info, 0, len(list))
				for _, c := range list {
					infos = append(infos, c.Describe(now))
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false) // keep <I>…<S>… readable
				return enc.Encode(infos)
			}
			for i, c := range list {
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				printCertInfo(cmd.OutOrStdout(), c.Describe(now))
			}
			if cfgPath != "" {
				return printPending(cmd.OutOrStdout(), cfgPath, now, len(list) > 0)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file whose certificates: to list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	cmd.Flags().StringVar(&keyFile, "key-file", "", "PEM private key for the FILES given")
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "file holding the PFX password for the FILES given")
	return cmd
}

// printPending lists the pending certificate requests of the configuration,
// like Exchange's "Status: PendingRequest" entries.
func printPending(w io.Writer, cfgPath string, now time.Time, gap bool) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	reqs, err := lifecycle.Pending(cfg).List()
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if gap {
			fmt.Fprintln(w)
		}
		gap = true
		age := int(now.Sub(r.Created).Hours() / 24)
		rows := [][2]string{
			{"Status", "PendingRequest (waiting for the CA's signed certificate: mailflow cert import FILE)"},
			{"Request", r.ID},
			{"Subject", r.Subject},
			{"SANs", strings.Join(r.SANs, ";")},
			{"Key", r.KeyType},
			{"Created", fmt.Sprintf("%s (%d days ago)", r.Created.Format(time.RFC3339), age)},
			{"Source", r.KeyFile},
		}
		for _, row := range rows {
			fmt.Fprintf(w, "%-13s : %s\n", row[0], row[1])
		}
	}
	return nil
}

// printCertInfo prints one certificate the way Format-List does.
func printCertInfo(w io.Writer, in certs.Info) {
	kind := "CA-issued"
	if in.SelfSigned {
		kind = "self-signed"
	}
	if in.IsCA {
		kind += ", certificate authority"
	}
	left := fmt.Sprintf("%d days left", in.DaysLeft)
	switch in.Status {
	case certs.StatusExpired:
		left = fmt.Sprintf("EXPIRED %d days ago", -in.DaysLeft)
	case certs.StatusNotYetValid:
		left = "NOT YET VALID"
	}
	key := "True"
	if !in.HasPrivateKey {
		key = "False (cannot be presented)"
	}
	rows := [][2]string{
		{"Thumbprint", in.Thumbprint},
		{"Subject", in.Subject},
		{"Issuer", in.Issuer},
		{"SerialNumber", in.Serial},
		{"SANs", strings.Join(in.SANs, ";")},
		{"NotBefore", in.NotBefore.Format(time.RFC3339)},
		{"NotAfter", in.NotAfter.Format(time.RFC3339) + " (" + left + ")"},
		{"Type", kind},
		{"Key", in.KeyAlgorithm + ", " + in.SignatureAlgorithm},
		{"HasPrivateKey", key},
		{"Name", in.Name},
		{"Source", in.Source},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-13s : %s\n", r[0], r[1])
	}
}

// loadConfigCerts loads the certificates listed under certificates: in the
// configuration file (an ACME certificate not issued yet is left out).
func loadConfigCerts(path string) ([]*certs.Certificate, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	store, errs := node.LoadCertificates(cfg)
	if len(errs) > 0 {
		return nil, errs
	}
	return store.All(), nil
}

func newCertNewCmd() *cobra.Command {
	var (
		subject, out, keyType, issuerCert, issuerKey, issuerPassword, pfxPasswordFile string
		sans                                                                          []string
		days                                                                          int
		isCA, force                                                                   bool
	)
	cmd := &cobra.Command{
		Use:   "new --subject \"CN=SERVER1\" --san SERVER1 --san server1.contoso.local --out FILE",
		Short: "Create a certificate and key (self-signed, or issued by --issuer-cert), like New-ExchangeCertificate",
		Long: `Create a certificate with its private key and write it as PEM (chain and PKCS#8
key, mode 0600) or, when --out ends in .pfx or .p12, as PFX protected by the
password in --pfx-password-file.

Without --san the subject's CN is used as the only SAN. Without --issuer-cert
the certificate is self-signed, like Exchange's default certificate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			if subject == "" && len(sans) == 0 {
				return errors.New("give --subject (e.g. \"CN=mail.contoso.com\") or at least one --san")
			}
			if days <= 0 {
				return fmt.Errorf("--days %d: give a positive number of days", days)
			}
			ext := strings.ToLower(filepath.Ext(out))
			isPFX := ext == ".pfx" || ext == ".p12"
			if isPFX && pfxPasswordFile == "" {
				return fmt.Errorf("--out %s is a PFX: give --pfx-password-file with its password", out)
			}
			if _, err := os.Stat(out); err == nil && !force {
				return fmt.Errorf("%s exists: choose another --out or add --force", out)
			}
			if len(sans) == 0 && subject != "" && !isCA {
				dn, err := certs.ParseDN(subject)
				if err != nil {
					return fmt.Errorf("--subject: %w", err)
				}
				if cn := commonName(dn); cn != "" && !strings.ContainsAny(cn, " \t") {
					sans = []string{cn}
				}
			}
			tmpl := certs.Template{
				Subject:   subject,
				SANs:      sans,
				KeyType:   keyType,
				IsCA:      isCA,
				NotBefore: time.Now().Truncate(time.Second),
			}
			tmpl.NotAfter = tmpl.NotBefore.AddDate(0, 0, days)
			if issuerCert != "" {
				iss, err := certs.LoadFile(issuerCert, issuerKey, issuerPassword)
				if err != nil {
					return fmt.Errorf("--issuer-cert: %w", err)
				}
				if err := iss.RequireKey(); err != nil {
					return fmt.Errorf("--issuer-cert: %w", err)
				}
				tmpl.Issuer = iss
			}
			c, err := certs.Generate(tmpl)
			if err != nil {
				return err
			}
			format := "PEM, chain and private key"
			if isPFX {
				pw, err := os.ReadFile(pfxPasswordFile)
				if err != nil {
					return fmt.Errorf("--pfx-password-file: %w", err)
				}
				if err := certs.WritePFX(out, c, strings.TrimRight(string(pw), "\r\n")); err != nil {
					return err
				}
				format = "PFX"
			} else if err := certs.WritePEM(out, c); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Thumbprint : %s\n", c.Thumbprint)
			fmt.Fprintf(w, "Subject    : %s\n", c.Subject)
			fmt.Fprintf(w, "SANs       : %s\n", strings.Join(c.SANs, ";"))
			fmt.Fprintf(w, "NotAfter   : %s\n", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
			fmt.Fprintf(w, "Name       : %s\n", c.Name())
			fmt.Fprintf(w, "Wrote %s (%s)\n", out, format)
			fmt.Fprintf(w, "\nFor a connector: tls_certificate_name: '%s'\n", strings.ReplaceAll(c.Name(), "'", "''"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&subject, "subject", "", `subject in Windows form, e.g. "CN=mail.contoso.com, O=Contoso, C=US"`)
	f.StringArrayVar(&sans, "san", nil, "subject alternative name (DNS name, IP or e-mail); repeat for more")
	f.StringVarP(&out, "out", "o", "", "file to write (.pem/.crt: PEM; .pfx/.p12: PFX)")
	f.IntVar(&days, "days", 1825, "validity in days (Exchange's default is five years)")
	f.StringVar(&keyType, "key", "rsa2048", "key type: "+strings.Join(certs.KeyTypes, ", "))
	f.StringVar(&issuerCert, "issuer-cert", "", "CA certificate (with key) that signs the new one; default self-signed")
	f.StringVar(&issuerKey, "issuer-key", "", "PEM key of --issuer-cert when not in the same file")
	f.StringVar(&issuerPassword, "issuer-password-file", "", "PFX password file of --issuer-cert")
	f.BoolVar(&isCA, "ca", false, "make a certificate authority")
	f.StringVar(&pfxPasswordFile, "pfx-password-file", "", "file holding the password of a .pfx/.p12 --out")
	f.BoolVar(&force, "force", false, "overwrite --out if it exists")
	return cmd
}

func commonName(dn certs.DN) string {
	for _, rdn := range dn {
		for _, a := range rdn {
			if a.Type == "CN" && !a.Hex {
				return a.Value
			}
		}
	}
	return ""
}
