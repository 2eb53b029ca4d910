package receive

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/users"
)

// AuthEvent is one SMTP AUTH outcome, for the message tracking log. It
// never holds a password or a SASL response.
type AuthEvent struct {
	Time        time.Time
	Remote      netip.AddrPort
	ConnectorID string
	Mechanism   string
	User        string // the authentication identity the client gave (sanitised)
	OK          bool
	Reply       string // the reply sent: "235 2.7.0 …", "535 5.7.8 …", "454 4.7.0 …"
}

// FailedAuthMessage is the message of the slog line written for every failed
// AUTH, with remote_ip as the first attribute, for fail2ban (the filter is
// examples/fail2ban/mailflow-auth.conf):
//
//	failregex = level=WARN msg="SMTP AUTH failed" remote_ip=<HOST>
const FailedAuthMessage = "SMTP AUTH failed"

// Replies of RFC 4954 and Exchange.
var (
	replyAuthOK        = smtp.Reply{Code: 235, Enhanced: "2.7.0", Lines: []string{"Authentication successful"}}
	replyAuthFailed    = smtp.Reply{Code: 535, Enhanced: "5.7.8", Lines: []string{"Authentication unsuccessful"}}
	replyAuthTempFail  = smtp.Reply{Code: 454, Enhanced: "4.7.0", Lines: []string{"Temporary authentication failure"}}
	replyAuthStartTLS  = smtp.Reply{Code: 530, Enhanced: "5.7.0", Lines: []string{"Must issue a STARTTLS command first"}}
	replyAuthCancelled = smtp.Reply{Code: 501, Enhanced: "5.0.0", Lines: []string{"Authentication cancelled"}}
	replyAuthBase64    = smtp.Reply{Code: 501, Enhanced: "5.5.2", Lines: []string{"Cannot decode the authentication response: it must be base64"}}
	replyAuthMalformed = smtp.Reply{Code: 501, Enhanced: "5.5.2", Lines: []string{"Malformed authentication response"}}
	replyAuthTooLong   = smtp.Reply{Code: 500, Enhanced: "5.5.6", Lines: []string{"Authentication Exchange line is too long"}}
)

// errAuthzid: PLAIN with an authorization identity other than the user.
var errAuthzid = errors.New("authorization identity differs from the authentication identity")

// errUserLocked: the user is locked out for this client.
var errUserLocked = errors.New("user locked out")

// errIPLocked: the client address was locked out while the exchange was
// waiting for its response.
var errIPLocked = errors.New("client address locked out")

// authMechanisms are the mechanisms offered, in EHLO order.
var authMechanisms = []string{"LOGIN", "PLAIN"}

// authAvailable reports whether AUTH is offered on this connector at all.
func (s *session) authAvailable() bool {
	return s.c.Config.HasAuth(config.AuthBasic) && s.srv.opts.Users != nil
}

// authNeedsTLS: BasicAuthRequireTLS, Exchange's "only after STARTTLS".
func (s *session) authNeedsTLS() bool {
	return s.c.Config.HasAuth(config.AuthBasicRequireTLS)
}

// authAdvertised reports whether EHLO lists AUTH now.
func (s *session) authAdvertised() bool {
	return s.authAvailable() && (s.tls || !s.authNeedsTLS())
}

func (s *session) replyR(r smtp.Reply) { s.reply(r.Code, r.Enhanced, r.Lines...) }

