package hybrid

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mailflowhq/mailflow/internal/config"
)

// Connectors is one side's mailflow connectors of a plan: the receive
// connector for the other side and the send connector to it.
type Connectors struct {
	Receive config.ReceiveConnector
	Send    config.SendConnector
}

// MarshalJSON writes each connector with the configuration file's
// snake_case keys, only those the plan sets.
func (c Connectors) MarshalJSON() ([]byte, error) {
	recv, err := connectorMap(&c.Receive)
	if err != nil {
		return nil, err
	}
	send, err := connectorMap(&c.Send)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"receive_connector": recv, "send_connector": send})
}

// connectorMap is a connector as the configuration file writes it.
func connectorMap(c any) (map[string]any, error) {
	y, err := config.ConnectorYAML(c)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(y, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// YAML renders the connectors as the receive_connectors: and
// send_connectors: sections of a configuration file, after comment.
func (c Connectors) YAML(comment string) ([]byte, error) {
	var b strings.Builder
	b.WriteString(comment)
	for _, s := range []struct {
		list string
		c    any
	}{{"receive_connectors", &c.Receive}, {"send_connectors", &c.Send}} {
		y, err := config.ConnectorYAML(s.c)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", s.list, err)
		}
		b.WriteString(s.list + ":\n")
		for i, line := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
			if i == 0 {
				b.WriteString("  - " + line + "\n")
			} else {
				b.WriteString("    " + line + "\n")
			}
		}
	}
	return []byte(b.String()), nil
}

// Apply writes the connectors into a configuration file in one validated
// edit (config.PutConnectors): a connector of the same name is replaced,
// another is appended; comments are kept, and a refused edit leaves the
// file unchanged.
func (c Connectors) Apply(path string, checks ...config.Check) error {
	if err := config.PutConnectors(path, []config.ReceiveConnector{c.Receive}, []config.SendConnector{c.Send}, checks...); err != nil {
		return fmt.Errorf("apply the hybrid plan: %w", err)
	}
	return nil
}
