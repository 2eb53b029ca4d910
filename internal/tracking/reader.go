package tracking

import (
	"io"
	"strconv"
	"strings"
	"unsafe"

	"github.com/mailflowhq/mailflow/internal/logfile"
)

// Reader streams events from a message tracking log: mailflow's or
// Exchange's (#Fields in any order, unknown columns ignored, BOM, CRLF or
// LF, quoted fields; header-less input uses the 2013+ column order). Lines
// whose date-time does not parse, or that are otherwise malformed, are
// skipped and counted. Unparsable total-bytes or recipient-count read as 0:
// the event still matters to a trace.
type Reader struct {
	s    *logfile.Scanner
	gen  int
	cols []int
}

// NewReader returns a Reader over r (use Open for files, gzip included).
func NewReader(r io.Reader) *Reader {
	return &Reader{s: logfile.NewScanner(r, Fields), gen: -1}
}

// Open opens a log file for reading, plain or gzip (by magic bytes).
func Open(path string) (io.ReadCloser, error) { return logfile.Open(path) }

// LogType returns the #Log-type header ("" before any header).
func (r *Reader) LogType() string { return r.s.LogType() }

// Malformed returns how many lines were skipped.
func (r *Reader) Malformed() int64 { return r.s.Malformed() }

// Line returns the physical line number of the event last returned.
func (r *Reader) Line() int64 { return r.s.Line() }

// numFields is len(Fields); a test keeps them in step.
const numFields = 30

// column index of each known field name.
var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(Fields))
	for i, f := range Fields {
		m[f] = i
	}
	return m
}()

// Next returns the next event; its strings are its own. It returns io.EOF
// at the end; other errors are read errors.
func (r *Reader) Next() (Event, error) {
	var raw [numFields][]byte // by Fields index
	for {
		fields, err := r.s.Next()
		if err != nil {
			return Event{}, err
		}
		if v := r.s.FieldsVersion(); v != r.gen {
			r.mapColumns()
			r.gen = v
		}
		raw = [numFields][]byte{}
		total := 0
		for i, f := range fields {
			if i < len(r.cols) && r.cols[i] >= 0 {
				raw[r.cols[i]] = f
				total += len(f)
			}
		}
		// One allocation holds every string of the event; it is never
		// written after the conversion, so the strings are immutable.
		buf := make([]byte, 0, total)
		var str [numFields]string
		for i, f := range raw {
			start := len(buf)
			buf = append(buf, f...)
			str[i] = bytesString(buf[start:len(buf):len(buf)])
		}
		t, err := logfile.ParseTime(str[0])
		if err != nil {
			r.s.MarkMalformed()
			continue
		}
		bytes, _ := strconv.ParseInt(strings.TrimSpace(str[14]), 10, 64)
		count, _ := strconv.Atoi(strings.TrimSpace(str[15]))
		return Event{
			Time:                 t,
			ClientIP:             str[1],
			ClientHostname:       str[2],
			ServerIP:             str[3],
			ServerHostname:       str[4],
			SourceContext:        str[5],
			ConnectorID:          str[6],
			Source:               str[7],
			EventID:              str[8],
			InternalMessageID:    str[9],
			MessageID:            str[10],
			NetworkMessageID:     str[11],
			Recipients:           splitRecipients(str[12]),
			RecipientStatus:      splitStatuses(str[13]),
			TotalBytes:           bytes,
			RecipientCount:       count,
			RelatedRecipient:     str[16],
			Reference:            str[17],
			Subject:              str[18],
			Sender:               str[19],
			ReturnPath:           str[20],
			MessageInfo:          str[21],
			Directionality:       str[22],
			TenantID:             str[23],
			OriginalClientIP:     str[24],
			OriginalServerIP:     str[25],
			CustomData:           str[26],
			TransportTrafficType: str[27],
			LogID:                str[28],
			SchemaVersion:        str[29],
		}, nil
	}
}

func (r *Reader) mapColumns() {
	r.cols = r.cols[:0]
	for _, name := range r.s.Fields() {
		i, ok := fieldIndex[strings.ToLower(name)]
		if !ok {
			i = -1
		}
		r.cols = append(r.cols, i)
	}
}

func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
