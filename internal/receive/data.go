package receive

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/smtp"
)

func (s *session) data(cmd smtp.Command) {
	switch {
	case cmd.Arg != "":
		s.syntax("DATA takes no arguments")
		return
	case s.from == nil:
		s.errors++
		s.reply(503, "5.5.1", "Need MAIL command")
		return
	case len(s.rcpts) == 0:
		s.errors++
		s.reply(503, "5.5.1", "Need RCPT command")
		return
	}
	s.reply(354, "", "Start mail input; end with <CRLF>.<CRLF>")
	if err := s.flush(); err != nil {
		s.quit = true
		return
	}
	received := s.st.Now().UTC()
	var buf bytes.Buffer
	hdr := s.receivedHeader(received)
	buf.WriteString(hdr)
	max := s.c.MaxSize
	if s.perms.Has(PermBypassMessageSizeLimit) {
		// Exchange's BypassMessageSizeLimit is unlimited; a trusted relay
		// still gets a ceiling that cannot fill the disk with one message.
		max = bypassSizeLimit
	}
	dataTimeout := time.Duration(s.st.Limits.DataTimeout)
	if dataTimeout <= 0 {
		dataTimeout = 10 * time.Minute
	}
	s.conn.SetReadDeadline(time.Now().Add(dataTimeout))
	sink := &dataSink{buf: &buf, srv: s.srv, dir: s.srv.opts.SpoolDir, threshold: s.srv.spoolThreshold(), size: int64(buf.Len())}
	_, err := s.r.ReadData(sink, max, maxTextLine)
	// The body is copied or moved into the queue by PutBody below; the
	// reservation and any spool file left end with this function.
	defer sink.release()
	switch {
	case err == nil:
	case sink.err != nil:
		s.srv.opts.Logger.Error("message refused: the spool file for a large message could not be written; answered 452",
			"connector", s.c.Name(), "remote", s.remote.String(), "error", sink.err)
		s.reply(452, "4.3.1", "Insufficient system storage")
		s.resetTransaction()
		return
	case errors.Is(err, errOverBudget):
		s.srv.opts.Logger.Warn("message refused: bodies being received exceed the server-wide in-flight limit",
			"connector", s.c.Name(), "remote", s.remote.String(), "limit_bytes", s.srv.inflightLimit())
		s.reply(452, "4.3.1", "Insufficient system resources, try again later")
		s.resetTransaction()
		return
	case errors.Is(err, smtp.ErrBareLineEnding):
		s.errors++
		s.log.Info("", "Message rejected: bare CR or LF in DATA (SMTP smuggling protection)")
		s.reply(550, "5.6.11", "SMTPSEND.BareLinefeedsAreIllegal; bare CR or LF in message data is not permitted, lines must end with <CR><LF>")
		s.resetTransaction()
		return
	case errors.Is(err, smtp.ErrTooLarge):
		s.reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
		s.resetTransaction()
		return
	case errors.Is(err, smtp.ErrDataLineTooLong):
		s.reply(500, "5.5.2", "Message line too long (limit 1000 octets including CRLF)")
		s.resetTransaction()
		return
	case errors.Is(err, smtp.ErrNUL):
		s.reply(550, "5.6.0", "NUL characters are not permitted in message data")
		s.resetTransaction()
		return
	default:
		// Unterminated DATA: the client went away or stalled past the
		// data timeout; nothing was accepted. A stalled client is told
		// why, as at the command prompt.
		s.log.Info("", "Message data incomplete: "+err.Error())
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.reply(421, "4.4.2", s.fqdn()+" Connection timed out, closing transmission channel")
			s.flush()
		}
		s.quit = true
		return
	}
	// head is the message as far as it is held in memory: all of a small
	// one, the first SpoolThreshold bytes (the header section) of a
	// spooled one.
	head := buf.Bytes()
	if s.user != nil {
		if bad, ok := s.fromAllowed(head[len(hdr):]); !ok {
			s.errors++
			s.log.Info("", fmt.Sprintf("User %s may not send as From: %s (SendAs)", s.user.Name, bad))
			s.replyR(replySendAsDenied)
			s.resetTransaction()
			return
		}
	}
	body, err := sink.body()
	if err != nil {
		s.srv.opts.Logger.Error("message not stored; answered 452", "connector", s.c.Name(), "error", err)
		s.reply(452, "4.3.1", "Insufficient system storage")
		s.resetTransaction()
		return
	}
	defer body.RemoveSpool()
	env := queue.Envelope{
		From:        s.from.String(),
		To:          append([]string(nil), s.rcpts...),
		ReceivedAt:  received,
		RemoteAddr:  s.remote.String(),
		HeloName:    s.helo,
		ConnectorID: s.c.ID,
		TLS:         s.tls,
		Size:        body.Size,
	}
	if s.user != nil {
		env.AuthUser = s.user.Name
	}
	var tlsRequiredNo bool
	env.MessageID, env.Subject, tlsRequiredNo = headerFields(head[len(hdr):])
	// RFC 8689 §4.1: with REQUIRETLS on MAIL the TLS-Required header field
	// is ignored.
	env.RequireTLS = s.requireTLS
	env.TLSOptional = tlsRequiredNo && !s.requireTLS
	ctx, cancel := s.submitContext()
	id, err := s.srv.opts.Submitter.PutBody(ctx, env, body)
	cancel()
	if err != nil {
		s.log.Info("", "Message not stored: "+err.Error())
		if errors.Is(err, queue.ErrClosed) {
			s.srv.opts.Logger.Warn("message not stored, queue closed; answered 421", "connector", s.c.Name(), "error", err)
			s.reply(421, "4.3.2", "Service shutting down, try again later")
			s.quit = true
			return
		}
		if errors.Is(err, queue.ErrUnavailable) {
			// The shared queue's database is down: the store logs that
			// once; each refused message is only a protocol-log line.
			s.reply(451, "4.3.0", "Queue database unavailable, try again later")
			s.resetTransaction()
			return
		}
		s.srv.opts.Logger.Error("message not stored; answered 452", "connector", s.c.Name(), "error", err)
		// Any other failure (queue.ErrStorage and the rest) means nothing
		// was stored: a transient refusal, never a 250.
		s.reply(452, "4.3.1", "Insufficient system storage")
		s.resetTransaction()
		return
	}
	s.log.Info(fmt.Sprintf("%s;%s;%d", id, env.MessageID, len(s.rcpts)), "receiving message")
	s.reply(250, "2.6.0", fmt.Sprintf("%s [InternalId=%s, Hostname=%s] Queued mail for delivery", orBracket(env.MessageID, id, s.fqdn()), id, s.fqdn()))
	s.accepted++
	s.srv.messageAccepted(s.c.Name())
	if s.user != nil {
		s.srv.limiter.accepted(s.st.Now(), s.user.Name, s.st.Limits.UserMessageRate)
	}
	if f := s.srv.opts.OnAccepted; f != nil {
		f(id, env)
	}
	s.resetTransaction()
}