func (s *session) auth(cmd smtp.Command) {
	// Until the exchange below has read them, the next lines may be SASL
	// responses the client sent without waiting for a 334: LOGIN has two.
	s.strayResponses = 2
	switch {
	case !s.authAvailable():
		s.errors++
		s.reply(504, "5.7.4", "Unrecognized authentication type")
		return
	case s.helo == "" || !s.esmtp:
		s.errors++
		s.reply(503, "5.5.1", "Send EHLO first")
		return
	case s.user != nil:
		s.errors++
		s.reply(503, "5.5.1", "Already authenticated")
		return
	case s.from != nil:
		s.errors++
		s.reply(503, "5.5.1", "AUTH is not permitted during a mail transaction")
		return
	case s.authNeedsTLS() && !s.tls:
		s.errors++
		if s.c.OffersTLS() {
			s.replyR(replyAuthStartTLS)
			return
		}
		s.reply(538, "5.7.11", "Encryption required for requested authentication mechanism (STARTTLS is not offered: no certificate for "+s.c.Selection.Sought+")")
		return
	}
	ac, err := smtp.ParseAuth(cmd.Arg)
	if err != nil {
		s.authProtocolError(err)
		return
	}
	var srv sasl.Server
	check := func(authzid, user, pass string) error { return s.checkCredentials(ac.Mechanism, authzid, user, pass) }
	switch ac.Mechanism {
	case sasl.Plain:
		srv = sasl.NewPlainServer(check)
	case "LOGIN":
		srv = newLoginServer(check)
	default:
		s.errors++
		s.reply(504, "5.7.4", "Unrecognized authentication type; use one of: "+strings.Join(authMechanisms, " "))
		return
	}
	now := s.st.Now()
	if until := s.srv.limiter.ipLocked(now, s.remote.Addr().Unmap()); !until.IsZero() {
		s.errors++
		s.log.Info("", fmt.Sprintf("Inbound AUTH %s refused: client address locked out after repeated failures until %s", ac.Mechanism, until.UTC().Format(time.RFC3339)))
		s.authFailedLog(ac.Mechanism, "", "locked_out_ip")
		s.authEvent(ac.Mechanism, "", false, replyAuthTempFail)
		s.replyR(replyAuthTempFail)
		return
	}
	s.authUser = ""
	resp := ac.Initial
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil || done {
			s.strayResponses = 0
			s.authResult(ac.Mechanism, err)
			return
		}
		// RFC 4954: continue-req = "334" SP [base64] CRLF — the space
		// stays even for an empty challenge, which Reply would drop.
		cont := "334 " + smtp.AuthChallenge(challenge)
		s.w.WriteString(cont + "\r\n")
		s.log.Sent(cont)
		if err := s.flush(); err != nil {
			s.quit = true
			return
		}
		s.conn.SetReadDeadline(time.Now().Add(s.readTimeout()))
		line, err := s.r.ReadLine(smtp.MaxAuthLine)
		if s.strayResponses > 0 {
			s.strayResponses--
		}
		if err != nil {
			if errors.Is(err, smtp.ErrLineTooLong) || errors.Is(err, smtp.ErrBareLF) || errors.Is(err, smtp.ErrBareCR) {
				s.log.AuthResponse()
				s.errors++
				if errors.Is(err, smtp.ErrLineTooLong) {
					s.replyR(replyAuthTooLong)
				} else {
					s.replyR(replyAuthMalformed)
				}
				return
			}
			s.quit = true
			return
		}
		s.log.AuthResponse()
		if resp, err = smtp.DecodeAuthResponse(line); err != nil {
			s.authProtocolError(err)
			return
		}
	}
}

// strayAuthResponse answers line without logging it when it may be a SASL
// response pipelined behind an AUTH that ended before reading it (refused
// before STARTTLS, locked out, a garbled first response): it would hold
// credentials. Such a line is no command the session knows; it gets the
// reply of a syntax error, which does not echo it. A known command ends
// the suspicion and is handled as usual.
func (s *session) strayAuthResponse(line string) bool {
	if s.strayResponses == 0 {
		return false
	}
	s.strayResponses--
	if cmd, err := smtp.ParseCommand(line); err == nil && knownVerbs[cmd.Verb] {
		s.strayResponses = 0
		return false
	}
	s.log.AuthResponse()
	s.errors++
	s.reply(500, "5.5.2", "Syntax error, command unrecognized")
	return true
}

// authProtocolError answers a malformed exchange: cancellation, bad base64,
// bad syntax. None of them checked a password.
func (s *session) authProtocolError(err error) {
	s.errors++
	var se *smtp.SyntaxError
	switch {
	case errors.Is(err, smtp.ErrAuthCancelled):
		s.replyR(replyAuthCancelled)
	case errors.Is(err, smtp.ErrAuthBadBase64):
		s.replyR(replyAuthBase64)
	case errors.As(err, &se):
		s.reply(se.Code, se.Enhanced, se.Msg)
	default:
		s.replyR(replyAuthMalformed)
	}
}

// checkCredentials is the SASL authenticator of both mechanisms.
func (s *session) checkCredentials(mech, authzid, user, pass string) error {
	s.authUser = user
	if authzid != "" && authzid != user {
		return errAuthzid
	}
	if len(user) > 256 || len(pass) > users.MaxPassword {
		return users.ErrInvalidCredentials
	}
	// Checked again here, not only when AUTH arrived: exchanges opened
	// before the lock-out would each get one more guess.
	if !s.srv.limiter.ipLocked(s.st.Now(), s.remote.Addr().Unmap()).IsZero() {
		return errIPLocked
	}
	if s.srv.limiter.userLocked(s.st.Now(), user, s.remote.Addr().Unmap()) {
		return errUserLocked
	}
	u, err := s.srv.opts.Users.Authenticate(user, pass)
	if err != nil {
		return err
	}
	s.user = &u
	return nil
}

