package lab

import (
	"fmt"
	"slices"
	"time"

	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// delivery is the proof that a message crossed from one server to the
// other: the sender's SEND, the receiver's DELIVER, the receiver's
// protocol-log session and the certificates in it.
type delivery struct {
	send, deliver tracking.Event
	sess          *logSession        // the receiving session that holds the Message-ID
	sent          protolog.CertEvent // the certificate the receiver presented
	received      protolog.CertEvent // the client certificate it received (mutual TLS)
	gotClientCert bool
	mailbox       string
}

// expectDelivered waits for from's SEND of sub (after `after` earlier
// attempt outcomes) and to's DELIVER, and collects the proof as evidence:
// trace lines from both, the receiving session's TLS and certificate
// lines, the mailbox file. It returns nil (with the problem recorded in s)
// when the attempt did not end in SEND.
func (r *run) expectDelivered(s *Step, from, to *instance, sub submission, after int) (*delivery, error) {
	evs, last, err := r.waitOutcome(from, sub.MessageID, after, attemptEnds...)
	s.evidence(traceLines(from.Role, laterOutcomes(evs, after))...)
	if err != nil {
		return nil, err
	}
	if !s.expect(last.EventID == tracking.EventSend, "the %s's attempt ended %s (%s), want SEND", from.Role, last.EventID, status(last)) {
		return nil, nil
	}
	d := &delivery{send: last}
	toEvs, _, err := r.waitOutcome(to, sub.MessageID, 0, tracking.EventDeliver, tracking.EventFail, tracking.EventDefer)
	s.evidence(traceLines(to.Role, toEvs)...)
	if err != nil {
		return nil, err
	}
	var ok bool
	d.deliver, ok = lastEvent(toEvs, tracking.EventDeliver)
	s.expect(ok, "%s has no DELIVER for %s", to.Role, sub.MessageID)
	d.sess, err = r.waitSession(to, "SmtpReceive", "session holding "+sub.MessageID, time.Time{},
		func(all []*logSession) *logSession { return sessionWith(all, sub.MessageID) })
	if err != nil {
		return nil, err
	}
	s.evidence(prefixed(to.Role+" SmtpReceive", d.sess.tlsLines())...)
	s.evidence(prefixed(to.Role+" SmtpReceive", d.sess.lines('>', "250 2.6.0"))...)
	d.sent, _ = d.sess.certificate("Sending certificate")
	d.received, d.gotClientCert = d.sess.certificate("Received certificate")
	if d.mailbox, err = findMailbox(to, sub.MessageID); err != nil {
		return nil, err
	}
	s.evidence(fmt.Sprintf("[%s mailbox] %s", to.Role, d.mailbox))
	s.observe("%s SEND %s; %s DELIVER %s into %s; %s presented %s (thumbprint %s)",
		from.Role, status(last), to.Role, d.deliver.InternalMessageID, d.mailbox, d.sess.Connector, d.sent.Subject, d.sent.Thumbprint)
	return d, nil
}

// laterOutcomes keeps the attempt outcomes after the first `after` ones:
// what a retry produced, without repeating what came before.
func laterOutcomes(evs []tracking.Event, after int) []tracking.Event {
	var out []tracking.Event
	n := 0
	for _, e := range evs {
		if !slices.Contains(attemptEnds, e.EventID) {
			continue
		}
		if n++; n > after {
			out = append(out, e)
		}
	}
	return out
}

// prefixed labels log lines with where they come from.
func prefixed(label string, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "[" + label + "] " + l
	}
	return out
}
