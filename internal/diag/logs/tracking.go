package logs

import (
	"cmp"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/diag/explain"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// Caps of the tracking summary.
const (
	logMaxEventIDs      = 64
	logMaxReasons       = 256
	logMaxExplainCache  = 4096
	logMaxTargets       = 8
	logMaxExamples      = 3
	logMaxReasonLabel   = 200
	logMaxExampleLength = 200
)

// TrackingSummary is what the message tracking logs say about deferrals
// and failures.
type TrackingSummary struct {
	Events      int64            `json:"events"`
	EventCounts map[string]int64 `json:"event_counts,omitempty"`
	// Reasons groups DEFER and FAIL recipients by their reason (the LED
	// reply and MSG reason of the recipient status), most recipients first.
	Reasons []ReasonSummary `json:"reasons,omitempty"`
	// OtherReasons counts recipients whose reason was past the cap.
	OtherReasons int64 `json:"other_reasons,omitempty"`
}

// ReasonSummary is one deferral or failure reason.
type ReasonSummary struct {
	Event  string `json:"event"`  // DEFER or FAIL
	Reason string `json:"reason"` // "450 4.7.320 Certificate validation failed (SubjectMismatch)"
	// Topic and Title are mailflow explain's for the reason (empty when it
	// does not know it).
	Topic             string    `json:"topic,omitempty"`
	Title             string    `json:"title,omitempty"`
	Recipients        int64     `json:"recipients"`
	Events            int64     `json:"events"`
	FirstSeen         time.Time `json:"first_seen,omitzero"`
	LastSeen          time.Time `json:"last_seen,omitzero"`
	Targets           []string  `json:"targets,omitempty"` // servers it happened with
	ExampleRecipients []string  `json:"example_recipients,omitempty"`
	ExampleMessageIDs []string  `json:"example_message_ids,omitempty"`
	fix               []string
}

type trackState struct {
	window        logWindow
	events        int64
	eventIDs      map[string]int64
	eventsOther   int64
	groups        map[logReasonKey]*logReasonGroup
	reasonsMerged int64
	explained     map[string]*logExplained
	seq           int64
}

type logReasonKey struct{ event, label string }

type logReasonGroup struct {
	ReasonSummary
	span    logSpan
	lastSeq int64
}

// logExplained is what explain.Text made of one recipient status (without its
// timestamp), cached: a failing flow repeats the same few reasons.
type logExplained struct {
	label, topic, title, target string
	fix                         []string
}

func newTrackState(w logWindow) *trackState {
	return &trackState{
		window:    w,
		eventIDs:  make(map[string]int64),
		groups:    make(map[logReasonKey]*logReasonGroup),
		explained: make(map[string]*logExplained),
	}
}

func (t *trackState) read(lf *File, r io.Reader) error {
	rd := tracking.NewReader(r)
	defer func() { lf.Malformed = rd.Malformed() }()
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if !t.window.contains(ev.Time) {
			lf.Skipped++
			continue
		}
		lf.Records++
		t.event(&ev)
	}
}

func (t *trackState) event(ev *tracking.Event) {
	t.events++
	t.seq++
	id := strings.ToUpper(strings.TrimSpace(ev.EventID))
	if _, ok := t.eventIDs[id]; ok || len(t.eventIDs) < logMaxEventIDs {
		t.eventIDs[id]++
	} else {
		t.eventsOther++
	}
	if id != tracking.EventDefer && id != tracking.EventFail {
		return
	}
	n := max(len(ev.Recipients), 1)
	for i := range n {
		status := ""
		if len(ev.RecipientStatus) > 0 {
			status = ev.RecipientStatus[min(i, len(ev.RecipientStatus)-1)]
		}
		rcpt := ""
		if i < len(ev.Recipients) {
			rcpt = ev.Recipients[i]
		}
		t.recipient(id, status, rcpt, ev)
	}
}

func (t *trackState) recipient(id, status, rcpt string, ev *tracking.Event) {
	ex := t.explain(status)
	key := logReasonKey{id, ex.label}
	g, ok := t.groups[key]
	if !ok {
		if len(t.groups) >= logMaxReasons {
			t.reasonsMerged++
			return
		}
		g = &logReasonGroup{ReasonSummary: ReasonSummary{Event: id, Reason: ex.label, Topic: ex.topic, Title: ex.title, fix: ex.fix}}
		t.groups[key] = g
	}
	g.span.add(ev.Time)
	if g.lastSeq != t.seq {
		g.lastSeq = t.seq
		g.Events++
		addExample(&g.ExampleMessageIDs, ev.MessageID)
	}
	if ex.target != "" && len(g.Targets) < logMaxTargets && !slices.Contains(g.Targets, ex.target) {
		g.Targets = append(g.Targets, ex.target)
	}
	addExample(&g.ExampleRecipients, rcpt)
}

