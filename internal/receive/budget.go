package receive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/mailflowhq/mailflow/internal/queue"
)

// DefaultInflightLimit bounds the message bytes all sessions together hold
// in memory while receiving DATA. A body above the spool threshold is
// streamed to a spool file and holds only its first SpoolThreshold bytes
// in memory, so the budget bounds memory, not message sizes. Past it a
// message is refused with 452 4.3.1 instead of the process running out of
// memory and dropping every session.
const DefaultInflightLimit = 512 << 20

// DefaultSpoolThreshold is the size above which DATA goes to a spool file
// in the data directory instead of memory.
const DefaultSpoolThreshold = 256 << 10

var errOverBudget = errors.New("server-wide in-flight message budget exhausted")

// dataSink receives DATA: into buf while it is small, reserving its growth
// from the server-wide budget; past the spool threshold (when the
// submitter has a spool directory) the bytes so far and everything after
// them go to a spool file, and buf stops growing (it keeps the head, which
// holds the header fields tracking needs).
type dataSink struct {
	buf       *bytes.Buffer
	srv       *Service
	reserved  int64
	dir       string // "" = never spool
	threshold int

	f    *os.File
	fw   *bufio.Writer
	size int64
	err  error // the spool file could not be created or written
}

func (w *dataSink) Write(p []byte) (int, error) {
	if w.f == nil && w.dir != "" && w.buf.Len()+len(p) > w.threshold {
		if w.err = w.startSpool(); w.err != nil {
			return 0, w.err
		}
	}
	if w.f != nil {
		w.size += int64(len(p))
		n, err := w.fw.Write(p)
		if err != nil {
			w.err = fmt.Errorf("write spool file %s: %w", w.f.Name(), err)
			return n, w.err
		}
		return n, nil
	}
	need := int64(w.buf.Len()+len(p)) - w.reserved
	if need > 0 {
		// Reserve in 64 KiB steps to keep the atomic traffic low.
		step := max(need, 64<<10)
		if !w.srv.reserve(step) {
			return 0, errOverBudget
		}
		w.reserved += step
	}
	w.size += int64(len(p))
	return w.buf.Write(p)
}

func (w *dataSink) startSpool() error {
	f, err := queue.CreateSpoolFile(w.dir)
	if err != nil {
		return err
	}
	w.f, w.fw = f, bufio.NewWriterSize(f, 64<<10)
	w.fw.Write(w.buf.Bytes()) // an error stays in fw and is seen at the next write or the flush
	return nil
}

// body finishes the sink: a spooled body is flushed and fsynced (the
// store keeps it as it is; the 250 must follow a durable body).
func (w *dataSink) body() (queue.Body, error) {
	if w.f == nil {
		return queue.BytesBody(w.buf.Bytes()), nil
	}
	name := w.f.Name()
	err := w.fw.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		os.Remove(name)
		return queue.Body{}, fmt.Errorf("write spool file %s: %w", name, err)
	}
	return queue.Body{Path: name, Size: w.size}, nil
}

// release removes an unfinished spool file (a refused or incomplete
// message) and returns the budget.
func (w *dataSink) release() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
	w.srv.releaseBudget(w.reserved)
	w.reserved = 0
}

func (s *Service) inflightLimit() int64 {
	if s.opts.InflightLimit > 0 {
		return s.opts.InflightLimit
	}
	return DefaultInflightLimit
}

func (s *Service) spoolThreshold() int {
	if s.opts.SpoolThreshold > 0 {
		return s.opts.SpoolThreshold
	}
	return DefaultSpoolThreshold
}

func (s *Service) reserve(n int64) bool {
	if s.inflight.Add(n) > s.inflightLimit() {
		s.inflight.Add(-n)
		return false
	}
	return true
}

func (s *Service) releaseBudget(n int64) { s.inflight.Add(-n) }
