package config

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse: Parse never panics, and whatever it accepts is consistent:
// validating again finds nothing, entries know their key and line, and a
// no-op edit produces a file that still parses.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"onprem.yaml", "tenant.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		head,
		head + "receive_connectors:\n  - name: A\n    bindings: [\"0.0.0.0:25\"]\n    remote_ip_ranges: [10.0.0.0/8]\n",
		head + "send_connectors:\n  - name: O\n    address_spaces: ['*']\n    smart_hosts: ['[::1]:25']\n",
		"a: &a [*a]\n",
		"server: &s\n  name: S\n  fqdn: s.x\nqueue:\n  <<: *s\n",
		"server:\n\tname: x\n",
		"--- \n...\n",
		"limits: {max_message_size: 36 MB (37,748,736 bytes), read_timeout: 2d}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			for _, e := range AsErrors(err) {
				if e.Msg == "" || e.File != "f.yaml" {
					t.Fatalf("error without message or file: %#v", e)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate is not idempotent: %v", err)
		}
		for i := range c.ReceiveConnectors {
			rc := &c.ReceiveConnectors[i]
			if rc.Key == "" || rc.Line == 0 || len(rc.Ranges()) != len(rc.RemoteIPRanges) || len(rc.ParsedBindings()) != len(rc.Bindings) {
				t.Fatalf("receive connector %d inconsistent: %+v", i, rc)
			}
		}
		out, err := editBytes("f.yaml", data, func(*yaml.Node) error { return nil })
		if err != nil {
			t.Fatalf("no-op edit failed: %v", err)
		}
		if _, err := Parse("f.yaml", out); err != nil {
			t.Fatalf("no-op edit made the file invalid: %v\n--- before\n%s\n--- after\n%s", err, data, out)
		}
	})
}
