package web

import (
	"encoding/json"
	"net/http"
)

type auditRow struct {
	E             AuditEntry
	Before, After string
}

func (w *Web) auditPage(rw http.ResponseWriter, r *http.Request, s *session) {
	list, err := w.audit.last(200)
	rows := make([]auditRow, 0, len(list))
	for _, e := range list {
		rows = append(rows, auditRow{E: e, Before: compactJSON(e.Before), After: compactJSON(e.After)})
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	w.render(rw, r, s, "audit", "Audit log", rows, "", msg)
}

func compactJSON(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}
