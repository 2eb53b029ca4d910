package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mailflowhq/mailflow/internal/diag/explain"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/queue"
)

type queueRow struct {
	Item      node.QueuedRecipient
	LastError string               // as mailflow queue list shows it
	Explain   *explain.Explanation // of the last error, when there is one
	Text      string               // the explanation as mailflow explain prints it
}

type hopView struct {
	Hop          node.Hop
	Ready, Retry int
	Rows         []queueRow
	More         int // recipients not shown (beyond maxQueueRows)
}

// maxQueueRows bounds the rows shown per next hop, so a large queue still
// renders quickly; the counts above the table are complete.
const maxQueueRows = 200

func (w *Web) queuesPage(rw http.ResponseWriter, r *http.Request, s *session) {
	var hops []hopView
	for _, h := range w.n.Hops() {
		hv := hopView{Hop: h, Ready: h.ByState[queue.StateReady], Retry: h.ByState[queue.StateRetry]}
		for i, it := range h.Items {
			if i == maxQueueRows {
				hv.More = len(h.Items) - i
				break
			}
			row := queueRow{Item: it}
			if f := it.Rcpt.LastError; f != nil {
				row.LastError = f.String()
				e := explain.Text(row.LastError)
				var b strings.Builder
				e.WriteText(&b)
				row.Explain, row.Text = &e, b.String()
			}
			hv.Rows = append(hv.Rows, row)
		}
		hops = append(hops, hv)
	}
	w.render(rw, r, s, "queues", "Queues", hops, "", "")
}

func (w *Web) queueRetry(rw http.ResponseWriter, r *http.Request, s *session) {
	w.queueAction(rw, r, s, "queue.retry", w.n.Queue().Retry, "Retry scheduled for %s: the queue delivers it now.")
}

func (w *Web) queueRemove(rw http.ResponseWriter, r *http.Request, s *session) {
	w.queueAction(rw, r, s, "queue.remove", w.n.Queue().Remove, "Removed %s from the queue (no DSN).")
}

func (w *Web) queueAction(rw http.ResponseWriter, r *http.Request, s *session, action string, do func(string) error, done string) {
	id := r.PathValue("id")
	m, ok := w.n.Queue().Get(id)
	if !ok || id == "" {
		w.record(r, s, AuditEntry{Action: action, Target: id, Result: "refused", Error: "not in the queue"})
		w.back(rw, r, s, "/queues", fmt.Sprintf("Message %q is not in the queue (delivered or removed meanwhile).", id))
		return
	}
	entry := AuditEntry{Action: action, Target: id, Before: m.Recipients}
	if err := do(id); err != nil {
		entry.Result, entry.Error = "failed", err.Error()
		w.record(r, s, entry)
		if errors.Is(err, queue.ErrNotFound) {
			w.back(rw, r, s, "/queues", err.Error())
			return
		}
		w.render(rw, r, s, "queues", "Queues", nil, "", err.Error())
		return
	}
	if after, ok := w.n.Queue().Get(id); ok {
		entry.After = after.Recipients
	}
	w.record(r, s, entry)
	w.back(rw, r, s, "/queues", fmt.Sprintf(done, id))
}

func (w *Web) hopSuspend(rw http.ResponseWriter, r *http.Request, s *session) {
	hop := r.PathValue("hop")
	err := w.n.Suspend(hop)
	w.hopDone(rw, r, s, "queue.suspend", hop, err, "Next hop %s suspended: its messages wait until resumed.")
}

func (w *Web) hopResume(rw http.ResponseWriter, r *http.Request, s *session) {
	hop := r.PathValue("hop")
	err := w.n.Resume(hop)
	w.hopDone(rw, r, s, "queue.resume", hop, err, "Next hop %s resumed: its messages are retried now.")
}

func (w *Web) hopDone(rw http.ResponseWriter, r *http.Request, s *session, action, hop string, err error, done string) {
	e := AuditEntry{Action: action, Target: hop}
	if err != nil {
		e.Result, e.Error = "refused", err.Error()
		w.record(r, s, e)
		w.back(rw, r, s, "/queues", err.Error())
		return
	}
	w.record(r, s, e)
	w.back(rw, r, s, "/queues", fmt.Sprintf(done, hop))
}
