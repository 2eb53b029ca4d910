package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Check is an extra validation run after the structural one, for checks
// this package cannot make itself: the server passes one that loads the
// certificate files and resolves tls_certificate_name values, reporting
// problems with c.ErrorAt so they carry the right line. A Check returns nil,
// an *Error, Errors, or any other error.
type Check func(c *Config) error

// Load reads, parses, defaults and validates the configuration at path.
// Relative paths inside it are kept as written; use Resolve.
func Load(path string, checks ...Check) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load configuration %s: %w", path, err)
	}
	return Parse(path, data, checks...)
}

// Parse is Load for bytes already read; path names the file in messages
// and anchors relative paths. On any problem it returns nil and an error
// holding every problem found (see AsErrors). Checks run only when the
// structural validation passed, so they may rely on its guarantees.
func Parse(path string, data []byte, checks ...Check) (*Config, error) {
	root, perr := parseYAML(path, data)
	if perr != nil {
		return nil, perr
	}
	c := &Config{Path: path}
	d := &decoder{file: path, lines: map[string]int{}, bad: map[string]bool{}}
	d.decodeStruct(root, "", reflect.ValueOf(c).Elem())
	c.lines, c.bad = d.lines, d.bad
	c.ApplyDefaults()
	errs := d.errs
	if err := c.Validate(); err != nil {
		errs = append(errs, AsErrors(err)...)
	}
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	for _, check := range checks {
		if err := check(c); err != nil {
			if es := AsErrors(err); es != nil {
				errs = append(errs, es...)
			} else {
				errs = append(errs, &Error{File: path, Msg: err.Error()})
			}
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML returns the root mapping of the single document in data.
func parseYAML(path string, data []byte) (root *yaml.Node, err error) {
	doc, err := parseDocument(data)
	if err != nil {
		e := &Error{File: path, Msg: "YAML syntax: " + err.Error(),
			Fix: "check indentation (spaces, not tabs) and quote values that contain \": \" or start with [ { * & ! | > % @"}
		var second *secondDocumentError
		if errors.As(err, &second) {
			e.Line, e.Msg = second.line, "a second YAML document (after ---) is not allowed"
			e.Fix = "keep everything in one document: remove the --- line and merge the sections"
		} else if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = "YAML syntax: " + m[2]
		}
		return nil, Errors{e}
	}
	if doc == nil || len(doc.Content) == 0 {
		return nil, Errors{{File: path, Line: 1, Msg: "the file is empty",
			Fix: "start from examples/onprem.yaml; at least server.name and server.fqdn are needed"}}
	}
	root = resolve(doc.Content[0])
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, Errors{{File: path, Line: doc.Content[0].Line, Msg: "the file must be a mapping of sections (server:, receive_connectors:, …), found " + describe(doc.Content[0]),
			Fix: "start from examples/onprem.yaml"}}
	}
	return root, nil
}

// parseDocument parses exactly one YAML document. A second document would
// be silently ignored by the yaml package; refusing it avoids an
// administrator editing settings that never apply.
func parseDocument(data []byte) (doc *yaml.Node, err error) {
	// The parser is third-party code fed with files an operator may have
	// mangled; a panic in it must become an error, not a crashed server
	// during a live reload.
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("the YAML parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		line := extra.Line
		if line == 0 && len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, &secondDocumentError{line: line}
	}
	return &n, nil
}

// secondDocumentError reports a "---" starting another document.
type secondDocumentError struct{ line int }

func (e *secondDocumentError) Error() string {
	return fmt.Sprintf("line %d: a second YAML document (after ---) is not allowed", e.line)
}
