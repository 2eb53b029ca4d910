package lab

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// Evidence comes from where an administrator finds it: the protocol log
// files (read with protolog's reader, the same code that reads real
// Exchange logs) and the message trace (the admin API, which searches the
// tracking log with tracking.Search).

// logSession is one SMTP session of a protocol log.
type logSession struct {
	ID, Connector, Local, Remote string
	Records                      []protolog.Record
}

// remoteIP is the session's remote address without the port.
func (s *logSession) remoteIP() string {
	host, _, err := net.SplitHostPort(s.Remote)
	if err != nil {
		return s.Remote
	}
	return host
}

// certificates assembles the session's certificate lines ("Sending
// certificate", "Remote certificate", "Received certificate") with
// protolog's parser.
func (s *logSession) certificates() []protolog.CertEvent {
	sc := protolog.NewSessionCerts()
	var out []protolog.CertEvent
	for i := range s.Records {
		out = sc.Add(out, &s.Records[i])
	}
	return sc.Flush(out)
}

// certificate returns the first certificate logged with event, or false.
func (s *logSession) certificate(event string) (protolog.CertEvent, bool) {
	for _, c := range s.certificates() {
		if strings.EqualFold(c.Event, event) {
			return c, true
		}
	}
	return protolog.CertEvent{}, false
}

// ended reports whether the session's disconnect line has been logged.
func (s *logSession) ended() bool {
	return len(s.Records) > 0 && s.Records[len(s.Records)-1].Event == '-'
}

// contains reports whether any data or context field holds text.
func (s *logSession) contains(text string) bool {
	for _, r := range s.Records {
		if strings.Contains(r.Data, text) || strings.Contains(r.Context, text) {
			return true
		}
	}
	return false
}

// find returns the first record whose data or context holds text.
func (s *logSession) find(text string) (protolog.Record, bool) {
	for _, r := range s.Records {
		if strings.Contains(r.Data, text) || strings.Contains(r.Context, text) {
			return r, true
		}
	}
	return protolog.Record{}, false
}

// tlsLines are the lines about TLS and certificates: the certificate
// blocks, the negotiation result, the domain-secure verdict and the
// permissions that followed, as an administrator greps for them.
func (s *logSession) tlsLines() []string {
	var out []string
	inBlock, afterTLS := false, false
	for i := range s.Records {
		r := &s.Records[i]
		keep := false
		switch {
		case r.Event != '*':
			inBlock = false
		case strings.HasSuffix(r.Context, " certificate") && r.Data == "":
			inBlock, keep = true, true
		case inBlock && strings.HasPrefix(r.Context, "Certificate "):
			keep = true
		default:
			inBlock = false
			if strings.HasPrefix(r.Context, "TLS protocol") {
				afterTLS = true
			}
			// The permissions granted before TLS are not about TLS; those
			// set after it show what the verified certificate earned.
			keep = strings.HasPrefix(r.Context, "TLS ") || strings.HasPrefix(r.Context, "TlsDomainCapabilities") ||
				strings.Contains(r.Context, "certificate validation") || (afterTLS && r.Context == "Set Session Permissions")
		}
		if keep {
			out = append(out, formatRecord(r))
		}
	}
	return out
}

// replies returns the session's lines sent or received whose text starts
// with one of the prefixes ("530", "250 2.6.0").
func (s *logSession) lines(event byte, prefixes ...string) []string {
	var out []string
	for i := range s.Records {
		r := &s.Records[i]
		if r.Event != event {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(r.Data, p) {
				out = append(out, formatRecord(r))
				break
			}
		}
	}
	return out
}

