package protolog

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mailflowhq/mailflow/internal/logfile"
)

// Kind says which side of SMTP a log records.
type Kind int

const (
	// Receive is the SmtpReceive log (RECV*.LOG): '>' lines are our replies.
	Receive Kind = iota
	// Send is the SmtpSend log (SEND*.LOG): '>' lines are our commands.
	Send
)

// String returns "Receive" or "Send".
func (k Kind) String() string {
	switch k {
	case Receive:
		return "Receive"
	case Send:
		return "Send"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// LogType returns the #Log-type header value Exchange writes for k.
func (k Kind) LogType() string {
	if k == Send {
		return "SMTP Send Protocol Log"
	}
	return "SMTP Receive Protocol Log"
}

func (k Kind) prefix() string {
	if k == Send {
		return "SEND"
	}
	return "RECV"
}

// Fields are the protocol log columns, in Exchange's order.
var Fields = []string{
	"date-time", "connector-id", "session-id", "sequence-number",
	"local-endpoint", "remote-endpoint", "event", "data", "context",
}

// DefaultVersion is the #Version header Exchange 2013 and later write.
const DefaultVersion = logfile.DefaultExchangeVersion

// Options configures a Writer. Zero values take Exchange's defaults.
type Options struct {
	Dir           string
	Kind          Kind
	MaxFileSize   int64         // default 10 MB
	MaxDirSize    int64         // default 250 MB; oldest files are removed
	MaxAge        time.Duration // default 30 days
	FlushInterval time.Duration // default 1 s
	Now           func() time.Time
	Version       string // #Version header; default "15.0.0.0"
	// MaxPending caps the bytes buffered between flushes (default 32 MB);
	// beyond it lines are dropped and counted.
	MaxPending int64
	Logger     *slog.Logger // flush failures; default slog.Default()
}

// Writer writes one protocol log directory. It is safe for concurrent use;
// each Session belongs to one goroutine.
type Writer struct {
	log    *logfile.Log
	now    func() time.Time
	nextID atomic.Uint64
}

// ticksAtUnixEpoch is 1970-01-01 in .NET ticks (100 ns since 0001-01-01).
const ticksAtUnixEpoch = 621355968000000000

// NewWriter starts a protocol log writer for o.Dir.
func NewWriter(o Options) (*Writer, error) {
	if o.Kind != Receive && o.Kind != Send {
		return nil, fmt.Errorf("protocol log kind %d: want Receive or Send", int(o.Kind))
	}
	if o.Dir == "" {
		return nil, errors.New("protocol log directory is empty")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	log, err := logfile.OpenExchange(logfile.Exchange{
		Name:    o.Kind.String() + " protocol log",
		Prefix:  o.Kind.prefix(),
		LogType: o.Kind.LogType(),
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
	w := &Writer{log: log, now: o.Now}
	w.nextID.Store(uint64(o.Now().UnixNano()/100 + ticksAtUnixEpoch))
	return w, nil
}

// Session starts logging one SMTP session. connectorID is "SERVER\Connector"
// on receive logs and the connector name on send logs; local and remote are
// "ip:port" endpoints. A nil Writer returns a nil Session, which logs nothing.
func (w *Writer) Session(connectorID, local, remote string) *Session {
	if w == nil {
		return nil
	}
	id := formatID(w.nextID.Add(1))
	head := make([]byte, 0, len(connectorID)+len(id)+3)
	head = append(head, ',')
	head = logfile.AppendField(head, connectorID)
	head = append(head, ',')
	head = append(head, id...)
	head = append(head, ',')
	ends := make([]byte, 0, len(local)+len(remote)+3)
	ends = append(ends, ',')
	ends = logfile.AppendField(ends, local)
	ends = append(ends, ',')
	ends = logfile.AppendField(ends, remote)
	ends = append(ends, ',')
	return &Session{w: w, id: id, head: head, ends: ends, buf: make([]byte, 0, 256)}
}

func formatID(v uint64) string {
	const hex = "0123456789ABCDEF"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hex[v&0xF]
		v >>= 4
	}
	return string(b[:])
}

// file returns w's log: nil for a nil Writer, whose methods then do nothing.
func (w *Writer) file() *logfile.Log {
	if w == nil {
		return nil
	}
	return w.log
}

// Flush writes buffered lines to disk now.
func (w *Writer) Flush() error { return w.file().Flush() }

// Close flushes and closes the log. Session calls after Close are dropped.
func (w *Writer) Close() error { return w.file().Close() }

// Dropped returns how many lines were dropped because the buffer was full.
func (w *Writer) Dropped() int64 { return w.file().Dropped() }
