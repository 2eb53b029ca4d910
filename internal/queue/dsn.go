package queue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/outcome"
)

// maxOriginalHeaders bounds the copy of the original header in a DSN.
const maxOriginalHeaders = 64 << 10

// queueDSN queues a delivery status notification (RFC 3464) about the
// failed recipients of orig, addressed from the null sender to the
// original sender, so that routing delivers it like any message. There is
// never a DSN for a null-sender message, hence never one about a DSN.
func (q *Queue) queueDSN(ctx context.Context, orig *Message, failed []Recipient, now time.Time) (Event, bool) {
	if orig.Env.IsDSN() {
		q.log.Info("no DSN for a null-sender message", "id", orig.ID, "failed", len(failed))
		return Event{}, false
	}
	headers, herr := q.originalHeaders(ctx, orig.ID)
	if herr != nil {
		q.log.Warn("DSN without the original headers", "id", orig.ID, "err", herr)
	}
	d := dsn{
		fqdn:     q.fqdn,
		orig:     orig,
		failed:   failed,
		now:      now,
		expiry:   q.expiry,
		headers:  headers,
		boundary: fmt.Sprintf("=_mailflow_dsn_%s_%d", orig.ID, now.UnixNano()),
	}
	msgID := fmt.Sprintf("<%s.%d.dsn@%s>", orig.ID, now.UnixMilli(), q.fqdn)
	subject := "Undeliverable: " + oneLine(orig.Env.Subject)
	body := d.build(msgID, subject)
	env := Envelope{
		From:       "",
		To:         []string{strings.Trim(strings.TrimSpace(orig.Env.From), "<>")},
		ReceivedAt: now,
		HeloName:   q.fqdn,
		MessageID:  msgID,
		Subject:    subject,
		Size:       int64(len(body)),
	}
	id, err := q.put(ctx, env, BytesBody(body))
	if err != nil {
		q.log.Error("could not queue the DSN; the sender will not be notified", "id", orig.ID, "to", orig.Env.From, "err", err)
		return Event{}, false
	}
	q.log.Info("DSN queued", "id", id, "about", orig.ID, "to", orig.Env.From, "failed", len(failed))
	snap, ok := q.Get(id)
	if !ok {
		// Already being delivered or gone: describe it from what we built.
		snap = &Message{ID: id, Env: env}
	}
	return Event{Kind: EventDSN, Msg: snap, Rcpt: env.To[0], Time: now, RelatedID: orig.ID,
		Result: Result{Rcpt: env.To[0], Outcome: outcome.Failed, Status: fmt.Sprintf("DSN for %d failed recipient(s) of %s", len(failed), orig.ID)}}, true
}

