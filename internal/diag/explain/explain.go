package explain

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Explanation is what mailflow knows about one error string: what was parsed
// from it and, when the code or text is known, the cause, the evidence to
// collect and the fix, worded with the parsed values.
type Explanation struct {
	Input      string `json:"input"`
	Recognised bool   `json:"recognised"`
	// Topic is a stable identifier of the explanation ("cert.SubjectMismatch",
	// "smtp.4.4.316", "event.12014"), for scripts and tests; empty when not
	// recognised.
	Topic    string `json:"topic,omitempty"`
	Code     string `json:"code,omitempty"`     // basic reply code, "450"
	Enhanced string `json:"enhanced,omitempty"` // enhanced status code, "4.7.320"
	Text     string `json:"text,omitempty"`     // reply text without its [Key=Value] sections
	Reason   string `json:"reason,omitempty"`   // MSG= reason, or the first word of [Message=…]
	// Fields holds every value parsed: LED, MSG, FQDN, IP, LRT, Message,
	// LastAttemptedServerName, LastAttemptedIP, ExpectedSubject,
	// PresentedSubject, Thumbprint, OutboundProxyTargetIP,
	// OutboundProxyTargetHostName, Wrapper, PrimaryResponse, LastEndpoint,
	// TLSError, EventID, CertificateDomain, Connector, ConnectorFQDN, Domain,
	// MTASTSReason, Server.
	Fields   map[string]string `json:"fields,omitempty"`
	Title    string            `json:"title,omitempty"`
	Cause    string            `json:"cause,omitempty"`
	Evidence []string          `json:"evidence,omitempty"`
	Fix      []string          `json:"fix,omitempty"`
	// Transient is true for 4xx replies and for conditions that leave the
	// message queued: the sender will retry (Exchange Online for 24 hours,
	// then a non-delivery report).
	Transient bool     `json:"transient"`
	SeeAlso   []string `json:"see_also,omitempty"`
}

// Text parses input (a message-trace reason, a queue LastError, a
// tracking recipient-status, an event text or a bare reply line) and explains
// it. It never fails: input it does not know gives Recognised == false, the
// values it could parse and a hint.
func Text(input string) Explanation {
	in := parseExplainInput(input)
	e := Explanation{
		Input:    input,
		Code:     in.status.code,
		Enhanced: in.status.enhanced,
		Text:     displayText(in.status.text),
		Reason:   in.reason,
		Fields:   in.fields,
	}
	if len(e.Fields) == 0 {
		e.Fields = nil
	}
	c := explainCtx{in: in}
	entry := matchExplainEntry(in)
	if entry == nil {
		describeUnrecognised(in, &e)
		e.Transient = transientOf(in.status, false)
		return e
	}
	e.Recognised = true
	e.Topic = entry.topic
	entry.build(c, &e)
	e.Transient = transientOf(explainStatus{code: e.Code, enhanced: e.Enhanced}, entry.transient)
	if in.wrapped && entry.topic != explainWrapperTopic && !in.outer.empty() {
		e.Cause += fmt.Sprintf(" The sender reported this inside %s: it tried the alternate hosts too, and none accepted the message.",
			in.outer.code+" "+in.outer.enhanced)
	}
	return e
}

// transientOf decides retry from the basic code, else the enhanced class,
// else the entry's default (for events and log lines that carry no code).
func transientOf(st explainStatus, def bool) bool {
	switch {
	case st.code != "":
		return st.code[0] == '4'
	case st.enhanced != "":
		return st.enhanced[0] == '4'
	}
	return def
}

// explainSubjects names the RFC 3463 subject of an enhanced code, so an
// unknown code still says which area it concerns.
var explainSubjects = map[byte]string{
	'0': "other or undefined status",
	'1': "addressing (a sender or recipient address)",
	'2': "the recipient's mailbox",
	'3': "the receiving mail system",
	'4': "network or routing",
	'5': "the mail delivery protocol",
	'6': "message content or media",
	'7': "security or policy (TLS, certificates, authentication, relay)",
}