func addExample(list *[]string, v string) {
	v = strings.TrimSpace(v)
	if v == "" || len(*list) >= logMaxExamples || len(v) > logMaxExampleLength || slices.Contains(*list, v) {
		return
	}
	*list = append(*list, v)
}

// explain labels a recipient status with explain.Text, caching by the status
// without its {LRT=…} timestamp.
func (t *trackState) explain(status string) *logExplained {
	key := stripLRT(status)
	if ex, ok := t.explained[key]; ok {
		return ex
	}
	e := explain.Text(status)
	ex := &logExplained{label: reasonLabel(e, status), topic: e.Topic, target: explainTarget(e)}
	if e.Recognised {
		ex.title = e.Title
		ex.fix = e.Fix
	}
	if len(t.explained) < logMaxExplainCache {
		t.explained[key] = ex
	}
	return ex
}

// stripLRT removes the {LRT=…} (last retry time) element, the only part of
// a recipient status that changes on every retry of the same failure.
func stripLRT(s string) string {
	i := strings.Index(s, "{LRT=")
	if i < 0 {
		return s
	}
	j := strings.IndexByte(s[i:], '}')
	if j < 0 {
		return s[:i]
	}
	head, rest := s[:i], s[i+j+1:]
	if strings.HasPrefix(rest, ";") {
		rest = rest[1:]
	} else {
		head = strings.TrimSuffix(head, ";")
	}
	return head + rest
}

// reasonLabel is the grouping key of a status: its reply and reason, not
// the servers or times that vary between retries.
func reasonLabel(e explain.Explanation, status string) string {
	var parts []string
	for _, p := range []string{e.Code, e.Enhanced, e.Text} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	label := strings.Join(parts, " ")
	if pr := e.Fields["PrimaryResponse"]; pr != "" {
		label += ` "` + pr + `"`
	}
	if e.Reason != "" && !strings.Contains(label, e.Reason) {
		label += " (" + e.Reason + ")"
	}
	if label == "" {
		label = strings.Join(strings.Fields(stripLRT(status)), " ")
	}
	if label == "" {
		label = "(no recipient status)"
	}
	if len(label) > logMaxReasonLabel {
		label = label[:logMaxReasonLabel] + "…"
	}
	return label
}

// explainTarget names the server a status was about: "host (ip)".
func explainTarget(e explain.Explanation) string {
	var host, ip string
	for _, k := range []string{"LastAttemptedServerName", "FQDN", "OutboundProxyTargetHostName"} {
		if v := strings.TrimSpace(e.Fields[k]); v != "" && net.ParseIP(v) == nil {
			host = v
			break
		}
	}
	if v := strings.TrimSpace(e.Fields["IP"]); v != "" {
		ip = v
	} else if h, _, err := net.SplitHostPort(e.Fields["LastAttemptedIP"]); err == nil {
		ip = h
	}
	switch {
	case host != "" && ip != "":
		return host + " (" + ip + ")"
	case host != "":
		return host
	}
	return ip
}

func (t *trackState) summary() *TrackingSummary {
	if t.events == 0 {
		return nil
	}
	s := &TrackingSummary{Events: t.events, EventCounts: make(map[string]int64, len(t.eventIDs)), OtherReasons: t.reasonsMerged}
	for k, v := range t.eventIDs {
		s.EventCounts[k] = v
	}
	if t.eventsOther > 0 {
		s.EventCounts["(other)"] = t.eventsOther
	}
	for _, g := range t.groups {
		rs := g.ReasonSummary
		rs.Recipients, rs.FirstSeen, rs.LastSeen = g.span.count, g.span.first, g.span.last
		s.Reasons = append(s.Reasons, rs)
	}
	slices.SortFunc(s.Reasons, func(a, b ReasonSummary) int {
		if a.Event != b.Event {
			return strings.Compare(b.Event, a.Event) // FAIL before DEFER
		}
		if c := cmp.Compare(b.Recipients, a.Recipients); c != 0 {
			return c
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	return s
}
