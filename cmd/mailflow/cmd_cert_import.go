package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/node"
)

func newCertImportCmd() *cobra.Command {
	var cfgPath, keyFile, passFile string
	var force, repin bool
	cmd := &cobra.Command{
		Use:   "import FILE --config FILE [--key-file F] [--password-file F] [--force] [--repin]",
		Short: "Add a certificate to the store (live when the server runs), like Import-ExchangeCertificate",
		Long: `Add a certificate to the store. FILE is either
  - a CA's reply to mailflow cert request (PEM, DER .cer, or a PKCS#7 .p7b chain): it is
    matched to the pending request by its public key and stored with that key; or
  - a certificate with its key (PEM with the key, --key-file, or PFX with --password-file).

Before the certificate can become the one a connector presents it is checked as senders will
check it: the connector's FQDN in its CN or SANs, a pinned tls_certificate_name still
selecting it, the chain complete to a trusted root, key usage for TLS, validity. A problem
refuses the import (nothing is changed) and prints the fix; --force imports anyway and logs
the warnings. --repin also points the connectors whose pin would no longer select the
certificate (a new issuer, e.g. a new intermediate CA) at it.

A connector pinned with "<I>issuer<S>subject" picks up a renewal with the same issuer and
subject by itself (the newest NotBefore wins).

The TLSA records published for the fqdn and ports of each receive connector concerned
are looked up through the configured dns resolvers (one of the checks above); if DANE
senders would refuse the new key (450 4.7.323 tlsa-invalid) a warning prints the record
to publish and the rollover steps. A warning does not refuse the import.

When the server runs, the checks run in the server (the admin API's import, the same one
the web admin center's upload uses); otherwise here, through the same function.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return importCertificate(cmd.OutOrStdout(), cmd.ErrOrStderr(), cfgPath, absPath(args[0]), absPath(keyFile), absPath(passFile), force, repin)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	cmd.Flags().StringVar(&keyFile, "key-file", "", "PEM private key when not in FILE")
	cmd.Flags().StringVar(&passFile, "password-file", "", "file holding the PFX password")
	cmd.Flags().BoolVar(&force, "force", false, "import even if the checks find a problem (the warnings are logged)")
	cmd.Flags().BoolVar(&repin, "repin", false, "set tls_certificate_name of connectors whose pin would no longer select it")
	return cmd
}

func importCertificate(w, errW io.Writer, cfgPath, file, keyFile, passFile string, force, repin bool) error {
	now := time.Now()
	rt, err := node.Build(cfgPath, now)
	if err != nil {
		return err
	}
	cfg := rt.Cfg
	cand, err := certs.LoadFile(file, keyFile, passFile)
	var pending *certs.PendingRequest
	switch {
	case err == nil && cand.HasPrivateKey():
	case (err == nil || errors.Is(err, certs.ErrNoCertificate)) && keyFile == "" && passFile == "":
		// A CA's reply: complete the pending request it was issued for.
		cand, pending, err = lifecycle.CompleteRequest(cfg, file)
		if err != nil {
			return err
		}
	case err == nil:
		return cand.RequireKey()
	default:
		return err
	}

	importFile, importKey, importPass := file, keyFile, passFile
	if pending != nil {
		importFile, err = lifecycle.WriteIssued(cfg, cand)
		if err != nil {
			return err
		}
		importKey, importPass = "", ""
	}
	// The renewal guard runs where the certificate goes in: in the server
	// (admin API) when it runs, else here through the same function.
	opts := node.ImportOptions{Force: force, Repin: repin}
	var admitted lifecycle.Findings
	var repinned []string
	err = onServer(cfgPath, func(c *admin.Client) error {
		res, err := c.ImportCertificate(admin.ImportRequest{File: importFile, KeyFile: importKey, PasswordFile: importPass, ImportOptions: opts})
		var apiErr *admin.APIError
		if errors.As(err, &apiErr) && len(apiErr.Findings) > 0 {
			return refuseImport(w, cand, apiErr.Findings)
		}
		if err != nil {
			return err
		}
		admitted, repinned = res.Findings, res.Repinned
		fmt.Fprintf(w, "imported %s (thumbprint %s) and applied live\n", cand.Subject, cand.Thumbprint)
		return nil
	}, func() error {
		a, err := node.AdmitImport(rt.Guard(now), cand, opts)
		var refused *lifecycle.RefusedError
		if errors.As(err, &refused) {
			return refuseImport(w, cand, refused.Findings)
		}
		if err != nil {
			return err
		}
		admitted = a.Findings
		ref := config.CertificateRef{File: importFile, KeyFile: importKey, PasswordFile: importPass}
		if err := config.AddCertificate(cfgPath, ref, node.Check(now, nil)); err != nil {
			return err
		}
		for _, u := range a.Repin {
			if err := config.SetConnectorFields(cfgPath, kindOf(cfg, u.Connector), u.Connector, map[string]any{"tls_certificate_name": u.Pin}, node.Check(now, nil)); err != nil {
				return fmt.Errorf("certificate added, but re-pinning %s failed: %w", u.Connector, err)
			}
			repinned = append(repinned, u.Connector)
		}
		fmt.Fprintf(w, "added %s (thumbprint %s) to %s\n", importFile, cand.Thumbprint, cfgPath)
		return nil
	})
	for _, f := range admitted {
		if f.Check == lifecycle.CheckDANE {
			// The TLSA warning is a block with the records and the
			// rollover steps, printed as cert tlsa --check prints it.
			fmt.Fprint(errW, "WARNING: "+f.Problem+"\n"+f.Fix)
			continue
		}
		msg := "certificate imported with a warning"
		if f.Severity == lifecycle.SevError {
			msg = "certificate imported despite a problem (--force)"
		}
		slog.Warn(msg, "thumbprint", cand.Thumbprint, "check", f.Check, "connector", f.Connector, "problem", f.Problem, "fix", f.Fix)
	}
	if err != nil {
		if pending != nil {
			os.Remove(importFile)
		}
		return err
	}
	if len(cfg.DNS.Resolvers) == 0 {
		fmt.Fprintf(errW, "TLSA records not checked (no dns.resolvers in %s); check them with: mailflow cert tlsa --config %s --check --resolver HOST:PORT\n", cfgPath, cfgPath)
	}
	if pending != nil {
		if err := lifecycle.Pending(cfg).Remove(pending.ID); err != nil {
			fmt.Fprintf(w, "warning: the pending request %s stays listed: %v\n", pending.ID, err)
		}
		fmt.Fprintf(w, "completed pending request %s; certificate, chain and key kept in %s\n", pending.ID, importFile)
	}
	for _, name := range repinned {
		fmt.Fprintf(w, "re-pinned %s: tls_certificate_name: '%s'\n", name, strings.ReplaceAll(cand.Name(), "'", "''"))
	}
	after, err := node.Build(cfgPath, now)
	if err != nil {
		return err
	}
	using := after.Guard(now).Presenting(cand.Thumbprint)
	if len(using) == 0 {
		fmt.Fprintf(w, "No connector presents it yet: pin it with tls_certificate_name: '%s' or set a connector's fqdn to a name it holds (%s)\n",
			strings.ReplaceAll(cand.Name(), "'", "''"), strings.Join(cand.SANs, ", "))
	} else {
		fmt.Fprintf(w, "Connectors now presenting it: %s\n", strings.Join(using, ", "))
	}
	return nil
}

// refuseImport prints the renewal guard's refusal with every fix; nothing
// was changed.
func refuseImport(w io.Writer, cand *certs.Certificate, fs lifecycle.Findings) error {
	fmt.Fprintf(w, "Refused: certificate %s (%s, issued by %s) would break mail flow. Nothing was changed.\n", cand.Thumbprint, cand.Subject, cand.Issuer)
	fs.Print(w)
	fmt.Fprintln(w, "(--force imports it anyway)")
	return &exitError{code: 1}
}

// kindOf says whether a connector name is a receive or a send connector.
func kindOf(cfg *config.Config, name string) string {
	for _, sc := range cfg.SendConnectors {
		if strings.EqualFold(sc.Name, name) {
			return "send"
		}
	}
	return "receive"
}
