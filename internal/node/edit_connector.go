package node

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mailflowhq/mailflow/internal/config"
)

// SetConnectorFields edits fields of a receive or send connector in the
// file at path, validated by check (see Check); the live and the offline
// paths both use it so they refuse a change with the same words.
//
// A key that a connector does not have is refused by config before
// anything is validated, with a message that names neither the file nor
// the line. An administrator should see the error start-up would print for
// that key, so the refusal is rebuilt from the file as it would be with
// the key written into the connector: file, line, dotted key and the
// nearest valid key as the fix. The file is not touched either way.
func SetConnectorFields(path, kind, name string, fields map[string]any, check config.Check) error {
	err := config.SetConnectorFields(path, kind, name, fields, check)
	if err == nil || config.AsErrors(err) != nil {
		return err
	}
	unknown := config.UnknownConnectorKeys(kind, fields)
	if len(unknown) == 0 {
		return err
	}
	if startup := wouldBeErrors(path, kind, name, unknown, fields); startup != nil {
		return fmt.Errorf("set %s of %s connector %q: the change would make %s invalid, so it was not saved:\n%w",
			strings.Join(unknown, ", "), strings.ToLower(kind), name, path, startup)
	}
	return err
}

// wouldBeErrors writes keys into the named connector in memory and returns
// the problems Parse reports for the result, or nil when it cannot build
// that file (unknown connector, unusual layout).
func wouldBeErrors(path, kind, name string, keys []string, fields map[string]any) config.Errors {
	data, err := config.Edit(path, func(root *yaml.Node) error {
		item, err := config.ConnectorNode(root, kind, name)
		if err != nil {
			return err
		}
		for _, k := range keys {
			var v yaml.Node
			if err := v.Encode(fields[k]); err != nil {
				return err
			}
			item.Content = append(item.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &v)
		}
		return nil
	})
	if err != nil {
		return nil
	}
	_, err = config.Parse(path, data)
	return config.AsErrors(err)
}
