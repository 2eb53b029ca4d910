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
//
// A key the connector does not have is refused with the error start-up
// would print for it (file, line, dotted key, the nearest valid key as the
// fix), judged on the file as it would be with the key written in; the
// file is not touched.
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
	if unknown := unknownKeys(ck, keys); len(unknown) > 0 {
		if startup := wouldBeErrors(path, ck, connector, unknown, fields); startup != nil {
			return fmt.Errorf("set %s of %s %q: the change would make %s invalid, so it was not saved:\n%w",
				strings.Join(unknown, ", "), ck.label, connector, path, startup)
		}
	}
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

// unknownKeys returns the keys (sorted) that a connector of ck does not
// have.
func unknownKeys(ck connectorKind, keys []string) []string {
	known, _ := fieldsOf(ck.t)
	var out []string
	for _, k := range keys {
		if _, ok := known[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// wouldBeErrors writes keys into the named connector in memory and returns
// the problems Parse reports for the result, or nil when it cannot build
// that file (unknown connector, unusual layout).
func wouldBeErrors(path string, ck connectorKind, name string, keys []string, fields map[string]any) Errors {
	data, err := Edit(path, func(root *yaml.Node) error {
		item, err := findConnector(root, ck.listKey, ck.label, name)
		if err != nil {
			return err
		}
		for _, k := range keys {
			var v yaml.Node
			if err := v.Encode(fields[k]); err != nil {
				return err
			}
			item.Content = append(item.Content, scalar(k), &v)
		}
		return nil
	})
	if err != nil {
		return nil
	}
	_, err = Parse(path, data)
	return AsErrors(err)
}

// SettableConnectorKeys lists the keys of a connector of kind ("receive"
// or "send") that SetConnectorFields sets, in the model's order: every key
// but name (a connector's identity). nil for an unknown kind.
func SettableConnectorKeys(kind string) []string {
	ck, err := connectorKindOf(kind)
	if err != nil {
		return nil
	}
	_, names := fieldsOf(ck.t)
	var out []string
	for _, n := range names {
		if n != "name" {
			out = append(out, n)
		}
	}
	return out
}