// maxEchoedMessageID bounds the Message-ID echoed in the 250 reply.
const maxEchoedMessageID = 200

// maxHeaderValue bounds the Message-ID and Subject kept for tracking.
const maxHeaderValue = 998

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// bypassSizeLimit caps messages from senders with BypassMessageSizeLimit.
const bypassSizeLimit = 1 << 30

func orBracket(mid, id, host string) string {
	// Echo the client's Message-ID only when it is short and printable: a
	// reply line must stay within RFC 5321's 512 octets, or the client
	// (mailflow's own included) cannot read the 250 and sends again.
	if mid != "" && len(mid) <= maxEchoedMessageID && printable(mid) {
		return mid
	}
	return "<" + id + "@" + host + ">"
}

func (s *session) receivedHeader(at time.Time) string {
	with := "ESMTP"
	if !s.esmtp {
		with = "SMTP"
	}
	if s.tls {
		with += "S"
	}
	authPart := ""
	if s.user != nil {
		// RFC 3848: ESMTPA / ESMTPSA. The user name stays out of the
		// header (it would leave the organisation with the message); the
		// tracking log has it.
		with += "A"
		authPart = " (authenticated)"
	}
	tlsPart := ""
	if s.tls {
		tlsPart = fmt.Sprintf("\r\n\t(version=%s cipher=%s)", s.tlsInfo.version, s.tlsInfo.cipher)
	}
	return fmt.Sprintf("Received: from %s ([%s])%s by %s (mailflow; %s) with %s%s;\r\n\t%s\r\n",
		sanitizeHeader(s.helo), s.remote.Addr().Unmap(), authPart, s.fqdn(), s.c.Name(), with, tlsPart,
		at.Format(time.RFC1123Z))
}

func sanitizeHeader(v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}

// headerFields reads the Message-ID and Subject kept for tracking, and
// whether the sender asked for "TLS-Required: No" (RFC 8689 §5).
func headerFields(msg []byte) (messageID, subject string, tlsRequiredNo bool) {
	if v := headerValues(msg, "Message-ID"); len(v) > 0 {
		messageID = v[0]
	}
	if v := headerValues(msg, "Subject"); len(v) > 0 {
		subject = v[0]
	}
	if v := headerValues(msg, "TLS-Required"); len(v) > 0 {
		tlsRequiredNo = strings.EqualFold(strings.TrimSpace(v[0]), "no")
	}
	return truncate(messageID, maxHeaderValue), truncate(subject, maxHeaderValue), tlsRequiredNo
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
