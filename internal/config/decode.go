package config

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The configuration is decoded by walking the YAML node tree against the
// Go types by hand instead of with Node.Decode: the walk knows the dotted
// key of every value, so each problem (unknown key, wrong type) is reported
// with its line and key, all of them in one pass, and a key→line map is
// kept for problems found later.

// decoder collects problems while filling a Config from nodes.
type decoder struct {
	file  string
	lines map[string]int
	bad   map[string]bool // keys that failed to decode; validation stays quiet about them
	errs  Errors
}

func (d *decoder) fail(line int, key, msg, fix string) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: msg, Fix: fix})
	d.bad[key] = true
}

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// maxAliasDepth bounds alias and merge resolution; legitimate files use one
// or two levels.
const maxAliasDepth = 16

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasDepth; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names what the administrator wrote, for "want X, found Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value lines)"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// decodeValue fills v from n; key is v's dotted path.
func (d *decoder) decodeValue(n *yaml.Node, key string, v reflect.Value) {
	n = resolve(n)
	if n == nil || n.Kind == yaml.AliasNode {
		d.fail(0, key, "alias chain too deep", "use at most a few levels of YAML aliases")
		return
	}
	if isNull(n) {
		return // an empty value keeps the default
	}
	t := v.Type()
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, key, "want a duration, found "+describe(n), "write a number with a unit: 90s, 5m, 24h or 2d")
			return
		}
		dur, err := ParseDuration(n.Value)
		if err != nil {
			d.fail(n.Line, key, err.Error(), "write a number with a unit: 90s, 5m, 24h or 2d")
			return
		}
		v.SetInt(int64(dur))
		return
	case t == byteSizeType:
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, key, "want a size, found "+describe(n), "write bytes (37748736) or a size with a unit: 512KB, 36MB, 1GB")
			return
		}
		size, err := ParseByteSize(n.Value)
		if err != nil {
			d.fail(n.Line, key, err.Error(), "write bytes (37748736) or a size with a unit: 512KB, 36MB, 1GB")
			return
		}
		v.SetInt(int64(size))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, key, v)
	case reflect.Slice:
		d.decodeSlice(n, key, v)
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		d.decodeValue(n, key, p.Elem())
		if !d.bad[key] {
			v.Set(p)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, key, "want a single value, found "+describe(n), "write one value on the line of the key, quoted if it contains ': ' or starts with [ { * & ! |")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, ok := parseBool(n)
		if !ok {
			d.fail(n.Line, key, "want true or false, found "+describe(n), "write true or false (yes/no/on/off are ambiguous in YAML)")
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, key, "want a whole number, found "+describe(n), "write a whole number such as 20")
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 64)
		if err != nil {
			d.fail(n.Line, key, fmt.Sprintf("want a whole number, found %q", n.Value), "write a whole number such as 20")
			return
		}
		v.SetInt(i)
	default:
		// Only reachable if model.go gains a field of a new kind.
		d.fail(n.Line, key, fmt.Sprintf("mailflow cannot read a %s here", t), "report this as a mailflow bug")
	}
}

func parseBool(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch strings.ToLower(n.Value) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// fieldsOf maps yaml key names to struct field indexes, skipping fields
// tagged "-" and unexported ones.
func fieldsOf(t reflect.Type) (map[string]int, []string) {
	idx := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || name == "" {
			continue
		}
		idx[name] = i
		names = append(names, name)
	}
	return idx, names
}

// pair is one key: value of a mapping, merges flattened.
type pair struct {
	key, value *yaml.Node
	merged     bool
}

// pairs lists a mapping's entries; YAML merge keys ("<<: *defaults") are
// expanded after the explicit entries so that explicit keys win.
func (d *decoder) pairs(n *yaml.Node, key string, depth int) []pair {
	return d.mergePairs(n, key, depth, map[*yaml.Node]bool{n: true})
}

// mergePairs does the work of pairs; seen holds the mappings already
// merged, so that "<<: [*a, *a]" or an anchor merging itself cannot blow
// up exponentially.
func (d *decoder) mergePairs(n *yaml.Node, key string, depth int, seen map[*yaml.Node]bool) []pair {
	var out, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			if depth >= maxAliasDepth {
				d.fail(k.Line, key, "merge keys nested too deeply", "use at most a few levels of << merges")
				continue
			}
			val = resolve(val)
			var sources []*yaml.Node
			switch {
			case val != nil && val.Kind == yaml.MappingNode:
				sources = []*yaml.Node{val}
			case val != nil && val.Kind == yaml.SequenceNode:
				for _, s := range val.Content {
					sources = append(sources, resolve(s))
				}
			}
			for _, s := range sources {
				if s == nil || s.Kind != yaml.MappingNode {
					d.fail(k.Line, key, "<< must name a mapping (an anchor like &defaults)", "write <<: *anchor where the anchor is a mapping")
					continue
				}
				if seen[s] {
					continue
				}
				seen[s] = true
				for _, p := range d.mergePairs(s, key, depth+1, seen) {
					p.merged = true
					merged = append(merged, p)
				}
			}
			continue
		}
		out = append(out, pair{key: k, value: val})
	}
	return append(out, merged...)
}

