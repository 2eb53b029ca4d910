package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/diag/explain"
)

// explainMaxStdin bounds what explain reads from standard input: an error
// string or an event text is a few KB at most.
const explainMaxStdin = 1 << 20

func init() {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain [STRING|-]",
		Short: "Explain a mail-flow error string: cause, evidence to collect and fix",
		Long: `Explain an error string as an administrator finds it: an Exchange Online
message-trace reason ([{LED=…};{MSG=…};…]), an on-premises queue LastError,
a message-tracking recipient-status, an application-log event text (12014,
12016), a protocol-log line (TLS negotiation failed with error …) or a bare
SMTP reply ("451 5.7.3 STARTTLS is required to send mail").

The string is read from standard input when no argument or "-" is given;
several arguments are joined with spaces, so quoting is optional.
Exit status: 0 when the string is recognised, 1 when it is not.`,
		Example: `  mailflow explain "450 4.7.320 Certificate validation failed"
  mailflow explain --json '[{LED=450 4.7.320 Certificate validation failed};{MSG=SubjectMismatch};{FQDN=mail.contoso.com};{IP=1.2.3.4}]'
  Get-Queue | fl LastError | mailflow explain -`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			input, err := readExplainInput(cmd, args)
			if err != nil {
				return err
			}
			e := explain.Text(input)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false) // keep <I>…<S>… readable
				if err := enc.Encode(e); err != nil {
					return fmt.Errorf("write JSON: %w", err)
				}
			} else if err := e.WriteText(out); err != nil {
				return err
			}
			if !e.Recognised {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write the explanation as JSON")
	rootCmd.AddCommand(cmd)
}

// readExplainInput returns the string to explain: the arguments, or standard
// input for none or "-".
func readExplainInput(cmd *cobra.Command, args []string) (string, error) {
	if len(args) > 0 && !(len(args) == 1 && args[0] == "-") {
		return strings.Join(args, " "), nil
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintln(cmd.ErrOrStderr(), "mailflow explain: reading the error string from standard input (end with Ctrl-D)")
		}
	}
	b, err := io.ReadAll(io.LimitReader(in, explainMaxStdin+1))
	if err != nil {
		return "", fmt.Errorf("read standard input: %w", err)
	}
	if len(b) > explainMaxStdin {
		return "", fmt.Errorf("standard input is over %d bytes: pass only the error string", explainMaxStdin)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("nothing to explain: give the error string as an argument or on standard input")
	}
	return s, nil
}