// authResult answers the end of an exchange: err nil is success.
func (s *session) authResult(mech string, err error) {
	ip := s.remote.Addr().Unmap()
	now := s.st.Now()
	user := logSafe(s.authUser)
	if err == nil && s.user != nil {
		s.srv.limiter.succeed(now, ip, s.user.Name)
		s.perms |= userPermissions(&s.c.Config)
		// Exchange's lines: the rights now held, then who authenticated.
		s.log.Info(s.perms.String(), "Set Session Permissions")
		s.log.Info(s.user.Name, "authenticated")
		s.srv.opts.Logger.Info("SMTP AUTH succeeded", "remote_ip", ip.String(), "user", s.user.Name,
			"mechanism", mech, "connector", s.c.Name())
		s.authEvent(mech, s.user.Name, true, replyAuthOK)
		s.replyR(replyAuthOK)
		return
	}
	s.user = nil
	s.errors++
	switch {
	case errors.Is(err, errIPLocked):
		// As when AUTH arrives from a locked address: refused, not counted.
		s.log.Info("", fmt.Sprintf("Inbound AUTH %s refused: client address locked out after repeated failures", mech))
		s.authFailedLog(mech, user, "locked_out_ip")
		s.authEvent(mech, user, false, replyAuthTempFail)
		s.replyR(replyAuthTempFail)
		return
	case errors.Is(err, errUserLocked):
		// Still a failure of this address: guessing against a locked user
		// must not keep an address from its own lock-out.
		delay, _, _ := s.srv.limiter.fail(now, ip, "", s.st.Limits)
		s.log.Info("", fmt.Sprintf("Inbound AUTH %s refused: user locked out after repeated failures", mech))
		s.authFailedLog(mech, user, "locked_out_user")
		s.authEvent(mech, user, false, replyAuthTempFail)
		s.tarpit(delay)
		s.replyR(replyAuthTempFail)
		return
	case err != nil && !errors.Is(err, errAuthzid) && !errors.Is(err, users.ErrInvalidCredentials):
		// go-sasl's "invalid response": PLAIN without its two NULs.
		s.log.Info("", fmt.Sprintf("Inbound AUTH %s failed: malformed response", mech))
		delay, _, _ := s.srv.limiter.fail(now, ip, "", s.st.Limits)
		s.authFailedLog(mech, "", "malformed")
		s.authEvent(mech, "", false, replyAuthMalformed)
		s.tarpit(delay)
		s.replyR(replyAuthMalformed)
		return
	}
	reason := "LogonDenied"
	counted := ""
	if errors.Is(err, errAuthzid) {
		reason = "AuthorizationIdentityMismatch"
	} else if _, exists := s.srv.opts.Users.Lookup(s.authUser); exists {
		counted = s.authUser
	}
	delay, ipLocked, userLocked := s.srv.limiter.fail(now, ip, counted, s.st.Limits)
	s.log.Info("", fmt.Sprintf("Inbound AUTH %s failed because of %s", mech, reason))
	s.authFailedLog(mech, user, reason)
	if ipLocked {
		s.srv.opts.Logger.Warn("SMTP AUTH lock-out: client address locked after repeated failures", "remote_ip", ip.String(),
			"for", time.Duration(s.st.Limits.AuthLockout).String(), "connector", s.c.Name())
	}
	if userLocked {
		s.srv.opts.Logger.Warn("SMTP AUTH lock-out: user locked after repeated failures", "user", user,
			"for", time.Duration(s.st.Limits.AuthLockout).String(), "remote_ip", ip.String())
	}
	r := replyAuthFailed
	if errors.Is(err, errAuthzid) {
		r = smtp.Reply{Code: 535, Enhanced: "5.7.8", Lines: []string{"Authentication unsuccessful: the authorization identity must be empty or the user name itself"}}
	}
	s.authEvent(mech, user, false, r)
	s.tarpit(delay)
	s.replyR(r)
}

// tarpit holds the reply to a failure, so a guessing loop slows down; the
// replies already buffered go out first.
func (s *session) tarpit(d time.Duration) {
	if d > 0 {
		s.flush()
		s.srv.sleep(d)
	}
}

// authFailedLog writes the fail2ban line. remote_ip comes first and msg is
// fixed, so an attacker-chosen user name (quoted by slog) cannot move the
// address the filter bans.
func (s *session) authFailedLog(mech, user, reason string) {
	s.srv.opts.Logger.Warn(FailedAuthMessage, "remote_ip", s.remote.Addr().Unmap().String(), "user", user,
		"mechanism", mech, "reason", reason, "connector", s.c.Name())
}

func (s *session) authEvent(mech, user string, ok bool, r smtp.Reply) {
	if f := s.srv.opts.OnAuth; f != nil {
		f(AuthEvent{Time: s.st.Now(), Remote: s.remote, ConnectorID: s.c.ID, Mechanism: mech, User: user, OK: ok, Reply: r.Text()})
	}
}

// logSafe bounds and cleans a client-chosen name before it is logged.
func logSafe(v string) string {
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, v)
	if len(v) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut-- // not inside a character: the log stays valid UTF-8
		}
		v = v[:cut] + "…"
	}
	return v
}

// userPermissions are granted by a successful AUTH: ExchangeUsers gives
// Exchange's ms-Exch-SMTP-Submit, ms-Exch-SMTP-Accept-Any-Recipient,
// ms-Exch-Bypass-Anti-Spam and ms-Exch-Accept-Headers-Routing. The sender
// is checked against the user's SendAs list, not by a permission.
func userPermissions(rc *config.ReceiveConnector) Permissions {
	if rc.HasPermission(config.PermExchangeUsers) {
		return PermSubmit | PermAcceptAnyRecipient | PermBypassAntiSpam | PermAcceptRoutingHeaders
	}
	return 0
}
