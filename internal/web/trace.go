package web

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/tracking"
)

type traceQuery struct {
	Sender, Recipient, MessageID, Since, Until string
	Searched                                   bool
}

type traceHit struct {
	ID         string
	First      time.Time
	Sender     string
	Subject    string
	Recipients []string
	Last       string // last event id
	Events     int
}

type traceData struct {
	Q    traceQuery
	Hits []traceHit
}

// parseTime takes RFC 3339 or the browser's datetime-local form (UTC).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: use 2026-11-21T10:00 (UTC) or RFC 3339", s)
}

func (w *Web) tracePage(rw http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := traceData{Q: traceQuery{Sender: q.Get("sender"), Recipient: q.Get("recipient"), MessageID: q.Get("message_id"),
		Since: q.Get("since"), Until: q.Get("until"), Searched: len(q) > 0}}
	if !d.Q.Searched {
		w.render(rw, r, s, "trace", "Message trace", d, "", "")
		return
	}
	f := tracking.Filter{Sender: strings.TrimSpace(d.Q.Sender), Recipient: strings.TrimSpace(d.Q.Recipient), MessageID: strings.TrimSpace(d.Q.MessageID)}
	var err error
	if f.Since, err = parseTime(d.Q.Since); err == nil {
		f.Until, err = parseTime(d.Q.Until)
	}
	if err != nil {
		w.render(rw, r, s, "trace", "Message trace", d, "", err.Error())
		return
	}
	w.n.FlushLogs()
	evs, err := tracking.Search(w.n.TrackingDir(), f)
	if err != nil {
		w.render(rw, r, s, "trace", "Message trace", d, "", err.Error())
		return
	}
	byID := map[string]*traceHit{}
	for _, e := range evs {
		h := byID[e.InternalMessageID]
		if h == nil {
			h = &traceHit{ID: e.InternalMessageID, First: e.Time, Sender: e.Sender, Subject: e.Subject}
			byID[e.InternalMessageID] = h
		}
		for _, rc := range e.Recipients {
			if !contains(h.Recipients, rc) {
				h.Recipients = append(h.Recipients, rc)
			}
		}
		h.Last = e.EventID
		h.Events++
	}
	for _, h := range byID {
		d.Hits = append(d.Hits, *h)
	}
	sort.Slice(d.Hits, func(i, j int) bool { return d.Hits[i].First.After(d.Hits[j].First) })
	w.render(rw, r, s, "trace", "Message trace", d, "", "")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

type traceEvent struct {
	E      tracking.Event
	Health string // ok, warn, bad, info
}

type traceMessage struct {
	ID      string
	Subject string
	Sender  string
	Events  []traceEvent
}

func (w *Web) traceMessagePage(rw http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	w.n.FlushLogs()
	evs, err := tracking.Search(w.n.TrackingDir(), tracking.Filter{})
	if err != nil {
		w.render(rw, r, s, "tracemsg", "Trace "+id, traceMessage{ID: id}, "", err.Error())
		return
	}
	d := traceMessage{ID: id}
	for _, e := range evs {
		if !strings.EqualFold(e.InternalMessageID, id) {
			continue
		}
		if d.Subject == "" {
			d.Subject, d.Sender = e.Subject, e.Sender
		}
		d.Events = append(d.Events, traceEvent{E: e, Health: eventHealth(e.EventID)})
	}
	sort.SliceStable(d.Events, func(i, j int) bool { return d.Events[i].E.Time.Before(d.Events[j].E.Time) })
	if len(d.Events) == 0 {
		w.renderCode(rw, r, s, http.StatusNotFound, "tracemsg", "Trace "+id, d, "", "No tracking events for message "+id+".")
		return
	}
	w.render(rw, r, s, "tracemsg", "Trace "+id, d, "", "")
}

func eventHealth(id string) string {
	switch id {
	case tracking.EventSend, tracking.EventDeliver:
		return "ok"
	case tracking.EventDefer:
		return "warn"
	case tracking.EventFail, "EXPIRE":
		return "bad"
	}
	return "info"
}
