package logs

// Log analysis (files logs*.go): `mailflow logs analyze` reads SmtpReceive
// and SmtpSend protocol logs and message tracking logs — Exchange's and
// mailflow's own, plain or gzip — through the streaming readers of
// internal/protolog and internal/tracking, and reports per connector what
// was presented to whom, plus findings that explain the classic hybrid TLS
// failures.
//
// Memory is bounded whatever the input size: per-session state lives only
// until the session's '-' line (or is evicted, oldest first, past
// Options.MaxOpenSessions), everything else is aggregate counts keyed by
// connector, certificate, remote range and reason, each with a fixed cap;
// what a cap turned away is counted in Report.Limits so that a report
// never silently claims more than it saw.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/logfile"
	"github.com/mailflowhq/mailflow/internal/protolog"
)

// Options configures a log analysis.
type Options struct {
	// Expect lists host names a validating sender checks the presented
	// certificate against (a receive connector's public name, such as
	// mail.contoso.com, or a wildcard such as *.contoso.com). Every
	// certificate a connector presents must hold each of them in its
	// subject CN or a SAN.
	Expect []string
	// Since and Until bound the records analysed (inclusive, UTC); zero
	// means unbounded.
	Since, Until time.Time
	// Now is the clock certificate expiry is judged against (time.Now when
	// nil).
	Now func() time.Time
	// ExpiryWarning is how close to its NotAfter a certificate still in use
	// is reported as expiring soon (30 days when zero).
	ExpiryWarning time.Duration
	// MaxOpenSessions bounds the sessions whose state is kept between their
	// first and last line (100,000 when zero); past it the least recently
	// active half is concluded early.
	MaxOpenSessions int
	// Version is the Exchange version that wrote the logs, whose rules the
	// fixes follow (Exchange 2010 has no TlsCertificateName). Zero: told
	// from the logs — 2010's daily file names (RECVyyyymmdd-n.LOG) or a
	// "#Version: 14." header mean Exchange 2010, hourly names
	// (RECVyyyymmddhh-n.LOG) Exchange 2013 and later.
	Version certs.Version
	// Progress, when set, is called as input is read (about every MiB and
	// at the end of each file).
	Progress func(Progress)
}

// Progress tells how far an analysis of files has got.
type Progress struct {
	File       string // the file being read
	FilesDone  int
	Files      int
	BytesDone  int64 // on-disk bytes of finished files plus the current file's progress
	BytesTotal int64 // on-disk size of all files
	Finished   bool  // the last call of the analysis
}

// Log kinds as reported in File.Kind.
const (
	LogKindReceive  = "SMTP Receive Protocol Log"
	LogKindSend     = "SMTP Send Protocol Log"
	LogKindTracking = "Message Tracking Log"
)

// File describes one input of the analysis.
type File struct {
	Path      string `json:"path"`
	Kind      string `json:"kind,omitempty"`
	Records   int64  `json:"records"`
	Skipped   int64  `json:"skipped_by_time,omitempty"` // records outside --since/--until
	Malformed int64  `json:"malformed"`
	Error     string `json:"error,omitempty"`
	// Layout is the file-name layout of a protocol log: "daily (Exchange
	// 2010)" or "hourly (Exchange 2013 and later)"; empty when the name
	// has neither.
	Layout string `json:"layout,omitempty"`
}

// Default bounds; see the file comment.
const (
	logDefaultMaxOpenSessions = 100_000
	logDefaultExpiryWarning   = 30 * 24 * time.Hour
	// logHeadPeek is how much of a file is searched for its # headers to tell
	// a protocol log from a tracking log.
	logHeadPeek = 16 << 10
	// logReadBuffer matches the scanner's buffer so that bufio reuses ours.
	logReadBuffer = 64 << 10
)

// Analyzer accumulates protocol and tracking log records. Feed it with
// ReadLog (or use Analyze for paths) and call Report once at the end.
// It is for one goroutine.
type Analyzer struct {
	opts Options
	// seen2010 and seenModern count the files whose layout or header
	// shows Exchange 2010, or 2013 and later.
	seen2010, seenModern int
	now                  time.Time
	window               logWindow
	files                []File
	proto                *protoState
	track                *trackState
	done                 bool
}

