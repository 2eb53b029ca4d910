package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mailflowhq/mailflow/internal/admin"
)

// onServer runs live against the server that the configuration file
// describes (through its admin API); when none is running it runs offline,
// or says what to do when the operation needs a running server.
func onServer(cfgPath string, live func(*admin.Client) error, offline func() error) error {
	c, err := admin.ClientFor(cfgPath)
	switch {
	case err == nil:
		return live(c)
	case errors.Is(err, admin.ErrNotRunning):
		if offline == nil {
			return fmt.Errorf("%v; start it with: mailflow serve --config %s", err, cfgPath)
		}
		fmt.Fprintf(os.Stderr, "mailflow: no running server for %s; working on the file offline\n", cfgPath)
		return offline()
	default:
		return err
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
