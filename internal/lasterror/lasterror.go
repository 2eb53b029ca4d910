// Package lasterror owns the one record of why a delivery attempt failed —
// the fields of Exchange's queue LastError and message-trace reason: the
// status line (LED) with its reply code and enhanced status code, the
// [Message=…] text, the reason (MSG), the server tried (FQDN, IP, port) and
// the time of the attempt (LRT) — and its one text form.
//
// The send connector fills a Record where the failure happens, the queue
// stores it as fields, and what shows it (the queue list, the trace, the DSN,
// the admin API) formats it with String. Nothing parses the text back:
// decisions (a DSN's Status field, the queue's retry bookkeeping) read the
// fields. The only parser is FromText, for a queue written by an older
// mailflow, which stored the text.
package lasterror

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/smtp"
)

// Record is one failed delivery attempt (or the queue's own verdict, such
// as expiry, which keeps the attempt before it as Cause).
type Record struct {
	// Code is the SMTP reply code (450); Enhanced the RFC 3463 enhanced
	// status code (4.7.320), "" when the reply had none.
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced,omitempty"`
	// Status is the whole status line, codes first, as the next hop replied
	// or as mailflow words a connection-level failure: "450 4.7.320
	// Certificate validation failed". It is LED= in the text form.
	Status string `json:"led"`
	// Message is the bracketed [Message=…] text, "" for none.
	Message string `json:"message,omitempty"`
	// Reason is MSG=: a certificate verdict (SubjectMismatch) or a short
	// identifier (ConnectionRefused); "" for a reply.
	Reason string `json:"msg,omitempty"`
	// Host is FQDN= and LastAttemptedServerName=; IP is IP= (no port);
	// Port, with IP, makes LastAttemptedIP=ip:port.
	Host string `json:"fqdn,omitempty"`
	IP   string `json:"ip,omitempty"`
	Port int    `json:"port,omitempty"`
	// Time is LRT=, the time of the attempt, shown in UTC.
	Time time.Time `json:"lrt,omitzero"`
	// Ours marks a status mailflow generated (connection level): only those
	// carry the [LastAttemptedServerName] and [LastAttemptedIP] brackets, as
	// in Exchange; a peer's own reply is quoted bare.
	Ours bool `json:"ours,omitempty"`
	// Attempt marks the outcome of a send connector's attempt on a server:
	// it is shown in Exchange's LastError form {LED=…};{MSG=…};{FQDN=…};
	// {IP=…};{LRT=…}. The queue's and local delivery's own failures are
	// shown as the bare status line.
	Attempt bool `json:"attempt,omitempty"`
	// Cause is the failure this one ends, shown in brackets after it: the
	// last attempt before a message expired.
	Cause *Record `json:"cause,omitempty"`
	// Text is a failure stored as text by an older mailflow; it is shown as
	// it is (Code and Enhanced were read from its start when it was loaded).
	Text string `json:"text,omitempty"`
}

// New is a failure with the status line status ("450 4.7.320 Certificate
// validation failed", one of the sender's own statuses or a reply as
// received), its codes read the way the SMTP client reads a reply
// (smtp.ReadReply: the enhanced code counts when its class matches the
// reply code). A status without a reply code keeps Code 0.
func New(status string) *Record {
	r := &Record{Status: status}
	if reply, err := smtp.ReadReply(bufio.NewReader(strings.NewReader(firstLine(status)+"\r\n")), nil); err == nil {
		r.Code, r.Enhanced = reply.Code, reply.Enhanced
	}
	return r
}

// FromReply is the failure of a reply the next hop sent.
func FromReply(reply smtp.Reply) *Record {
	return &Record{Code: reply.Code, Enhanced: reply.Enhanced, Status: reply.Text()}
}

// Local is the queue's or local delivery's own failure: code, enhanced
// code and text, shown as "code enhanced text".
func Local(code int, enhanced, text string) *Record {
	status := strconv.Itoa(code)
	if enhanced != "" {
		status += " " + enhanced
	}
	if text != "" {
		status += " " + text
	}
	return &Record{Code: code, Enhanced: enhanced, Status: status}
}

