package receive

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailflowhq/mailflow/internal/domain"
	"github.com/mailflowhq/mailflow/internal/mailbox"
	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/users"
)

// Limits of RFC 5321 §4.5.3.
const (
	maxCommandLine = 512
	maxTextLine    = 1000
)

type session struct {
	srv      *Service
	st       *Settings
	c        *Connector
	conn     net.Conn
	local    netip.AddrPort
	remote   netip.AddrPort
	r        *smtp.Reader
	w        *bufio.Writer
	log      *protolog.Session
	helo     string
	esmtp    bool
	tls      bool
	tlsInfo  tlsInfo
	perms    Permissions
	user     *users.User // authenticated (SMTP AUTH), nil before
	authUser string      // identity given in the current AUTH exchange
	// strayResponses counts the lines after an AUTH that may still be SASL
	// responses the client pipelined behind it (see strayAuthResponse).
	strayResponses int
	from           *smtp.Path
	rcpts          []string
	declared       int64 // SIZE= from MAIL
	// requireTLS: MAIL FROM carried REQUIRETLS (RFC 8689), which is
	// accepted only under TLS.
	requireTLS bool
	errors     int
	quit       bool
	accepted   int // messages accepted in this session (observer only)
}

func newSession(srv *Service, st *Settings, c *Connector, conn net.Conn, local, remote netip.AddrPort) *session {
	r := readerPool.Get().(*smtp.Reader)
	r.Reset(conn)
	w := writerPool.Get().(*bufio.Writer)
	w.Reset(conn)
	s := &session{srv: srv, st: st, c: c, conn: conn, local: local, remote: remote, r: r, w: w, perms: c.Base}
	if c.Config.LoggingVerbose() {
		s.log = srv.opts.Log.Session(c.ID, local.String(), remote.String())
	}
	return s
}

