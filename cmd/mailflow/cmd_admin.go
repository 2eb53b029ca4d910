package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/config"
)

func init() {
	adminCmd := &cobra.Command{
		Use:   "admin",
		Short: "Administer the admin center itself (web login password)",
	}
	var cfgPath string
	passwd := &cobra.Command{
		Use:   "passwd --config FILE < password.txt",
		Short: "Set the web admin center's login password (read from standard input)",
		Long: `Set a password for the web admin center's login form, besides the admin token
(which always works). The first line of standard input is the password (at least
12 characters); its argon2id hash is stored as admin.password in the data directory
(mode 0600). A running server uses it at the next login, no restart.`,
		Example: `  printf '%s\n' 'correct horse battery staple' | mailflow admin passwd --config onprem.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("read the password from standard input: %w (pipe it in: printf '%%s\\n' PASSWORD | mailflow admin passwd)", err)
			}
			path := admin.PasswordFile(cfg)
			if err := admin.SetPassword(path, strings.TrimRight(line, "\r\n")); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "web login password set (hash in %s)\n", path)
			return nil
		},
	}
	passwd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	adminCmd.AddCommand(passwd)
	rootCmd.AddCommand(adminCmd)
}
