// Command mailflow is the CLI of the mailflow transport and diagnostics kit.
// This package only parses flags and wires the internal packages together;
// every subcommand lives in its own cmd_*.go file and registers itself with
// rootCmd from an init function.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:           "mailflow",
	Short:         "TLS mail flow between organisations: transport, diagnostics and lab",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		code := 1
		if ee, ok := err.(*exitError); ok {
			code = ee.code
			if ee.err == nil {
				os.Exit(code)
			}
		}
		fmt.Fprintln(os.Stderr, "mailflow:", err)
		os.Exit(code)
	}
}
