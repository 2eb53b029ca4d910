package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SetConnectorFields sets several keys of one connector in a single
// validated edit, so a change that is only valid as a whole (require_tls
// together with Tls in auth_mechanism) is judged as a whole. kind is
// "receive" or "send". A nil value removes the key (back to its default).
func SetConnectorFields(path, kind, connector string, fields map[string]any, checks ...Check) error {
	ck, err := connectorKindOf(kind)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	_, err = Apply(path, func(root *yaml.Node) error {
		item, err := findConnector(root, ck.listKey, ck.label, connector)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := setField(item, ck.t, k, fields[k]); err != nil {
				return err
			}
		}
		return nil
	}, checks...)
	if err != nil {
		return fmt.Errorf("set %s of %s %q: %w", strings.Join(keys, ", "), ck.label, connector, err)
	}
	return nil
}

// connectorKind is where connectors of one kind live in the file, what
// messages call them and the Go type their keys come from.
type connectorKind struct {
	listKey, label string
	t              reflect.Type
}

// connectorKindOf resolves kind: "receive" (or empty) or "send", any case.
func connectorKindOf(kind string) (connectorKind, error) {
	switch strings.ToLower(kind) {
	case "receive", "":
		return connectorKind{"receive_connectors", "receive connector", reflect.TypeFor[ReceiveConnector]()}, nil
	case "send":
		return connectorKind{"send_connectors", "send connector", reflect.TypeFor[SendConnector]()}, nil
	}
	return connectorKind{}, fmt.Errorf("connector kind %q: use receive or send", kind)
}

// ConnectorNode returns the mapping of the connector of kind ("receive" or
// "send") named name, compared ignoring case, in the root mapping Edit
// passes; the error lists the existing names.
func ConnectorNode(root *yaml.Node, kind, name string) (*yaml.Node, error) {
	ck, err := connectorKindOf(kind)
	if err != nil {
		return nil, err
	}
	return findConnector(root, ck.listKey, ck.label, name)
}

// UnknownConnectorKeys returns, sorted, the keys of fields that a connector
// of kind does not have; nil for an unknown kind.
func UnknownConnectorKeys(kind string, fields map[string]any) []string {
	ck, err := connectorKindOf(kind)
	if err != nil {
		return nil
	}
	known, _ := fieldsOf(ck.t)
	var out []string
	for k := range fields {
		if _, ok := known[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
