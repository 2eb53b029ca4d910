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
	var listKey, label string
	var t reflect.Type
	switch strings.ToLower(kind) {
	case "receive", "":
		listKey, label, t = "receive_connectors", "receive connector", reflect.TypeFor[ReceiveConnector]()
	case "send":
		listKey, label, t = "send_connectors", "send connector", reflect.TypeFor[SendConnector]()
	default:
		return fmt.Errorf("connector kind %q: use receive or send", kind)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	_, err := Apply(path, func(root *yaml.Node) error {
		item, err := findConnector(root, listKey, label, connector)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := setField(item, t, k, fields[k]); err != nil {
				return err
			}
		}
		return nil
	}, checks...)
	if err != nil {
		return fmt.Errorf("set %s of %s %q: %w", strings.Join(keys, ", "), label, connector, err)
	}
	return nil
}
