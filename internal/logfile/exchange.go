package logfile

import (
	"fmt"
	"time"
)

// DefaultExchangeVersion is the #Version header Exchange 2013 and later write.
const DefaultExchangeVersion = "15.0.0.0"

// Exchange identifies one Exchange-format log: what its files are called and
// the header block Exchange writes at the top of each. The protocol and
// message tracking logs differ only in these, so their writers share the
// wiring below.
type Exchange struct {
	Name    string   // what the log is, in error messages: "message tracking log"
	Prefix  string   // file name prefix: "RECV", "SEND", "MSGTRK"
	LogType string   // #Log-type: "Message Tracking Log"
	Version string   // #Version; DefaultExchangeVersion when empty
	Fields  []string // #Fields, in column order
}

// Header returns the header block of a file created at created: #Software,
// #Version, #Log-type, #Date and #Fields, each line ending in CRLF.
func (x Exchange) Header(created time.Time) []byte {
	version := x.Version
	if version == "" {
		version = DefaultExchangeVersion
	}
	b := make([]byte, 0, 512)
	b = append(b, "#Software: Microsoft Exchange Server\r\n#Version: "...)
	b = append(b, version...)
	b = append(b, "\r\n#Log-type: "...)
	b = append(b, x.LogType...)
	b = append(b, "\r\n#Date: "...)
	b = AppendTime(b, created)
	b = append(b, "\r\n#Fields: "...)
	for i, f := range x.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...)
	}
	return append(b, "\r\n"...)
}

// Log is the file side of an Exchange-format log writer: a File whose Flush
// and Close errors say which log failed. The methods of a nil *Log do
// nothing, so a writer built on one keeps a usable nil value.
type Log struct {
	file *File
	name string
}

// OpenExchange starts the File for x. o supplies the limits, clock and
// logger; its Prefix and Header are replaced by x's.
func OpenExchange(x Exchange, o Options) (*Log, error) {
	o.Prefix = x.Prefix
	o.Header = x.Header
	f, err := New(o)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", x.Name, err)
	}
	return &Log{file: f, name: x.Name}, nil
}

// Write queues one complete line stamped at t (see [File.Write]).
func (l *Log) Write(t time.Time, line []byte) bool {
	if l == nil {
		return false
	}
	return l.file.Write(t, line)
}

// Flush writes the queued lines to disk now.
func (l *Log) Flush() error {
	if l == nil {
		return nil
	}
	if err := l.file.Flush(); err != nil {
		return fmt.Errorf("flush %s: %w", l.name, err)
	}
	return nil
}

// Close flushes and closes the log; later writes are dropped.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("close %s: %w", l.name, err)
	}
	return nil
}

// Dropped returns how many lines were dropped because the buffer was full.
func (l *Log) Dropped() int64 {
	if l == nil {
		return 0
	}
	return l.file.Dropped()
}
