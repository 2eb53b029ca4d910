package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// AddReceiveConnector appends c to receive_connectors (creating the list
// when absent), written with only the keys c sets, in the model's order,
// lists in flow style. The whole file is validated with the checks (a
// second connector of the same name, or bindings that clash, are refused)
// before anything is written.
func AddReceiveConnector(path string, c ReceiveConnector, checks ...Check) error {
	return addConnector(path, "receive", c.Name, &c, checks)
}

// AddSendConnector is AddReceiveConnector for send_connectors.
func AddSendConnector(path string, c SendConnector, checks ...Check) error {
	return addConnector(path, "send", c.Name, &c, checks)
}

func addConnector(path, kind, name string, c any, checks []Check) error {
	ck, err := connectorKindOf(kind)
	if err != nil {
		return err
	}
	item, err := connectorMapping(c)
	if err != nil {
		return fmt.Errorf("add %s %q to %s: %w", ck.label, name, path, err)
	}
	_, err = Apply(path, func(root *yaml.Node) error {
		seq, err := listOf(root, ck.listKey)
		if err != nil {
			return err
		}
		seq.Content = append(seq.Content, item)
		return nil
	}, checks...)
	if err != nil {
		return fmt.Errorf("add %s %q to %s: %w", ck.label, name, path, err)
	}
	return nil
}

// RemoveConnector removes the connector of kind ("receive" or "send")
// named name (compared ignoring case), validated like any edit: a change
// the configuration cannot live without is refused and changes nothing.
func RemoveConnector(path, kind, name string, checks ...Check) error {
	ck, err := connectorKindOf(kind)
	if err != nil {
		return err
	}
	_, err = Apply(path, func(root *yaml.Node) error {
		item, err := findConnector(root, ck.listKey, ck.label, name)
		if err != nil {
			return err
		}
		seq := resolve(mappingValue(root, ck.listKey))
		for i, n := range seq.Content {
			if resolve(n) == item {
				seq.Content = append(seq.Content[:i], seq.Content[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("%s %q is not directly in %s (an alias?); remove it by hand", ck.label, name, ck.listKey)
	}, checks...)
	if err != nil {
		return fmt.Errorf("remove %s %q from %s: %w", ck.label, name, path, err)
	}
	return nil
}

// ConnectorYAML is the mapping AddReceiveConnector or AddSendConnector
// writes for c (a ReceiveConnector or SendConnector), for showing the
// change to a person.
func ConnectorYAML(c any) ([]byte, error) {
	item, err := connectorMapping(c)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(item); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// doubleQuote writes the strings of n that need quoting in a flow list in
// double quotes (the encoder's default is single quotes), as the example
// files do.
func doubleQuote(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Style == 0 {
		probe := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: n.Value}}}
		if out, err := yaml.Marshal(probe); err == nil && strings.HasPrefix(string(out), "['") {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	for _, c := range n.Content {
		doubleQuote(c)
	}
}

// connectorMapping builds the YAML mapping of a connector: the keys it
// sets (non-zero fields), in the model's order.
func connectorMapping(c any) (*yaml.Node, error) {
	v := reflect.Indirect(reflect.ValueOf(c))
	if v.Kind() != reflect.Struct || (v.Type() != reflect.TypeFor[ReceiveConnector]() && v.Type() != reflect.TypeFor[SendConnector]()) {
		return nil, fmt.Errorf("%T is not a receive or send connector", c)
	}
	if strings.TrimSpace(v.FieldByName("Name").String()) == "" {
		return nil, fmt.Errorf("the connector has no name")
	}
	idx, names := fieldsOf(v.Type())
	item := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, key := range names {
		f := v.Field(idx[key])
		if f.IsZero() {
			continue
		}
		var n yaml.Node
		if err := n.Encode(f.Interface()); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if n.Kind == yaml.SequenceNode {
			n.Style |= yaml.FlowStyle
		}
		doubleQuote(&n)
		item.Content = append(item.Content, scalar(key), &n)
	}
	return item, nil
}

// PutConnectors writes connectors into the file in one edit: a connector
// whose name (ignoring case) is already in its list is replaced in place,
// the others are appended (the list created when absent). The whole file
// is validated with the checks before anything is written, so a side of a
// plan is applied entirely or not at all.
func PutConnectors(path string, receive []ReceiveConnector, send []SendConnector, checks ...Check) error {
	type put struct {
		kind string
		name string
		c    any
	}
	var puts []put
	for i := range receive {
		puts = append(puts, put{"receive", receive[i].Name, &receive[i]})
	}
	for i := range send {
		puts = append(puts, put{"send", send[i].Name, &send[i]})
	}
	_, err := Apply(path, func(root *yaml.Node) error {
		for _, p := range puts {
			ck, err := connectorKindOf(p.kind)
			if err != nil {
				return err
			}
			item, err := connectorMapping(p.c)
			if err != nil {
				return fmt.Errorf("%s %q: %w", ck.label, p.name, err)
			}
			seq, err := listOf(root, ck.listKey)
			if err != nil {
				return err
			}
			replaced := false
			for i, n := range seq.Content {
				if name := mappingValue(resolve(n), "name"); name != nil && strings.EqualFold(strings.TrimSpace(name.Value), strings.TrimSpace(p.name)) {
					seq.Content[i] = item
					replaced = true
					break
				}
			}
			if !replaced {
				seq.Content = append(seq.Content, item)
			}
		}
		return nil
	}, checks...)
	if err != nil {
		return fmt.Errorf("write connectors to %s: %w", path, err)
	}
	return nil
}