// originalHeaders reads the header section of the stored body.
func (q *Queue) originalHeaders(ctx context.Context, id string) ([]byte, error) {
	rc, err := q.store.Body(ctx, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := bufio.NewReader(io.LimitReader(rc, maxOriginalHeaders))
	var out bytes.Buffer
	for {
		line, err := r.ReadString('\n')
		if strings.TrimRight(line, "\r\n") == "" {
			break // end of header (or of the body)
		}
		if err != nil {
			// Header longer than the limit or without a final newline:
			// keep only complete lines.
			break
		}
		out.WriteString(strings.TrimRight(line, "\r\n"))
		out.WriteString("\r\n")
	}
	return out.Bytes(), nil
}

type dsn struct {
	fqdn     string
	orig     *Message
	failed   []Recipient
	now      time.Time
	expiry   time.Duration
	headers  []byte
	boundary string
}

func (d *dsn) build(msgID, subject string) []byte {
	var b bytes.Buffer
	hdr := func(name, value string) { b.WriteString(foldHeader(name, value)) }
	hdr("From", "Mail Delivery System <postmaster@"+d.fqdn+">")
	hdr("To", "<"+oneLine(strings.Trim(strings.TrimSpace(d.orig.Env.From), "<>"))+">")
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Date", d.now.Format(time.RFC1123Z))
	hdr("Message-ID", msgID)
	if id := oneLine(d.orig.Env.MessageID); id != "" {
		hdr("In-Reply-To", id)
		hdr("References", id)
	}
	hdr("Auto-Submitted", "auto-replied")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/report; report-type=delivery-status; boundary="`+d.boundary+`"`)
	b.WriteString("\r\nThis is a delivery status notification in MIME format.\r\n")

	b.WriteString("\r\n--" + d.boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(d.humanText()))
	qp.Close()
	b.WriteString("\r\n")

	b.WriteString("\r\n--" + d.boundary + "\r\n")
	b.WriteString("Content-Type: message/delivery-status\r\n\r\n")
	b.WriteString(d.statusFields())

	b.WriteString("\r\n--" + d.boundary + "\r\n")
	b.WriteString("Content-Type: text/rfc822-headers\r\n\r\n")
	if len(d.headers) == 0 {
		// The part may not be empty of fields; say why it is bare.
		b.WriteString(foldHeader("X-Mailflow-Note", "the original header could not be read"))
	} else {
		b.Write(d.headers)
	}
	b.WriteString("\r\n--" + d.boundary + "--\r\n")
	return b.Bytes()
}

// humanText explains the failure to the sender, then gives the details an
// administrator needs, in the spirit of Exchange's NDR.
func (d *dsn) humanText() string {
	var b strings.Builder
	b.WriteString("Delivery has failed to these recipients:\r\n\r\n")
	for _, r := range d.failed {
		fmt.Fprintf(&b, "    %s\r\n", oneLine(r.Addr))
	}
	b.WriteString("\r\n")
	if subj := oneLine(d.orig.Env.Subject); subj != "" {
		fmt.Fprintf(&b, "Subject: %s\r\n", subj)
	}
	fmt.Fprintf(&b, "Sent: %s\r\n\r\n", d.arrival().Format(time.RFC1123Z))
	for _, r := range d.failed {
		fmt.Fprintf(&b, "%s\r\n    %s\r\n\r\n", oneLine(r.Addr), explain(r.LastError.Class(), d.expiry))
	}
	b.WriteString("Diagnostic information for administrators:\r\n\r\n")
	fmt.Fprintf(&b, "Generating server: %s\r\n", d.fqdn)
	fmt.Fprintf(&b, "Queue id: %s\r\n\r\n", d.orig.ID)
	for _, r := range d.failed {
		fmt.Fprintf(&b, "%s\r\n    Last error: %s\r\n", oneLine(r.Addr), oneLine(r.LastError.String()))
		if r.Attempts > 0 {
			fmt.Fprintf(&b, "    Attempts: %d, last at %s", r.Attempts, r.LastAttempt.Format(time.RFC1123Z))
			if r.Route != "" {
				fmt.Fprintf(&b, " via %s", oneLine(r.Route))
			}
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
	}
	b.WriteString("The original message headers are attached.\r\n")
	return b.String()
}

func explain(status string, expiry time.Duration) string {
	switch {
	case status == "4.4.7":
		return fmt.Sprintf("The message could not be delivered within %s and has expired. The last error is shown below; it usually names the cause (an unreachable server, or a TLS certificate the receiving side does not accept).", expiry)
	case status == "5.4.4":
		return "There is no route to the recipient's domain. An administrator must add an address space for the domain to a send connector, or add the domain to the accepted domains."
	case strings.HasPrefix(status, "5.7."):
		return "The receiving server refused the message for a security or policy reason (for example TLS or certificate requirements, or relay permissions)."
	case strings.HasPrefix(status, "5.1."):
		return "The recipient's address was not found by the receiving server. Check the address for typing errors."
	default:
		return "The receiving server rejected the message permanently."
	}
}

func (d *dsn) arrival() time.Time {
	if !d.orig.Env.ReceivedAt.IsZero() {
		return d.orig.Env.ReceivedAt
	}
	return d.orig.Created
}

// statusFields renders the message/delivery-status body: per-message
// fields, then one block per failed recipient (RFC 3464 §2.2, §2.3).
func (d *dsn) statusFields() string {
	var b strings.Builder
	b.WriteString(foldHeader("Reporting-MTA", "dns; "+ascii(d.fqdn)))
	b.WriteString(foldHeader("X-Mailflow-Queue-ID", d.orig.ID))
	b.WriteString(foldHeader("Arrival-Date", d.arrival().Format(time.RFC1123Z)))
	for _, r := range d.failed {
		b.WriteString("\r\n")
		b.WriteString(foldHeader("Final-Recipient", "rfc822; "+ascii(r.Addr)))
		b.WriteString(foldHeader("Action", "failed"))
		b.WriteString(foldHeader("Status", r.LastError.Class()))
		b.WriteString(foldHeader("Diagnostic-Code", "smtp; "+ascii(truncate(r.LastError.String(), 2000))))
		if !r.LastAttempt.IsZero() {
			b.WriteString(foldHeader("Last-Attempt-Date", r.LastAttempt.Format(time.RFC1123Z)))
		}
	}
	return b.String()
}

// ascii keeps a delivery-status field 7-bit clean, as RFC 3464 requires.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r > 0x7e {
			return '?'
		}
		return r
	}, oneLine(s))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// foldHeader renders "Name: value" folded at spaces near 78 columns, with
// no line over 998 octets (a word longer than that is cut). CR, LF and
// other control characters never reach the output.
func foldHeader(name, value string) string {
	const soft, hard = 78, 998
	var b strings.Builder
	line := name + ":"
	for _, w := range strings.Fields(oneLine(value)) {
		if len(w) > hard-len(name)-3 {
			w = w[:hard-len(name)-3]
		}
		if len(line)+1+len(w) > soft && len(line) > len(name)+1 {
			b.WriteString(line + "\r\n")
			line = ""
		}
		line += " " + w
	}
	b.WriteString(line + "\r\n")
	return b.String()
}
