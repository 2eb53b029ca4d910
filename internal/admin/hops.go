package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/mailflowhq/mailflow/internal/queue"
)

// HopInfo is one next hop of GET /api/v1/queue/hops.
type HopInfo struct {
	Name      string    `json:"name"`
	Suspended bool      `json:"suspended"`
	Ready     int       `json:"ready"`
	Retry     int       `json:"retry"`
	Oldest    time.Time `json:"oldest,omitzero"`
}

func (a *API) hops(w http.ResponseWriter, r *http.Request) {
	out := []HopInfo{}
	for _, h := range a.srv.Hops() {
		out = append(out, HopInfo{Name: h.Name, Suspended: h.Suspended, Ready: h.ByState[queue.StateReady],
			Retry: h.ByState[queue.StateRetry], Oldest: h.Oldest})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) hopSuspend(w http.ResponseWriter, r *http.Request) {
	hop := r.PathValue("hop")
	if err := a.srv.Suspend(hop); err != nil {
		writeError(w, hopStatus(err, http.StatusBadRequest), err)
		return
	}
	a.log.Info("next hop suspended through the admin API", "hop", hop)
	writeJSON(w, http.StatusOK, map[string]string{"suspended": hop})
}

func (a *API) hopResume(w http.ResponseWriter, r *http.Request) {
	hop := r.PathValue("hop")
	if err := a.srv.Resume(hop); err != nil {
		writeError(w, hopStatus(err, http.StatusNotFound), err)
		return
	}
	a.log.Info("next hop resumed through the admin API", "hop", hop)
	writeJSON(w, http.StatusOK, map[string]string{"resumed": hop})
}

// hopStatus is 503 when a suspension could not be stored or removed (the
// queue store failed; nothing changed), else the refusal's own status.
func hopStatus(err error, refused int) int {
	if errors.Is(err, queue.ErrStorage) {
		return http.StatusServiceUnavailable
	}
	return refused
}
