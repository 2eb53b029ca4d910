package tracking

import (
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/mailflowhq/mailflow/internal/logfile"
)

// Exchange's message tracking defaults (MessageTrackingLogMax*). The file
// size and age limits are the same as the protocol logs', which
// internal/logfile applies; only the directory budget is larger.
const (
	DefaultMaxFileSize = logfile.DefaultMaxFileSize
	DefaultMaxDirSize  = 1000 << 20
	DefaultMaxAge      = logfile.DefaultMaxAge
	DefaultVersion     = logfile.DefaultExchangeVersion
)

// Options configures a Writer. Zero values take Exchange's defaults.
type Options struct {
	Dir           string
	MaxFileSize   int64         // default 10 MB
	MaxDirSize    int64         // default 1000 MB; oldest files are removed
	MaxAge        time.Duration // default 30 days
	FlushInterval time.Duration // default 1 s
	Now           func() time.Time
	Version       string // #Version header and default schema-version; "15.0.0.0"
	MaxPending    int64  // buffered bytes before events are dropped; default 32 MB
	Logger        *slog.Logger
}

// Writer appends events to the tracking log. It is safe for concurrent use;
// a nil *Writer logs nothing.
type Writer struct {
	log     *logfile.Log
	now     func() time.Time
	version string
	bufs    sync.Pool
}

// NewWriter starts a tracking log writer for o.Dir.
func NewWriter(o Options) (*Writer, error) {
	if o.Dir == "" {
		return nil, errors.New("message tracking log directory is empty")
	}
	if o.MaxDirSize <= 0 {
		o.MaxDirSize = DefaultMaxDirSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	log, err := logfile.OpenExchange(logfile.Exchange{
		Name:    "message tracking log",
		Prefix:  "MSGTRK",
		LogType: "Message Tracking Log",
		Version: o.Version,
		Fields:  Fields,
	}, logfile.Options{
		Dir:           o.Dir,
		MaxFileSize:   o.MaxFileSize,
		MaxDirSize:    o.MaxDirSize,
		MaxAge:        o.MaxAge,
		FlushInterval: o.FlushInterval,
		MaxPending:    o.MaxPending,
		Now:           o.Now,
		Logger:        o.Logger,
	})
	if err != nil {
		return nil, err
	}
	w := &Writer{log: log, now: o.Now, version: o.Version}
	w.bufs.New = func() any { return &lineBuf{line: make([]byte, 0, 1024), scratch: make([]byte, 0, 512)} }
	return w, nil
}

// Log queues one event. A zero Time means now; an empty SchemaVersion means
// the writer's Version. The file is chosen by the time of writing, so files
// stay in append order even when an event carries an earlier time.
func (w *Writer) Log(e Event) {
	if w == nil {
		return
	}
	now := w.now()
	if e.Time.IsZero() {
		e.Time = now
	}
	if e.SchemaVersion == "" {
		e.SchemaVersion = w.version
	}
	lb := w.bufs.Get().(*lineBuf)
	lb.appendEvent(&e)
	w.log.Write(now, lb.line)
	w.bufs.Put(lb)
}

// lineBuf is the reusable formatting state of one Log call: the line and a
// scratch buffer for joining multi-value fields.
type lineBuf struct {
	line, scratch []byte
}

// appendEvent formats e into lb.line as one CRLF-terminated line in Fields
// order.
func (lb *lineBuf) appendEvent(e *Event) {
	b := logfile.AppendTime(lb.line[:0], e.Time)
	for _, s := range [...]string{e.ClientIP, e.ClientHostname, e.ServerIP, e.ServerHostname,
		e.SourceContext, e.ConnectorID, e.Source, e.EventID, e.InternalMessageID, e.MessageID, e.NetworkMessageID} {
		b = append(b, ',')
		b = logfile.AppendField(b, s)
	}
	b = append(b, ',')
	lb.scratch = joinRecipients(lb.scratch[:0], e.Recipients)
	b = logfile.AppendField(b, lb.scratch)
	b = append(b, ',')
	lb.scratch = joinStatuses(lb.scratch[:0], e.RecipientStatus)
	b = logfile.AppendField(b, lb.scratch)
	b = append(b, ',')
	b = strconv.AppendInt(b, e.TotalBytes, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(e.RecipientCount), 10)
	for _, s := range [...]string{e.RelatedRecipient, e.Reference, e.Subject, e.Sender, e.ReturnPath,
		e.MessageInfo, e.Directionality, e.TenantID, e.OriginalClientIP, e.OriginalServerIP,
		e.CustomData, e.TransportTrafficType, e.LogID, e.SchemaVersion} {
		b = append(b, ',')
		b = logfile.AppendField(b, s)
	}
	lb.line = append(b, '\r', '\n')
}

// file returns w's log: nil for a nil Writer, whose methods then do nothing.
func (w *Writer) file() *logfile.Log {
	if w == nil {
		return nil
	}
	return w.log
}

// Flush writes queued events to disk now.
func (w *Writer) Flush() error { return w.file().Flush() }

// Close flushes and closes the log; later Log calls are dropped.
func (w *Writer) Close() error { return w.file().Close() }

// Dropped returns how many events were dropped because the buffer was full.
func (w *Writer) Dropped() int64 { return w.file().Dropped() }