// readSessions reads every protocol log file of kind ("SmtpReceive" or
// "SmtpSend") under logDir and returns the sessions that began at or after
// since, in the order they began.
func readSessions(logDir, kind string, since time.Time) ([]*logSession, error) {
	dir := filepath.Join(logDir, "ProtocolLog", kind)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read protocol logs: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := strings.ToUpper(e.Name()); e.Type().IsRegular() && strings.HasSuffix(n, ".LOG") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	since = since.Truncate(time.Millisecond)
	byKey := map[string]*logSession{}
	var order []*logSession
	skip := map[string]bool{}
	for _, name := range names {
		if err := readLogFile(filepath.Join(dir, name), func(r *protolog.Record) {
			key := r.ConnectorID + "\x00" + r.SessionID
			if skip[key] {
				return
			}
			s := byKey[key]
			if s == nil {
				t, err := protolog.Time(r)
				if err != nil || t.Before(since) {
					skip[key] = true
					return
				}
				s = &logSession{ID: r.SessionID, Connector: r.ConnectorID, Local: r.Local, Remote: r.Remote}
				s.ID, s.Connector, s.Local, s.Remote = strings.Clone(s.ID), strings.Clone(s.Connector), strings.Clone(s.Local), strings.Clone(s.Remote)
				byKey[key] = s
				order = append(order, s)
			}
			s.Records = append(s.Records, r.Clone())
		}); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func readLogFile(path string, fn func(*protolog.Record)) error {
	rc, err := protolog.Open(path)
	if err != nil {
		return fmt.Errorf("open protocol log %s: %w", path, err)
	}
	defer rc.Close()
	rd := protolog.NewReader(rc)
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read protocol log %s: %w", path, err)
		}
		fn(r)
	}
}

// sessionsFrom keeps the sessions whose remote address is ip and, when
// connector is not empty, whose connector-id ends with it.
func sessionsFrom(all []*logSession, ip, connector string) []*logSession {
	var out []*logSession
	for _, s := range all {
		if s.remoteIP() == ip && (connector == "" || strings.HasSuffix(s.Connector, connector)) {
			out = append(out, s)
		}
	}
	return out
}

// sessionWith returns the first session whose log holds text (a
// Message-ID, a queue id), or nil.
func sessionWith(all []*logSession, text string) *logSession {
	for _, s := range all {
		if s.contains(text) {
			return s
		}
	}
	return nil
}

// formatRecord writes a record back as its CSV line, quoting as the
// writer does.
func formatRecord(r *protolog.Record) string {
	fields := []string{r.DateTime, r.ConnectorID, r.SessionID, strconv.Itoa(r.Seq), r.Local, r.Remote, string(r.Event), r.Data, r.Context}
	for i, f := range fields {
		if strings.ContainsAny(f, ",\"") {
			fields[i] = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
		}
	}
	return strings.Join(fields, ",")
}

// traceLine renders a tracking event as a message-trace line, prefixed
// with the server that logged it.
func traceLine(server string, e tracking.Event) string {
	from := e.Sender
	if from == "" {
		from = "<>"
	}
	line := fmt.Sprintf("[%s trace] %s %-7s %s %s → %s", server, e.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
		e.EventID, e.InternalMessageID, from, strings.Join(e.Recipients, ";"))
	if len(e.RecipientStatus) > 0 {
		line += "  " + strings.Join(e.RecipientStatus, ";")
	}
	return line
}

// traceLines renders the events of the given ids (all when none given).
func traceLines(server string, evs []tracking.Event, ids ...string) []string {
	var out []string
	for _, e := range evs {
		if len(ids) == 0 || slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(id, e.EventID) }) {
			out = append(out, traceLine(server, e))
		}
	}
	return out
}

// lastEvent returns the last event with one of the ids.
func lastEvent(evs []tracking.Event, ids ...string) (tracking.Event, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(id, evs[i].EventID) }) {
			return evs[i], true
		}
	}
	return tracking.Event{}, false
}

// countEvents counts the events with id.
func countEvents(evs []tracking.Event, id string) int {
	n := 0
	for _, e := range evs {
		if strings.EqualFold(e.EventID, id) {
			n++
		}
	}
	return n
}

// status is the first recipient status of an event.
func status(e tracking.Event) string {
	if len(e.RecipientStatus) == 0 {
		return ""
	}
	return e.RecipientStatus[0]
}