// NewAnalyzer returns an analyzer with opts.
func NewAnalyzer(opts Options) *Analyzer {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ExpiryWarning <= 0 {
		opts.ExpiryWarning = logDefaultExpiryWarning
	}
	if opts.MaxOpenSessions <= 0 {
		opts.MaxOpenSessions = logDefaultMaxOpenSessions
	}
	var expect []string
	for _, e := range opts.Expect {
		if e = strings.TrimSpace(e); e != "" && !slices.Contains(expect, e) {
			expect = append(expect, e)
		}
	}
	opts.Expect = expect
	a := &Analyzer{opts: opts, window: newLogWindow(opts.Since, opts.Until)}
	a.proto = newProtoState(a.window, opts.MaxOpenSessions)
	a.track = newTrackState(a.window)
	return a
}

// ReadLog reads one log stream. name is used in the report and, when the
// stream has no #Log-type header, to guess its kind from Exchange's file
// name prefixes (RECV, SEND, MSGTRK); header-less input is otherwise read
// as a receive protocol log. A read error is returned and recorded in the
// report; what was read before it still counts.
func (a *Analyzer) ReadLog(name string, r io.Reader) error {
	if a.done {
		return fmt.Errorf("read log %s: the analysis has already been reported", name)
	}
	lf, err := a.readLog(name, r)
	a.files = append(a.files, lf)
	return err
}

func (a *Analyzer) readLog(name string, r io.Reader) (File, error) {
	lf := File{Path: name}
	br := bufio.NewReaderSize(r, logReadBuffer)
	head, err := br.Peek(logHeadPeek)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		lf.Error = err.Error()
		return lf, fmt.Errorf("read log %s: %w", name, err)
	}
	kind := detectLogKind(name, head)
	lf.Kind = kind
	lf.Layout = a.noteLayout(name, head)
	switch kind {
	case LogKindTracking:
		err = a.track.read(&lf, br)
	default:
		err = a.proto.read(&lf, br, kind == LogKindSend)
	}
	if err != nil {
		lf.Error = err.Error()
		return lf, fmt.Errorf("read log %s: %w", name, err)
	}
	if lf.Records == 0 && lf.Malformed > 0 {
		// Nothing in it parsed: not a log mailflow can read (a wrong file,
		// or a format it does not know). Say so rather than report nothing.
		lf.Error = fmt.Sprintf("no log records (%d malformed lines): not an Exchange-format protocol or tracking log", lf.Malformed)
		return lf, fmt.Errorf("read log %s: %s", name, lf.Error)
	}
	return lf, nil
}

// detectLogKind tells the log kind from the #Log-type header, else the
// #Fields header, else the file name.
func detectLogKind(name string, head []byte) string {
	var fields string
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimPrefix(bytes.TrimSpace(line), []byte("\xEF\xBB\xBF"))
		if len(line) == 0 || line[0] != '#' {
			continue
		}
		key, val, ok := strings.Cut(string(line[1:]), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.ToLower(val)
		switch {
		case strings.EqualFold(key, "Log-type"):
			switch {
			case strings.Contains(val, "tracking"):
				return LogKindTracking
			case strings.Contains(val, "send"):
				return LogKindSend
			case strings.Contains(val, "receive"):
				return LogKindReceive
			}
		case strings.EqualFold(key, "Fields") && fields == "":
			fields = val
		}
	}
	switch {
	case strings.Contains(fields, "event-id"):
		return LogKindTracking
	}
	base := strings.ToUpper(filepath.Base(name))
	switch {
	case strings.HasPrefix(base, "MSGTRK"):
		return LogKindTracking
	case strings.HasPrefix(base, "SEND"):
		return LogKindSend
	}
	return LogKindReceive
}

