package web

import (
	"html/template"
	"net/url"
	"sort"
	"strings"
	"time"
)

var funcs = template.FuncMap{
	"path": url.PathEscape,
	"join": strings.Join,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"connpath":  connectorPath,
	"hasprefix": strings.HasPrefix,
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
