package protolog

import (
	"io"
	"strings"
	"time"
	"unsafe"

	"github.com/mailflowhq/mailflow/internal/logfile"
)

// Record is one protocol log line.
//
// The strings returned by Reader.Next alias the reader's buffer and are valid
// only until the next call to Next: that is what lets the reader run without
// allocating per field. Callers that keep a record (or any of its strings)
// use Clone.
type Record struct {
	DateTime    string // 2017-04-14T17:00:41.125Z; see Time
	ConnectorID string
	SessionID   string
	Seq         int
	Local       string
	Remote      string
	Event       byte // '+', '-', '>', '<', '*'
	Data        string
	Context     string
}

// Clone returns a copy of r whose strings are its own (one allocation).
func (r *Record) Clone() Record {
	n := len(r.DateTime) + len(r.ConnectorID) + len(r.SessionID) + len(r.Local) +
		len(r.Remote) + len(r.Data) + len(r.Context)
	var sb strings.Builder
	sb.Grow(n)
	for _, s := range [...]string{r.DateTime, r.ConnectorID, r.SessionID, r.Local, r.Remote, r.Data, r.Context} {
		sb.WriteString(s)
	}
	all := sb.String()
	c := *r
	cut := func(s string) string {
		v := all[:len(s)]
		all = all[len(s):]
		return v
	}
	c.DateTime = cut(r.DateTime)
	c.ConnectorID = cut(r.ConnectorID)
	c.SessionID = cut(r.SessionID)
	c.Local = cut(r.Local)
	c.Remote = cut(r.Remote)
	c.Data = cut(r.Data)
	c.Context = cut(r.Context)
	return c
}

// column slots a #Fields name maps to.
const (
	colIgnore int8 = iota
	colDateTime
	colConnector
	colSession
	colSeq
	colLocal
	colRemote
	colEvent
	colData
	colContext
)

var columnByName = map[string]int8{
	"date-time":       colDateTime,
	"connector-id":    colConnector,
	"session-id":      colSession,
	"sequence-number": colSeq,
	"local-endpoint":  colLocal,
	"remote-endpoint": colRemote,
	"event":           colEvent,
	"data":            colData,
	"context":         colContext,
}

// Reader streams records from a protocol log: mailflow's or Exchange's.
// It handles # headers (#Fields in any order, unknown columns ignored), a
// UTF-8 BOM, CRLF or LF line ends and quoted fields. Lines without a #Fields
// header are read with Exchange's column order. Malformed lines (bad
// quoting, wrong width, a non-numeric sequence-number, an event that is not
// one character) are skipped and counted.
type Reader struct {
	s    *logfile.Scanner
	gen  int
	cols []int8
	rec  Record
}

// NewReader returns a Reader over r (see Open for files, gzip included).
func NewReader(r io.Reader) *Reader {
	rd := &Reader{s: logfile.NewScanner(r, Fields), gen: -1}
	return rd
}

// Open opens a log file for reading, plain or gzip (by magic bytes).
func Open(path string) (io.ReadCloser, error) { return logfile.Open(path) }

// Time parses rec.DateTime.
func Time(rec *Record) (time.Time, error) { return logfile.ParseTime(rec.DateTime) }

// LogType returns the #Log-type header ("" before any header).
func (r *Reader) LogType() string { return r.s.LogType() }

// Kind reports the log's Kind from its #Log-type header.
func (r *Reader) Kind() (Kind, bool) {
	lt := strings.ToLower(r.s.LogType())
	switch {
	case strings.Contains(lt, "receive"):
		return Receive, true
	case strings.Contains(lt, "send"):
		return Send, true
	}
	return Receive, false
}

// Malformed returns how many lines were skipped as malformed.
func (r *Reader) Malformed() int64 { return r.s.Malformed() }

// Line returns the physical line number of the record last returned, for
// pointing people at the file.
func (r *Reader) Line() int64 { return r.s.Line() }

// Next returns the next record, valid until the following call (see Record).
// It returns io.EOF at the end; other errors are read errors.
func (r *Reader) Next() (*Record, error) {
	for {
		fields, err := r.s.Next()
		if err != nil {
			return nil, err
		}
		if v := r.s.FieldsVersion(); v != r.gen {
			r.mapColumns()
			r.gen = v
		}
		rec := &r.rec
		*rec = Record{}
		ok := true
		for i, f := range fields {
			if i >= len(r.cols) {
				break
			}
			switch r.cols[i] {
			case colDateTime:
				rec.DateTime = alias(f)
			case colConnector:
				rec.ConnectorID = alias(f)
			case colSession:
				rec.SessionID = alias(f)
			case colSeq:
				n, good := atoi(f)
				rec.Seq, ok = n, ok && good
			case colLocal:
				rec.Local = alias(f)
			case colRemote:
				rec.Remote = alias(f)
			case colEvent:
				if len(f) != 1 {
					ok = false
				} else {
					rec.Event = f[0]
				}
			case colData:
				rec.Data = alias(f)
			case colContext:
				rec.Context = alias(f)
			}
		}
		if !ok {
			r.s.MarkMalformed()
			continue
		}
		return rec, nil
	}
}

func (r *Reader) mapColumns() {
	names := r.s.Fields()
	r.cols = r.cols[:0]
	for _, n := range names {
		r.cols = append(r.cols, columnByName[strings.ToLower(n)])
	}
}

// alias views b as a string without copying. Safe because the scanner never
// writes into a buffer region while a record handed out from it is current;
// the documented contract is that the string dies with the next Next call.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// atoi parses a non-negative decimal that fits an int32-sized sequence.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
