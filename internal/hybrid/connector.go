package hybrid

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/mailflowhq/mailflow/internal/config"
)

// Connector is one mailflow connector of a plan: its keys in the order a
// person writes them, with the configuration file's snake_case names.
type Connector struct {
	Kind   string  `json:"kind"` // receive or send
	Fields []Field `json:"-"`
}

// Field is one key of a connector: a string, a bool or a []string.
type Field struct {
	Key   string
	Value any
}

// Name is the connector's name.
func (c Connector) Name() string { s, _ := c.Get("name").(string); return s }

// Get returns a key's value, nil when absent.
func (c Connector) Get(key string) any {
	for _, f := range c.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// String returns a string key's value, "" when absent.
func (c Connector) String(key string) string { s, _ := c.Get(key).(string); return s }

// List returns a list key's value.
func (c Connector) List(key string) []string { l, _ := c.Get(key).([]string); return l }

func (c *Connector) set(key string, v any) {
	for i := range c.Fields {
		if c.Fields[i].Key == key {
			c.Fields[i].Value = v
			return
		}
	}
	c.Fields = append(c.Fields, Field{key, v})
}

// MarshalJSON writes the kind and the fields in order.
func (c Connector) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"kind":`)
	b.WriteString(strconv.Quote(c.Kind))
	for _, f := range c.Fields {
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b.WriteString(",")
		b.WriteString(strconv.Quote(f.Key))
		b.WriteString(":")
		b.Write(v)
	}
	b.WriteString("}")
	return b.Bytes(), nil
}

// node builds the YAML mapping of the connector.
func (c Connector) node() *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, f := range c.Fields {
		k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Key}
		var v *yaml.Node
		switch x := f.Value.(type) {
		case bool:
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}
		case []string:
			v = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
			for _, s := range x {
				v.Content = append(v.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: quoteStyle(s)})
			}
		default:
			s := fmt.Sprint(x)
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: quoteStyle(s)}
		}
		m.Content = append(m.Content, k, v)
	}
	return m
}

// quoteStyle double-quotes values YAML would read otherwise or that hold
// characters people trip over (<I>…<S>…, host:port, commas).
func quoteStyle(s string) yaml.Style {
	for _, r := range s {
		switch r {
		case ':', '<', '>', ',', '#', '*', '"', '\'', '[', ']', '{', '}', '&', '!', '|', '%', '@', '`', ' ':
			return yaml.DoubleQuotedStyle
		}
	}
	if s == "" || s == "true" || s == "false" || s == "null" || s == "yes" || s == "no" {
		return yaml.DoubleQuotedStyle
	}
	return 0
}

// FragmentYAML renders connectors as the receive_connectors: and
// send_connectors: sections of a configuration file.
func FragmentYAML(comment string, cs ...Connector) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, kind := range []string{"receive", "send"} {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, c := range cs {
			if c.Kind == kind {
				seq.Content = append(seq.Content, c.node())
			}
		}
		if len(seq.Content) > 0 {
			root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kind + "_connectors"}, seq)
		}
	}
	var b bytes.Buffer
	if comment != "" {
		b.WriteString(comment)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	enc.Close()
	return b.Bytes(), nil
}

// Apply writes connectors into a configuration file: a connector of the
// same kind and name is replaced, others are appended. The file is edited
// as a node tree (comments kept), validated (and checked by checks) before
// it is saved atomically; a refused edit leaves it unchanged.
func Apply(path string, cs []Connector, checks ...config.Check) error {
	_, err := config.Apply(path, func(root *yaml.Node) error {
		for _, c := range cs {
			list := c.Kind + "_connectors"
			seq := mapValue(root, list)
			if seq == nil {
				seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
				root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: list}, seq)
			}
			if seq.Kind != yaml.SequenceNode {
				return fmt.Errorf("%s (line %d) is not a list", list, seq.Line)
			}
			replaced := false
			for i, item := range seq.Content {
				if n := mapValue(item, "name"); n != nil && n.Value == c.Name() {
					seq.Content[i] = c.node()
					replaced = true
				}
			}
			if !replaced {
				seq.Content = append(seq.Content, c.node())
			}
		}
		return nil
	}, checks...)
	if err != nil {
		return fmt.Errorf("apply the hybrid plan to %s: %w", path, err)
	}
	return nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
