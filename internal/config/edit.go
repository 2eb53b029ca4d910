package config

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Live edits (admin API) and offline edits (CLI) change the YAML node tree,
// not the Config struct, so comments, key order, quoting and flow lists
// survive; only spacing before line comments is normalised by the encoder.
// Every edit is validated by parsing the new bytes before anything is
// written: a refused edit leaves the file byte-identical.

// editMu serialises edits within one process (concurrent admin requests).
// Between processes, Apply refuses to write if the file changed while it
// was editing.
var editMu sync.Mutex

// Edit reads path, lets fn change the root mapping and returns the new
// bytes without writing them.
func Edit(path string, fn func(root *yaml.Node) error) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("edit %s: %w", path, err)
	}
	return editBytes(path, data, fn)
}

func editBytes(path string, data []byte, fn func(root *yaml.Node) error) ([]byte, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("edit %s: %w", path, err)
	}
	if doc == nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("edit %s: the file is not a YAML mapping of sections", path)
	}
	if err := fn(doc.Content[0]); err != nil {
		return nil, err
	}
	indent, compact := layout(doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(indent)
	if compact {
		enc.CompactSeqIndent()
	}
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("edit %s: encode: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("edit %s: encode: %w", path, err)
	}
	return buf.Bytes(), nil
}

// layout detects the file's indentation and whether block lists are
// written "- item" flush with their key (compact) or indented, so an edit
// does not re-indent the whole file.
func layout(doc *yaml.Node) (indent int, compact bool) {
	indent, compact = 2, false
	foundIndent, foundSeq := false, false
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || depth > 64 || (foundIndent && foundSeq) {
			return
		}
		if n.Kind != yaml.MappingNode {
			for _, c := range n.Content {
				walk(c, depth+1)
			}
			return
		}
		if n.Style&yaml.FlowStyle == 0 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if !foundIndent && v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 && v.Line > k.Line {
					if d := v.Content[0].Column - k.Column; d >= 2 && d <= 8 {
						indent, foundIndent = d, true
					}
				}
				if !foundSeq && v.Kind == yaml.SequenceNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 && v.Line > k.Line {
					compact, foundSeq = v.Column == k.Column, true
				}
				walk(v, depth+1)
			}
		}
	}
	walk(doc, 0)
	return indent, compact
}

// Apply edits path with fn, validates the result with Parse (and the
// checks) and, only if it is valid, writes it atomically and returns the
// new configuration. On any error the file is left untouched.
func Apply(path string, fn func(root *yaml.Node) error, checks ...Check) (*Config, error) {
	editMu.Lock()
	defer editMu.Unlock()
	before, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("edit %s: %w", path, err)
	}
	after, err := editBytes(path, before, fn)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(path, after, checks...)
	if err != nil {
		return nil, fmt.Errorf("the change would make %s invalid, so it was not saved:\n%w", path, err)
	}
	now, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("edit %s: %w", path, err)
	}
	if !bytes.Equal(now, before) {
		return nil, fmt.Errorf("edit %s: the file changed on disk while it was being edited; nothing was saved, retry", path)
	}
	if err := WriteAtomic(path, after); err != nil {
		return nil, err
	}
	return cfg, nil
}

// SetReceiveConnectorField sets key of the named receive connector (name
// compared ignoring case) to value, or removes the key when value is nil
// (back to its default). A string value is converted to the key's type, so
// a command line can pass "true", "36MB" or "Tls,BasicAuth" as written.
func SetReceiveConnectorField(path, connector, key string, value any, checks ...Check) error {
	return SetConnectorFields(path, "receive", connector, map[string]any{key: value}, checks...)
}

// SetSendConnectorField is SetReceiveConnectorField for send connectors.
func SetSendConnectorField(path, connector, key string, value any, checks ...Check) error {
	return SetConnectorFields(path, "send", connector, map[string]any{key: value}, checks...)
}

// AddCertificate appends ref to certificates (creating the list when
// absent). A file already listed is refused.
func AddCertificate(path string, ref CertificateRef, checks ...Check) error {
	_, err := Apply(path, func(root *yaml.Node) error {
		seq, err := listOf(root, "certificates")
		if err != nil {
			return err
		}
		for _, item := range seq.Content {
			if f := mappingValue(item, "file"); f != nil && samePath(path, f.Value, ref.File) {
				return fmt.Errorf("%s is already listed (line %d)", ref.File, item.Line)
			}
		}
		entry := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, kv := range [][2]string{{"file", ref.File}, {"key_file", ref.KeyFile}, {"password_file", ref.PasswordFile}} {
			if kv[1] != "" {
				entry.Content = append(entry.Content, scalar(kv[0]), scalar(kv[1]))
			}
		}
		seq.Content = append(seq.Content, entry)
		return nil
	}, checks...)
	if err != nil {
		return fmt.Errorf("add certificate %s: %w", ref.File, err)
	}
	return nil
}

