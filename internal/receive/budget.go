package receive

import (
	"bytes"
	"errors"
)

// DefaultInflightLimit bounds the message bytes all sessions together hold
// in memory while receiving DATA (bodies are queued whole). Past it a
// message is refused with 452 4.3.1 instead of the process running out of
// memory and dropping every session.
const DefaultInflightLimit = 512 << 20

var errOverBudget = errors.New("server-wide in-flight message budget exhausted")

// budgetWriter appends DATA to buf while reserving its growth from the
// server-wide budget.
type budgetWriter struct {
	buf      *bytes.Buffer
	srv      *Service
	reserved int64
}

func (w *budgetWriter) Write(p []byte) (int, error) {
	need := int64(w.buf.Len()+len(p)) - w.reserved
	if need > 0 {
		// Reserve in 64 KiB steps to keep the atomic traffic low.
		step := max(need, 64<<10)
		if !w.srv.reserve(step) {
			return 0, errOverBudget
		}
		w.reserved += step
	}
	return w.buf.Write(p)
}

func (s *Service) inflightLimit() int64 {
	if s.opts.InflightLimit > 0 {
		return s.opts.InflightLimit
	}
	return DefaultInflightLimit
}

func (s *Service) reserve(n int64) bool {
	if s.inflight.Add(n) > s.inflightLimit() {
		s.inflight.Add(-n)
		return false
	}
	return true
}

func (s *Service) releaseBudget(n int64) { s.inflight.Add(-n) }