// Analyze reads every log file under paths (files, or directories
// searched recursively for *.LOG, *.log and *.gz files; gzip is detected by
// content) and reports. It never fails as a whole: a path that cannot be
// read is listed with its error in the report's Files, and makes ExitCode 2.
func Analyze(paths []string, opts Options) *Report {
	a := NewAnalyzer(opts)
	var inputs []logInput
	var total int64
	for _, p := range paths {
		files, err := expandLogPath(p)
		if err != nil {
			a.files = append(a.files, File{Path: p, Error: err.Error()})
			continue
		}
		for _, f := range files {
			inputs = append(inputs, f)
			total += f.size
		}
	}
	var done int64
	for i, in := range inputs {
		rc, err := protolog.Open(in.path)
		if err != nil {
			a.files = append(a.files, File{Path: in.path, Error: err.Error()})
			done += in.size
			continue
		}
		var r io.Reader = rc
		if opts.Progress != nil {
			r = &logProgressReader{r: rc, plain: logIsPlainStream(rc), size: in.size, report: func(n int64) {
				opts.Progress(Progress{File: in.path, FilesDone: i, Files: len(inputs), BytesDone: done + n, BytesTotal: total})
			}}
		}
		_ = a.ReadLog(in.path, r) // recorded in the report
		if err := rc.Close(); err != nil {
			a.files[len(a.files)-1].Error = strings.TrimSpace(a.files[len(a.files)-1].Error + " " + err.Error())
		}
		done += in.size
		if opts.Progress != nil {
			opts.Progress(Progress{File: in.path, FilesDone: i + 1, Files: len(inputs), BytesDone: done, BytesTotal: total})
		}
	}
	if opts.Progress != nil {
		opts.Progress(Progress{FilesDone: len(inputs), Files: len(inputs), BytesDone: done, BytesTotal: total, Finished: true})
	}
	return a.Report()
}

type logInput struct {
	path string
	size int64
}

// expandLogPath lists the log files of one command-line path: the file
// itself, or the log files of a directory tree in name order.
func expandLogPath(p string) ([]logInput, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read log path: %w", err)
	}
	if !st.IsDir() {
		return []logInput{{p, st.Size()}}, nil
	}
	var out []logInput
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read log directory %s: %w", path, err)
		}
		if d.IsDir() || !logIsLogName(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("read log directory %s: %w", path, err)
		}
		if info.Mode().IsRegular() {
			out = append(out, logInput{path, info.Size()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no log files (*.LOG, *.log, *.gz) in directory %s", p)
	}
	return out, nil // WalkDir visits in lexical order: hourly file names sort by time
}

func logIsLogName(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".log") || strings.HasSuffix(n, ".gz")
}

// logIsPlainStream reports whether a stream from protolog.Open reads the file's
// bytes as they are (it is buffered, not decompressing), so that its byte
// count is progress through the file.
func logIsPlainStream(r io.Reader) bool {
	_, ok := r.(interface{ Peek(int) ([]byte, error) })
	return ok
}

// logProgressReader reports bytes read, about every MiB. For compressed files
// the position in the file is unknown, so they count only once finished.
type logProgressReader struct {
	r      io.Reader
	plain  bool
	size   int64
	n      int64
	next   int64
	report func(int64)
}

const logProgressStep = 1 << 20

func (p *logProgressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.plain && p.n >= p.next {
		p.next = p.n + logProgressStep
		p.report(min(p.n, p.size))
	}
	return n, err
}

// logWindow filters records by time. Exchange date-times in the fixed
// layout compare as strings, which spares parsing every line.
type logWindow struct {
	since, until       time.Time
	sinceStr, untilStr string
	active             bool
}

func newLogWindow(since, until time.Time) logWindow {
	w := logWindow{since: since.UTC(), until: until.UTC(), active: !since.IsZero() || !until.IsZero()}
	if !since.IsZero() {
		// Round up to the millisecond the layout holds so that the string
		// comparison never admits a record before since.
		w.sinceStr = string(logfile.AppendTime(nil, w.since.Add(time.Millisecond-time.Nanosecond).Truncate(time.Millisecond)))
	}
	if !until.IsZero() {
		w.untilStr = string(logfile.AppendTime(nil, w.until.Truncate(time.Millisecond)))
	}
	return w
}

// containsString reports whether the log date-time s is inside the window;
// unparsable times are outside an active window.
func (w *logWindow) containsString(s string) bool {
	if !w.active {
		return true
	}
	if len(s) == len(logfile.TimeLayout) && s[10] == 'T' && s[23] == 'Z' {
		return (w.sinceStr == "" || s >= w.sinceStr) && (w.untilStr == "" || s <= w.untilStr)
	}
	t, err := logfile.ParseTime(s)
	if err != nil {
		return false
	}
	return w.contains(t)
}

func (w *logWindow) contains(t time.Time) bool {
	if !w.active {
		return true
	}
	return (w.since.IsZero() || !t.Before(w.since)) && (w.until.IsZero() || !t.After(w.until))
}
