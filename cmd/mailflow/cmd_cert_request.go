package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
)

func newCertRequestCmd() *cobra.Command {
	var (
		cfgPath, subject, keyType, out, cancel string
		sans                                   []string
		force                                  bool
	)
	cmd := &cobra.Command{
		Use:   `request --subject "CN=mail.contoso.com" --san mail.contoso.com --out req.csr --config FILE`,
		Short: "Write a certificate request (PKCS#10) for a third-party CA, like New-ExchangeCertificate -GenerateRequest",
		Long: `Create a private key and a PKCS#10 certificate request. The request goes to --out for
the CA; the key stays in the certificate store (<data_dir>/certificates/pending, mode 0600)
as a pending request, which mailflow cert list shows. Import what the CA returns (PEM,
DER or a .p7b chain) with mailflow cert import: it is matched to this request by its key.

  mailflow cert request --config mailflow.yaml --subject "CN=mail.contoso.com, O=Contoso, C=US" \
    --san mail.contoso.com --san autodiscover.contoso.com --key rsa-2048 --out mail.csr

Cancel a pending request with --cancel ID.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			store := lifecycle.Pending(cfg)
			if cancel != "" {
				if err := store.Remove(cancel); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "pending request %s cancelled (its key is deleted)\n", cancel)
				return nil
			}
			if out == "" {
				return errors.New("--out FILE is required: the request to send to the CA")
			}
			if _, err := os.Stat(out); err == nil && !force {
				return fmt.Errorf("%s exists: choose another --out or add --force", out)
			}
			req, err := certs.NewRequest(certs.RequestTemplate{Subject: subject, SANs: sans, KeyType: keyType, Now: time.Now()})
			if err != nil {
				return err
			}
			if err := store.Save(req); err != nil {
				return err
			}
			csr, err := os.ReadFile(filepath.Join(store.Dir, req.ID+".csr"))
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, csr, 0o644); err != nil {
				store.Remove(req.ID)
				return fmt.Errorf("write %s: %w", out, err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Request    : %s (pending)\n", req.ID)
			fmt.Fprintf(w, "Subject    : %s\n", req.Subject)
			fmt.Fprintf(w, "SANs       : %s\n", strings.Join(req.SANs, ";"))
			fmt.Fprintf(w, "Key        : %s, kept in %s\n", req.KeyType, req.KeyFile)
			fmt.Fprintf(w, "Wrote %s — send it to the CA, then:\n  mailflow cert import SIGNED.cer --config %s\n", out, cfgPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file (its data_dir holds the pending key)")
	f.StringVar(&subject, "subject", "", `subject in Windows form, e.g. "CN=mail.contoso.com, O=Contoso, C=US"`)
	f.StringArrayVar(&sans, "san", nil, "subject alternative name; repeat for more (default: the subject's CN)")
	f.StringVar(&keyType, "key", "rsa-2048", "key type: ecdsa-p256, rsa-2048 or rsa-3072")
	f.StringVarP(&out, "out", "o", "", "file to write the PEM request to")
	f.BoolVar(&force, "force", false, "overwrite --out if it exists")
	f.StringVar(&cancel, "cancel", "", "delete the pending request with this ID instead")
	return cmd
}