func (d *decoder) decodeStruct(n *yaml.Node, key string, v reflect.Value) {
	t := v.Type()
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, key, "want a mapping (key: value lines), found "+describe(n), fmt.Sprintf("write the keys of %s indented under it: %s", section(t), strings.Join(knownKeys(t), ", ")))
		return
	}
	idx, names := fieldsOf(t)
	seen := map[string]int{}
	for _, p := range d.pairs(n, key, 0) {
		k := resolve(p.key)
		if k == nil || k.Kind != yaml.ScalarNode {
			d.fail(p.key.Line, key, "a key must be a plain name", "write name: value")
			continue
		}
		child := k.Value
		if key != "" {
			child = key + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			if !p.merged {
				d.fail(k.Line, child, fmt.Sprintf("%s is set twice (first on line %d)", k.Value, first), "keep one of them")
			}
			continue
		}
		seen[k.Value] = k.Line
		i, ok := idx[k.Value]
		if !ok {
			d.fail(k.Line, child, fmt.Sprintf("unknown key %q in %s", k.Value, section(t)), unknownKeyFix(k.Value, t, names))
			continue
		}
		d.lines[child] = k.Line
		d.decodeValue(p.value, child, v.Field(i))
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, key, "want a list, found "+describe(n), fmt.Sprintf("write a list, e.g. %s: [%s] or one \"- item\" per line", lastSegment(key), exampleItem(n)))
		return
	}
	elems := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		itemKey := fmt.Sprintf("%s[%d]", key, i)
		d.lines[itemKey] = item.Line
		e := elems.Index(i)
		d.decodeValue(item, itemKey, e)
		// Connector and certificate entries remember where they are.
		if e.Kind() == reflect.Struct {
			if f := e.FieldByName("Line"); f.IsValid() && f.Kind() == reflect.Int {
				f.SetInt(int64(item.Line))
			}
			if f := e.FieldByName("Key"); f.IsValid() && f.Kind() == reflect.String {
				f.SetString(itemKey)
			}
		}
	}
	v.Set(elems)
}

func exampleItem(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.Value != "" {
		return strconv.Quote(n.Value)
	}
	return "…"
}

var indexSuffix = regexp.MustCompile(`\[\d+\]$`)

// lastSegment is the last key name of a dotted path, without an index.
func lastSegment(key string) string {
	key = indexSuffix.ReplaceAllString(key, "")
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[i+1:]
	}
	return key
}

// sectionNames says, in messages, where a type's keys live.
var sectionNames = map[reflect.Type]string{
	reflect.TypeFor[Config]():           "the top level",
	reflect.TypeFor[Server]():           "server",
	reflect.TypeFor[Trust]():            "trust",
	reflect.TypeFor[CertificateRef]():   "a certificates entry",
	reflect.TypeFor[ReceiveConnector](): "a receive connector",
	reflect.TypeFor[SendConnector]():    "a send connector",
	reflect.TypeFor[Queue]():            "queue",
	reflect.TypeFor[Limits]():           "limits",
	reflect.TypeFor[Admin]():            "admin",
	reflect.TypeFor[DNS]():              "dns",
}

func section(t reflect.Type) string {
	if s, ok := sectionNames[t]; ok {
		return s
	}
	return t.Name()
}

// knownKeys lists a section's keys in file order.
func knownKeys(t reflect.Type) []string {
	_, names := fieldsOf(t)
	return names
}

// unknownKeyFix suggests the intended key: a near spelling in the same
// section first, then the same key in another section (a key put at the
// wrong level), then the list of valid keys.
func unknownKeyFix(k string, t reflect.Type, names []string) string {
	if s := nearest(k, names); s != "" {
		return fmt.Sprintf("did you mean %s?", s)
	}
	var elsewhere []string
	for other, label := range sectionNames {
		if other == t {
			continue
		}
		if s := nearest(k, knownKeys(other)); s != "" && editDistance(strings.ToLower(s), strings.ToLower(k)) <= 1 {
			elsewhere = append(elsewhere, fmt.Sprintf("%s (in %s)", s, label))
		}
	}
	if len(elsewhere) > 0 {
		sort.Strings(elsewhere)
		return fmt.Sprintf("%s is not a key of %s; did you mean %s? Move it there or remove it", k, section(t), strings.Join(elsewhere, " or "))
	}
	return fmt.Sprintf("remove it; the keys of %s are: %s", section(t), strings.Join(names, ", "))
}
