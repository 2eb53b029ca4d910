package main

import "github.com/spf13/cobra"

// Placeholder until the diagnostics helper lands connector validate.
func newConnectorValidateCmd() *cobra.Command {
	return &cobra.Command{Use: "validate", Hidden: true}
}