// describeUnrecognised says honestly that the input is unknown, restates
// what was parsed and how to get a better answer.
func describeUnrecognised(in *explainInput, e *Explanation) {
	e.Title = "Not recognised"
	var b strings.Builder
	b.WriteString("mailflow does not know this string.")
	st := in.status
	if !st.empty() {
		fmt.Fprintf(&b, " It parsed the reply %q", strings.TrimSpace(st.code+" "+st.enhanced))
		if st.enhanced != "" {
			switch st.enhanced[0] {
			case '4':
				b.WriteString(": class 4, a temporary failure the sender retries")
			case '5':
				b.WriteString(": class 5, a permanent failure (no retry, a non-delivery report)")
			case '2':
				b.WriteString(": class 2, success")
			}
			if parts := strings.Split(st.enhanced, "."); len(parts) == 3 && len(parts[1]) == 1 {
				if subj, ok := explainSubjects[parts[1][0]]; ok {
					fmt.Fprintf(&b, "; subject %s: %s", parts[1], subj)
				}
			}
		} else if st.code[0] == '4' {
			b.WriteString(": a temporary failure the sender retries")
		} else if st.code[0] == '5' {
			b.WriteString(": a permanent failure")
		}
		b.WriteString(".")
	}
	if n := len(in.fields); n > 0 {
		fmt.Fprintf(&b, " It read %d field(s): %s.", n, strings.Join(sortedKeys(in.fields), ", "))
	}
	b.WriteString(" Hint: paste the complete string — the whole LED=… value from the message trace, the queue's LastError, " +
		"the full SMTP reply with its x.y.z code, or the protocol-log line; to see a live server as a validating sender does, " +
		"run mailflow probe HOST:25 --policy DomainValidation --expect NAME.")
	e.Cause = b.String()
	e.SeeAlso = []string{"mailflow probe HOST:25 --policy DomainValidation --expect NAME", "mailflow logs analyze LOGDIR"}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// explainFieldOrder lists the fields in the order an administrator reads
// them in a report; others follow alphabetically.
var explainFieldOrder = []string{
	"LED", "MSG", "Message", "ExpectedSubject", "PresentedSubject", "Thumbprint",
	"FQDN", "IP", "LastAttemptedServerName", "LastAttemptedIP", "LastEndpoint",
	"OutboundProxyTargetHostName", "OutboundProxyTargetIP", "LRT", "Server",
	"Wrapper", "PrimaryResponse", "TLSError", "EventID", "CertificateDomain",
	"Connector", "ConnectorFQDN", "Domain", "MTASTSReason",
}

func orderedFieldKeys(m map[string]string) []string {
	seen := map[string]bool{}
	var keys []string
	for _, k := range explainFieldOrder {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	for _, k := range sortedKeys(m) {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	return keys
}

// WriteText writes the explanation as a plain-text report. Long lines are
// not wrapped: the commands in them must survive copy and paste.
func (e Explanation) WriteText(w io.Writer) error {
	var b strings.Builder
	head := strings.TrimSpace(strings.Join(nonEmpty(e.Code, e.Enhanced, e.Text), " "))
	if e.Reason != "" {
		head = strings.TrimSpace(head + " (" + e.Reason + ")")
	}
	if head == "" {
		head = "(no SMTP reply in the input)"
	}
	fmt.Fprintf(&b, "Input:    %s\n", oneLine(e.Input))
	fmt.Fprintf(&b, "Reply:    %s\n", head)
	if e.Recognised {
		fmt.Fprintf(&b, "Topic:    %s\n", e.Topic)
	}
	fmt.Fprintf(&b, "Title:    %s\n", e.Title)
	if e.Code != "" || e.Enhanced != "" || e.Transient {
		if e.Transient {
			b.WriteString("Retry:    yes, transient: the sender keeps the message queued and retries until it expires (Exchange Online: 24 hours), then returns a non-delivery report\n")
		} else {
			b.WriteString("Retry:    no, permanent: the sender returns the message with a non-delivery report\n")
		}
	}
	if len(e.Fields) > 0 {
		b.WriteString("\nParsed:\n")
		keys := orderedFieldKeys(e.Fields)
		width := 0
		for _, k := range keys {
			width = max(width, len(k))
		}
		for _, k := range keys {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, k, oneLine(e.Fields[k]))
		}
	}
	if e.Cause != "" {
		fmt.Fprintf(&b, "\nCause:\n  %s\n", e.Cause)
	}
	writeList(&b, "Evidence to collect", e.Evidence, true)
	writeList(&b, "Fix", e.Fix, true)
	writeList(&b, "See also", e.SeeAlso, false)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write explanation: %w", err)
	}
	return nil
}

func writeList(b *strings.Builder, title string, items []string, numbered bool) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s:\n", title)
	for i, it := range items {
		if numbered {
			fmt.Fprintf(b, "  %d. %s\n", i+1, it)
		} else {
			fmt.Fprintf(b, "  - %s\n", it)
		}
	}
}

// oneLine keeps a report line on one line whatever the input held.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
