package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/users"
)

func init() {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "SMTP AUTH users (devices and applications): add, passwd, remove, list — live on a running server",
		Long: `Users authenticate with SMTP AUTH (PLAIN or LOGIN, after STARTTLS) on a receive
connector with BasicAuth; the ExchangeUsers permission group then lets them submit
and relay to any recipient. Passwords are stored as argon2id hashes in
<data_dir>/users.json (mode 0600). With a running server the change goes through its
admin API and applies at once; otherwise the file is edited directly.`,
	}
	cmd.AddCommand(newUserAddCmd(), newUserPasswdCmd(), newUserRemoveCmd(), newUserListCmd())
	rootCmd.AddCommand(cmd)
}

// readPassword reads the first line of a password file ("-": standard
// input). Passwords never come from the command line, where ps and shell
// history would keep them.
func readPassword(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("--password-file is required (a file whose first line is the password, or - for standard input)")
	}
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, 4096))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("read password file: %w", err)
	}
	pw, _, _ := strings.Cut(string(data), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if err := users.CheckPassword(pw); err != nil {
		return "", fmt.Errorf("password file %s: %w", path, err)
	}
	return pw, nil
}

// openUsers opens the users file of a configuration, for offline edits.
func openUsers(cfgPath string) (*users.Store, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	return users.Open(users.Path(cfg))
}

func newUserAddCmd() *cobra.Command {
	var cfgPath, passFile string
	var sendAs []string
	cmd := &cobra.Command{
		Use:   "add NAME --password-file F [--send-as ADDR]… --config FILE",
		Short: "Add a user; --send-as limits the sender addresses it may use (MAIL FROM and From:)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := users.CheckName(name); err != nil {
				return err
			}
			for _, a := range sendAs {
				if err := users.CheckSendAs(a); err != nil {
					return err
				}
			}
			pw, err := readPassword(passFile)
			if err != nil {
				return err
			}
			hash, err := users.Hash(pw, users.DefaultParams)
			if err != nil {
				return err
			}
			done := func(where string) error {
				fmt.Fprintf(cmd.OutOrStdout(), "added user %s%s%s\n", name, sendAsText(sendAs), where)
				return nil
			}
			return onServer(cfgPath, func(c *admin.Client) error {
				if err := c.AddUser(name, hash, sendAs); err != nil {
					return err
				}
				return done(" (live)")
			}, func() error {
				s, err := openUsers(cfgPath)
				if err != nil {
					return err
				}
				if err := s.Add(&users.User{Name: name, Hash: hash, SendAs: sendAs, Changed: time.Now().UTC()}); err != nil {
					return err
				}
				return done(" in " + s.Path())
			})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	cmd.Flags().StringVar(&passFile, "password-file", "", "file whose first line is the password (- for standard input)")
	cmd.Flags().StringArrayVar(&sendAs, "send-as", nil, "address the user may send as (repeat; *@domain for a whole domain; none: any sender)")
	return cmd
}

func sendAsText(a []string) string {
	if len(a) == 0 {
		return ", may send as any sender"
	}
	return ", may send as " + strings.Join(a, ", ")
}

func newUserPasswdCmd() *cobra.Command {
	var cfgPath, passFile string
	cmd := &cobra.Command{
		Use:   "passwd NAME --password-file F --config FILE",
		Short: "Set a user's password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			pw, err := readPassword(passFile)
			if err != nil {
				return err
			}
			hash, err := users.Hash(pw, users.DefaultParams)
			if err != nil {
				return err
			}
			return onServer(cfgPath, func(c *admin.Client) error {
				if err := c.SetUserPassword(name, hash); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed (live)\n", name)
				return nil
			}, func() error {
				s, err := openUsers(cfgPath)
				if err != nil {
					return err
				}
				if err := s.SetPassword(name, hash); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed in %s\n", name, s.Path())
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	cmd.Flags().StringVar(&passFile, "password-file", "", "file whose first line is the password (- for standard input)")
	return cmd
}

func newUserRemoveCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "remove NAME --config FILE",
		Short: "Remove a user (its next AUTH fails; sessions already authenticated finish)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return onServer(cfgPath, func(c *admin.Client) error {
				if err := c.RemoveUser(name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed user %s (live)\n", name)
				return nil
			}, func() error {
				s, err := openUsers(cfgPath)
				if err != nil {
					return err
				}
				if err := s.Remove(name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed user %s from %s\n", name, s.Path())
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	return cmd
}

func newUserListCmd() *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --config FILE [--json]",
		Short: "List users and the senders each may use (never passwords or hashes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			show := func(list []users.User) error {
				if asJSON {
					if list == nil {
						list = []users.User{}
					}
					return printJSON(cmd.OutOrStdout(), list)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSEND AS\tCHANGED")
				for _, u := range list {
					sa := strings.Join(u.SendAs, ", ")
					if sa == "" {
						sa = "(any sender)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, sa, u.Changed.Format("2006-01-02 15:04Z"))
				}
				return tw.Flush()
			}
			return onServer(cfgPath, func(c *admin.Client) error {
				list, err := c.Users()
				if err != nil {
					return err
				}
				return show(list)
			}, func() error {
				s, err := openUsers(cfgPath)
				if err != nil {
					return err
				}
				return show(s.List())
			})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailflow.yaml", "configuration file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	return cmd
}