// RemoveCertificate removes the certificates entry whose file is file
// (as written, or the same file once resolved).
func RemoveCertificate(path, file string, checks ...Check) error {
	_, err := Apply(path, func(root *yaml.Node) error {
		seq := mappingValue(root, "certificates")
		var listed []string
		if seq != nil && seq.Kind == yaml.SequenceNode {
			for i, item := range seq.Content {
				f := mappingValue(item, "file")
				if f == nil {
					continue
				}
				if samePath(path, f.Value, file) {
					seq.Content = append(seq.Content[:i], seq.Content[i+1:]...)
					return nil
				}
				listed = append(listed, f.Value)
			}
		}
		if len(listed) == 0 {
			return fmt.Errorf("no certificate is listed in %s", path)
		}
		return fmt.Errorf("no certificate entry has file %s; listed: %s", file, strings.Join(listed, ", "))
	}, checks...)
	if err != nil {
		return fmt.Errorf("remove certificate %s: %w", file, err)
	}
	return nil
}

func samePath(configPath, a, b string) bool {
	if a == b {
		return true
	}
	c := &Config{Path: configPath}
	return c.Resolve(a) == c.Resolve(b)
}

// findConnector returns the mapping of the connector named name in the
// list under listKey; the error lists the existing names.
func findConnector(root *yaml.Node, listKey, kind, name string) (*yaml.Node, error) {
	seq := resolve(mappingValue(root, listKey))
	var names []string
	if seq != nil && seq.Kind == yaml.SequenceNode {
		for _, item := range seq.Content {
			item = resolve(item)
			if item == nil || item.Kind != yaml.MappingNode {
				continue
			}
			n := mappingValue(item, "name")
			if n == nil {
				continue
			}
			if strings.EqualFold(n.Value, name) {
				return item, nil
			}
			names = append(names, strconv.Quote(n.Value))
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no %s named %q: the file has no %ss", kind, name, kind)
	}
	return nil, fmt.Errorf("no %s named %q; existing: %s", kind, name, strings.Join(names, ", "))
}

// listOf returns the list under key in the root mapping, creating an
// empty one when the key is absent or null.
func listOf(root *yaml.Node, key string) (*yaml.Node, error) {
	seq := mappingValue(root, key)
	if seq == nil || (seq.Kind == yaml.ScalarNode && seq.Tag == "!!null") {
		seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		setMappingValue(root, key, seq)
	}
	if seq.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s (line %d) is not a list", key, seq.Line)
	}
	return seq, nil
}

// mappingValue returns the value node of key in mapping m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
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

// setMappingValue replaces the value of key in m, keeping the comments of
// the old value, or appends key: value.
func setMappingValue(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			old := m.Content[i+1]
			v.HeadComment, v.LineComment, v.FootComment = old.HeadComment, old.LineComment, old.FootComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}

func deleteMappingKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// setField sets key of the connector mapping item. The key must be one of
// t's; string values are converted to the key's type.
func setField(item *yaml.Node, t reflect.Type, key string, value any) error {
	idx, names := fieldsOf(t)
	i, ok := idx[key]
	if !ok {
		return fmt.Errorf("unknown key %q; %s", key, unknownKeyFix(key, t, names))
	}
	if value == nil {
		deleteMappingKey(item, key)
		return nil
	}
	value, err := convert(value, t.Field(i).Type)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	var n yaml.Node
	if err := n.Encode(value); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	// Keep how the old value was written: a flow list stays [a, b], a
	// quoted string stays quoted.
	if old := mappingValue(item, key); old != nil {
		switch {
		case old.Kind == yaml.SequenceNode && n.Kind == yaml.SequenceNode:
			n.Style |= old.Style & yaml.FlowStyle
		case old.Kind == yaml.ScalarNode && n.Kind == yaml.ScalarNode && n.Tag == "!!str" &&
			old.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && !strings.Contains(n.Value, "\n"):
			n.Style = old.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle)
		}
	}
	setMappingValue(item, key, &n)
	return nil
}

// convert turns a string from a command line into the field's type; other
// values pass through and Parse judges them.
func convert(value any, t reflect.Type) (any, error) {
	s, ok := value.(string)
	if !ok {
		return value, nil
	}
	switch {
	case t == durationType:
		d, err := ParseDuration(s)
		if err != nil {
			return nil, err
		}
		return d, nil
	case t == byteSizeType:
		b, err := ParseByteSize(s)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Pointer:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	case reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	case reflect.Slice:
		var list []string
		for _, part := range strings.Split(s, ",") {
			if p := strings.TrimSpace(part); p != "" {
				list = append(list, p)
			}
		}
		return list, nil
	}
	return s, nil
}