// FromText loads a failure an older mailflow stored as text ("450 4.7.320
// …", "{LED=450 4.7.320 …};{MSG=…};…" or "550 4.4.7 QUEUE.Expired; …"):
// shown as it was, its codes read by the rule that version's DSN used (an
// x.y.z among the first three words, else the class of the reply code), so
// an old record gives the DSN it would have. "" gives nil.
func FromText(s string) *Record {
	if s == "" {
		return nil
	}
	r := &Record{Text: s}
	words := strings.Fields(strings.TrimPrefix(strings.TrimSpace(s), "{LED="))
	if len(words) > 0 {
		if code, err := strconv.Atoi(words[0]); err == nil && code >= 200 && code <= 599 {
			r.Code = code
		}
	}
	for i, w := range words {
		if i > 2 {
			break
		}
		if isEnhanced(w) {
			r.Enhanced = w
			break
		}
	}
	return r
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// isEnhanced reports an RFC 3463 code: class 2, 4 or 5, subject and detail
// of one to three digits.
func isEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.ContainsAny(parts[0], "245") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// Class is the failure's enhanced status code, else the one its reply
// code's class implies (4.0.0, 5.0.0): what a DSN's Status field says.
func (f *Record) Class() string {
	switch {
	case f == nil:
		return "5.0.0"
	case f.Enhanced != "":
		return f.Enhanced
	case f.Code >= 400 && f.Code < 500:
		return "4.0.0"
	}
	return "5.0.0"
}

// lrtLayout is .NET's "M/d/yyyy h:mm:ss tt" (en-US general date-time), as
// Exchange writes LRT=.
const lrtLayout = "1/2/2006 3:04:05 PM"

// String is the failure as Exchange's queue and message trace show it, ""
// for nil:
//
//	{LED=450 4.7.320 Certificate validation failed [Message=SubjectMismatch …] [LastAttemptedServerName=host] [LastAttemptedIP=ip:port]};{MSG=SubjectMismatch};{FQDN=host};{IP=ip};{LRT=11/1/2017 12:12:45 PM}
//	550 4.4.7 QUEUE.Expired; message expired [{LED=…};{MSG=…};{FQDN=…};{IP=…};{LRT=…}]
//	550 5.4.4 Unable to route: …
func (f *Record) String() string {
	if f == nil {
		return ""
	}
	if f.Text != "" {
		return f.Text
	}
	var b strings.Builder
	if f.Attempt {
		f.writeLED(&b)
	} else {
		b.WriteString(f.Status)
	}
	if f.Cause != nil {
		b.WriteString(" [")
		if f.Cause.Text != "" {
			b.WriteString(f.Cause.Text)
		} else {
			f.Cause.writeLED(&b)
		}
		b.WriteString("]")
	}
	return b.String()
}

// writeLED writes the {LED=…};{MSG=…};{FQDN=…};{IP=…};{LRT=…} form.
func (f *Record) writeLED(b *strings.Builder) {
	b.WriteString("{LED=")
	b.WriteString(f.Status)
	if f.Message != "" {
		b.WriteString(" [Message=")
		b.WriteString(f.Message)
		b.WriteString("]")
	}
	if f.Ours {
		if f.Host != "" {
			b.WriteString(" [LastAttemptedServerName=")
			b.WriteString(f.Host)
			b.WriteString("]")
		}
		if f.IP != "" {
			b.WriteString(" [LastAttemptedIP=")
			b.WriteString(joinHostPort(f.IP, f.Port))
			b.WriteString("]")
		}
	}
	b.WriteString("};{MSG=")
	b.WriteString(f.Reason)
	b.WriteString("};{FQDN=")
	b.WriteString(f.Host)
	b.WriteString("};{IP=")
	b.WriteString(f.IP)
	b.WriteString("};{LRT=")
	if !f.Time.IsZero() {
		b.WriteString(f.Time.UTC().Format(lrtLayout))
	}
	b.WriteString("}")
}

func joinHostPort(ip string, port int) string {
	if port == 0 {
		return ip
	}
	return net.JoinHostPort(ip, strconv.Itoa(port))
}