// The session buffers are reused by later sessions: two 4 KiB
// allocations less for each of the many short sessions a busy server gets
// (the fresh-STARTTLS-session rate is within a few percent of a bare
// responder, so they show).
var (
	readerPool = sync.Pool{New: func() any { return smtp.NewReader(nil) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

// release returns the session's buffers; the session is not used after.
func (s *session) release() {
	s.r.Reset(nil)
	s.w.Reset(nil)
	readerPool.Put(s.r)
	writerPool.Put(s.w)
	s.r, s.w = nil, nil
}

func (s *session) fqdn() string {
	if s.c.Config.FQDN != "" {
		return s.c.Config.FQDN
	}
	return s.st.ServerFQDN
}

func (s *session) run() {
	defer s.conn.Close()
	s.log.Connect()
	// As Exchange does, name the rights the connector gives before the
	// greeting: the log then shows who could relay on every session, not
	// only on those that went on to STARTTLS.
	if s.log != nil {
		s.log.Info(s.perms.String(), "Set Session Permissions")
	}
	s.reply(220, "", fmt.Sprintf("%s Microsoft ESMTP MAIL Service ready at %s (mailflow)", s.fqdn(), s.st.Now().UTC().Format(time.RFC1123Z)))
	s.flush()
	disc := "Local"
	for !s.quit {
		s.conn.SetReadDeadline(time.Now().Add(s.readTimeout()))
		line, err := s.r.ReadLine(maxCommandLine)
		if err != nil {
			if s.handleReadError(err, &disc) {
				break
			}
			continue
		}
		if !s.strayAuthResponse(line) {
			s.log.Received(line)
			s.command(line)
		}
		// Flush only when the client has nothing more pipelined, so a
		// PIPELINING client gets its replies in one write.
		if s.r.Buffered() == 0 || s.quit {
			if err := s.flush(); err != nil {
				disc = "Remote(SocketError)"
				break
			}
		}
		if s.errors >= s.maxErrors() {
			s.reply(421, "4.7.0", "Too many errors on this connection, closing transmission channel")
			s.flush()
			break
		}
	}
	s.log.Disconnect(disc)
}

// handleReadError reports whether the session must end.
func (s *session) handleReadError(err error, disc *string) bool {
	var ne net.Error
	switch {
	case errors.Is(err, smtp.ErrLineTooLong):
		s.errors++
		s.reply(500, "5.5.2", "Command line too long")
	case errors.Is(err, smtp.ErrBareLF), errors.Is(err, smtp.ErrBareCR):
		s.errors++
		s.reply(500, "5.5.2", "Command lines must end with <CR><LF>; bare CR or LF is not permitted")
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		s.reply(421, "4.4.2", s.fqdn()+" Connection timed out, closing transmission channel")
		s.flush()
		*disc = "Local(Timeout)"
		return true
	default:
		// The client closed or the connection broke. Replies still
		// buffered for pipelined commands go out if they can: one of them
		// may be the 250 for a message already stored, and a client that
		// half-closed after pipelining is still reading.
		s.flush()
		*disc = "Remote(SocketError)"
		return true
	}
	return s.flush() != nil
}

func (s *session) readTimeout() time.Duration {
	if d := time.Duration(s.st.Limits.ReadTimeout); d > 0 {
		return d
	}
	return 5 * time.Minute
}

func (s *session) maxErrors() int {
	if n := s.st.Limits.MaxProtocolErrors; n > 0 {
		return n
	}
	return 10
}

func (s *session) reply(code int, enh string, lines ...string) {
	r := smtp.Reply{Code: code, Enhanced: enh, Lines: lines}
	smtp.WriteReply(s.w, r)
	if s.log != nil {
		// The log shows the lines exactly as they were sent.
		for _, l := range r.WireLines() {
			s.log.Sent(l)
		}
	}
}

func (s *session) flush() error {
	s.conn.SetWriteDeadline(time.Now().Add(s.readTimeout()))
	return s.w.Flush()
}

func (s *session) command(line string) {
	cmd, err := smtp.ParseCommand(line)
	if err != nil {
		s.errors++
		s.reply(500, "5.5.2", "Syntax error, command unrecognized")
		return
	}
	switch cmd.Verb {
	// The verbs handled here are those of knownVerbs.
	case "EHLO", "HELO":
		s.hello(cmd)
	case "STARTTLS":
		s.startTLS(cmd)
	case "MAIL":
		s.mail(cmd)
	case "RCPT":
		s.rcpt(cmd)
	case "DATA":
		s.data(cmd)
	case "RSET":
		if cmd.Arg != "" {
			s.syntax("RSET takes no arguments")
			return
		}
		s.resetTransaction()
		s.reply(250, "2.0.0", "Resetting")
	case "NOOP":
		s.reply(250, "2.0.0", "OK")
	case "QUIT":
		s.reply(221, "2.0.0", "Service closing transmission channel")
		s.quit = true
	case "VRFY":
		s.reply(252, "2.1.5", "Cannot VRFY user, but will accept message for delivery")
	case "EXPN":
		s.reply(502, "5.3.3", "Command not implemented")
	case "HELP":
		s.reply(214, "2.0.0", "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY HELP")
	case "BDAT":
		s.errors++
		s.reply(502, "5.5.1", "BDAT is not supported (CHUNKING is not offered)")
	case "AUTH":
		s.auth(cmd)
	default:
		s.errors++
		s.reply(500, "5.3.3", "Unrecognized command '"+cmd.Verb+"'")
	}
}

// knownVerbs are the commands the session answers (see command).
var knownVerbs = map[string]bool{"EHLO": true, "HELO": true, "STARTTLS": true, "MAIL": true, "RCPT": true, "DATA": true,
	"RSET": true, "NOOP": true, "QUIT": true, "VRFY": true, "EXPN": true, "HELP": true, "BDAT": true, "AUTH": true}

func (s *session) syntax(msg string) {
	s.errors++
	s.reply(501, "5.5.4", msg)
}

func (s *session) resetTransaction() {
	s.from = nil
	s.rcpts = nil
	s.declared = 0
	s.requireTLS = false
}

func (s *session) hello(cmd smtp.Command) {
	name := strings.TrimSpace(cmd.Arg)
	if name == "" || strings.ContainsAny(name, " \t") {
		s.syntax("Invalid domain name; use " + cmd.Verb + " <your host name>")
		return
	}
	s.helo = name
	s.esmtp = cmd.Verb == "EHLO"
	s.resetTransaction()
	greet := fmt.Sprintf("%s Hello [%s]", s.fqdn(), s.remote.Addr().Unmap())
	if !s.esmtp {
		s.reply(250, "", greet)
		return
	}
	lines := []string{greet, fmt.Sprintf("SIZE %d", s.c.MaxSize), "PIPELINING", "ENHANCEDSTATUSCODES"}
	if s.c.OffersTLS() && !s.tls {
		lines = append(lines, "STARTTLS")
	}
	if s.authAdvertised() {
		lines = append(lines, "AUTH "+strings.Join(authMechanisms, " "))
	}
	lines = append(lines, "8BITMIME", "SMTPUTF8")
	if s.tls {
		// RFC 8689 §4: offered only once the session is encrypted.
		lines = append(lines, "REQUIRETLS")
	}
	s.reply(250, "", lines...)
}

func (s *session) mail(cmd smtp.Command) {
	switch {
	case s.helo == "":
		s.errors++
		s.reply(503, "5.5.2", "Send hello first")
		return
	case s.from != nil:
		s.errors++
		s.reply(503, "5.5.2", "Sender already specified")
		return
	case !s.tls && (s.c.Config.RequireTLS || s.c.Config.DomainSecureEnabled):
		if !s.c.OffersTLS() {
			// Same status as Exchange, plus the reason the administrator
			// needs: STARTTLS is not even offered (event 12014).
			s.reply(451, "5.7.3", "STARTTLS is required to send mail; STARTTLS is not offered: no certificate for "+s.c.Selection.Sought)
			return
		}
		s.reply(451, "5.7.3", "STARTTLS is required to send mail")
		return
	}
	if s.c.Config.DomainSecureEnabled && !s.tlsInfo.clientOK {
		s.errors++
		s.reply(530, "5.7.1", "Client certificate not accepted for domain-secure connector "+
			fmt.Sprintf("%q: %s", s.c.Name(), s.tlsInfo.clientWhy))
		return
	}
	if !s.perms.Has(PermSubmit) {
		s.errors++
		s.reply(530, "5.7.1", "Client was not authenticated (no permission group of this connector grants submit)")
		return
	}
	path, params, err := smtp.ParseMailFrom(cmd.Arg)
	if err != nil {
		s.syntaxError(err)
		return
	}
	if s.user != nil {
		if !s.user.MaySendAs(path.String()) {
			s.errors++
			s.log.Info("", fmt.Sprintf("User %s may not send as <%s> (SendAs)", s.user.Name, path.String()))
			s.replyR(replySendAsDenied)
			return
		}
		if s.srv.limiter.rateExceeded(s.st.Now(), s.user.Name, s.st.Limits.UserMessageRate) {
			s.log.Info("", fmt.Sprintf("User %s exceeded the message rate limit (%d per minute)", s.user.Name, s.st.Limits.UserMessageRate))
			s.srv.opts.Logger.Warn("message rate limit exceeded", "user", s.user.Name, "remote_ip", s.remote.Addr().Unmap().String(),
				"limit_per_minute", s.st.Limits.UserMessageRate)
			s.reply(452, "4.5.3", fmt.Sprintf("Message rate limit exceeded for this user (%d messages per minute); try again later", s.st.Limits.UserMessageRate))
			return
		}
	}
	var size int64
	requireTLS := false
	for k, v := range params {
		switch k {
		case "SIZE":
			// RFC 1870: SIZE is 1*20DIGIT. fmt.Sscanf would take
			// "10abc" as 10 and "+10" as 10; ParseInt alone takes "+10".
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || v[0] < '0' || v[0] > '9' {
				s.syntax("Invalid SIZE parameter")
				return
			}
			size = n
		case "BODY":
			if u := strings.ToUpper(v); u != "7BIT" && u != "8BITMIME" {
				s.syntax("Invalid BODY parameter; use 7BIT or 8BITMIME")
				return
			}
		case "SMTPUTF8":
		case "REQUIRETLS":
			if !s.tls {
				// Never offered in plaintext, so this is a client error.
				s.errors++
				s.reply(530, "5.7.10", "REQUIRETLS needs an encrypted session: use STARTTLS first")
				return
			}
			if v != "" {
				s.syntax("REQUIRETLS takes no value")
				return
			}
			requireTLS = true
		case "AUTH":
			// RFC 4954 §5: offered with AUTH, and its value (the
			// submitter of a relayed message) is not trusted, so not
			// kept: the session's own identity is what counts.
			if !s.authAdvertised() {
				s.errors++
				s.reply(555, "5.5.4", "Unsupported parameter "+k)
				return
			}
		default:
			s.errors++
			s.reply(555, "5.5.4", "Unsupported parameter "+k)
			return
		}
	}
	if size > s.c.MaxSize && !s.perms.Has(PermBypassMessageSizeLimit) {
		s.reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
		return
	}
	s.from = &path
	s.declared = size
	s.requireTLS = requireTLS
	s.reply(250, "2.1.0", "Sender OK")
}

func (s *session) syntaxError(err error) {
	var se *smtp.SyntaxError
	if errors.As(err, &se) {
		s.errors++
		s.reply(se.Code, se.Enhanced, se.Msg)
		return
	}
	s.syntax(err.Error())
}

func (s *session) rcpt(cmd smtp.Command) {
	if s.from == nil {
		s.errors++
		s.reply(503, "5.5.1", "Need MAIL command")
		return
	}
	path, params, err := smtp.ParseRcptTo(cmd.Arg)
	if err != nil {
		s.syntaxError(err)
		return
	}
	if len(params) > 0 {
		for k := range params {
			s.errors++
			s.reply(555, "5.5.4", "Unsupported parameter "+k)
			return
		}
	}
	if len(s.rcpts) >= s.c.MaxRcpts {
		s.reply(452, "4.5.3", "Too many recipients")
		return
	}
	addr := path.String()
	domain := path.Domain
	if domain == "" {
		// RFC 5321 §4.5.1: <postmaster> without a domain must be accepted.
		if !strings.EqualFold(path.Local, "postmaster") {
			s.syntax("Recipient address must be fully qualified")
			return
		}
		domain = firstAccepted(s.st)
		addr = "postmaster@" + domain
	}
	if s.st.IsAccepted(domain) {
		// Refuse now what local delivery would refuse later, instead of
		// queueing a message that can only bounce after 24 hours.
		if _, _, err := mailbox.SplitRecipient(addr); err != nil {
			s.errors++
			s.reply(550, "5.1.3", "Recipient address cannot be delivered to a local mailbox: "+err.Error())
			return
		}
	}
	if !s.st.IsAccepted(domain) && !s.perms.Has(PermAcceptAnyRecipient) {
		if s.c.OnPremises() {
			// Exchange Online's answer when a connection from "on-premises"
			// was not attributed to the tenant by its certificate.
			s.log.Info(s.tlsInfo.clientWhy, "Tenant attribution failed: no client certificate holding "+s.c.Config.TLSSenderCertificateName)
			s.reply(550, "5.7.64", "TenantAttribution; Relay Access Denied")
			return
		}
		s.reply(550, "5.7.54", "SMTP; Unable to relay recipient in non-accepted domain")
		return
	}
	if path.SourceRoute && !s.st.IsAccepted(domain) && !s.perms.Has(PermAcceptRoutingHeaders) {
		s.reply(550, "5.7.54", "SMTP; Unable to relay recipient in non-accepted domain")
		return
	}
	s.rcpts = append(s.rcpts, addr)
	s.reply(250, "2.1.5", "Recipient OK")
}

func firstAccepted(st *Settings) string {
	best := ""
	for _, pattern := range st.Accepted {
		// "*.contoso.com" covers contoso.com itself.
		d := domain.Base(pattern)
		if d != "" && (best == "" || d < best) {
			best = d
		}
	}
	if best == "" {
		return st.ServerFQDN
	}
	return best
}

// ctx for submissions: bounded so a stuck store cannot hold a session forever.
func (s *session) submitContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}
