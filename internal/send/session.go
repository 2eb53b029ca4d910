package send

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/smtp"
)

// sessionResult is the outcome of one SMTP session with one target: either a
// failure that applies to every recipient (before the envelope was
// accepted), or one Result per recipient.
type sessionResult struct {
	target  Target
	fail    *failure
	results []Result
	tls     *TLSInfo
}

// attempt summarises the session for Result.Attempts.
func (r *sessionResult) attempt() Attempt {
	a := Attempt{Host: r.target.Host, IP: r.target.IP, Port: r.target.Port}
	if r.fail != nil {
		a.Status, a.Reason, a.Message = r.fail.status, r.fail.reason, r.fail.message
	} else if len(r.results) > 0 {
		a.Status, a.Reason = r.results[0].Status, r.results[0].Reason
	}
	return a
}

// session runs one SMTP session with t: the connection stage (connect),
// then the envelope and the content. useTLS false skips STARTTLS (the
// plaintext retry of opportunistic TLS).
func (s *Sender) session(ctx context.Context, c Connector, m Message, t Target, helo, domain string, useTLS bool, pol *TargetPolicy) *sessionResult {
	res := &sessionResult{target: t}
	cn := s.connect(ctx, c, t, helo, domain, useTLS, ConnectOptions{}, pol)
	res.tls = cn.TLS
	if cn.fail != nil {
		res.fail = cn.fail
		return res
	}
	defer cn.release()
	cl, log := cn.client, cn.log

	failed := func(f *failure) *sessionResult {
		cn.failed(ctx, f)
		res.fail = cn.fail
		return res
	}

	params := map[string]string{}
	if m.RequireTLS {
		if f := requireTLSSessionFailure(cn); f != nil {
			cl.Quit()
			return failed(f)
		}
		params["REQUIRETLS"] = ""
	}
	if m.Size > 0 && cl.HasExtension("SIZE") {
		params["SIZE"] = strconv.FormatInt(m.Size, 10)
		ext := cl.Extensions()
		if limit, err := strconv.ParseInt(ext["SIZE"], 10, 64); err == nil && limit > 0 && m.Size > limit {
			cl.Quit()
			return s.allReplied(res, m, &failure{status: StatusTooLarge, reason: ReasonTooLarge, outcome: Failed, ours: true,
				message: fmt.Sprintf("the message is %d bytes and %s accepts at most %d", m.Size, t.Host, limit)})
		}
	}
	if needsSMTPUTF8(m) {
		if !cl.HasExtension("SMTPUTF8") {
			cl.Quit()
			return s.allReplied(res, m, &failure{status: StatusSMTPUTF8Missing, reason: ReasonSMTPUTF8, outcome: Failed, ours: true,
				message: t.Host + " does not offer SMTPUTF8 and an address is not ASCII"})
		}
		params["SMTPUTF8"] = ""
	}

	mail, rcptReplies, err := cl.SendEnvelope(m.From, params, m.Rcpts)
	var re *smtp.ReplyError
	if err != nil && !errors.As(err, &re) {
		return failed(classifySession("MAIL", err))
	}
	if err != nil { // MAIL refused: every recipient gets that reply
		res.results = make([]Result, len(m.Rcpts))
		for i, rcpt := range m.Rcpts {
			res.results[i] = s.replyResult(rcpt, mail, t, res.tls)
		}
		cl.Quit()
		return res
	}

	res.results = make([]Result, len(m.Rcpts))
	var accepted []int
	for i, rcpt := range m.Rcpts {
		res.results[i] = s.replyResult(rcpt, rcptReplies[i], t, res.tls)
		if rcptReplies[i].Positive() {
			accepted = append(accepted, i)
		}
	}
	if len(accepted) == 0 {
		cl.Quit()
		return res
	}

	body, err := m.Body()
	if err != nil {
		cl.Reset()
		cl.Quit()
		f := &failure{status: "451 4.3.0 Could not read the message from the queue", reason: ReasonConfig, outcome: Deferred, ours: true, message: err.Error(), final: true}
		for _, i := range accepted {
			res.results[i] = s.failureResult(m.Rcpts[i], f, t, res.tls)
		}
		return res
	}
	final, err := cl.Data(body)
	body.Close()
	if err != nil && !errors.As(err, &re) {
		// The connection failed mid-transaction: the accepted recipients
		// are retried later (a duplicate is possible, a loss is not).
		f := classifySession("DATA", err)
		if ctx.Err() != nil {
			f = cancelledFailure()
		}
		if f.reason == ReasonClosed {
			cn.disconnect = "Remote"
		}
		log.Info("", f.status+" ["+f.message+"]")
		for _, i := range accepted {
			res.results[i] = s.failureResult(m.Rcpts[i], f, t, res.tls)
		}
		return res
	}
	for _, i := range accepted {
		res.results[i] = s.replyResult(m.Rcpts[i], final, t, res.tls)
	}
	cl.Quit()
	return res
}

func cancelledFailure() *failure {
	f := deferred(StatusCancelled, ReasonCancelled, "the delivery was cancelled")
	f.final = true
	return f
}

// allReplied turns a failure decided inside the session (size, SMTPUTF8)
// into per-recipient results: it is this host's answer, not a reason to try
// another.
func (s *Sender) allReplied(res *sessionResult, m Message, f *failure) *sessionResult {
	res.results = make([]Result, len(m.Rcpts))
	for i, rcpt := range m.Rcpts {
		res.results[i] = s.failureResult(rcpt, f, res.target, res.tls)
	}
	return res
}

// replyResult is a recipient's outcome from the next hop's reply.
func (s *Sender) replyResult(rcpt string, r smtp.Reply, t Target, tlsInfo *TLSInfo) Result {
	out := Result{
		Rcpt: rcpt, Status: r.Text(), RemoteHost: t.Host, RemoteIP: t.IP, RemotePort: t.Port, TLS: tlsInfo,
	}
	switch {
	case r.Positive():
		out.Outcome = Delivered
		return out
	case r.Code >= 500:
		out.Outcome = Failed
	default:
		out.Outcome = Deferred
	}
	out.LastError = lasterror.FromReply(r)
	out.LastError.Host, out.LastError.IP, out.LastError.Port, out.LastError.Time, out.LastError.Attempt = t.Host, t.IP, t.Port, s.now(), true
	return out
}

func (s *Sender) failureResult(rcpt string, f *failure, t Target, tlsInfo *TLSInfo) Result {
	return Result{
		Rcpt: rcpt, Outcome: f.outcome, Status: f.status, Reason: f.reason, LastError: f.lastError(t, s.now()),
		RemoteHost: t.Host, RemoteIP: t.IP, RemotePort: t.Port, TLS: tlsInfo,
	}
}

func needsSMTPUTF8(m Message) bool {
	if !isASCII(m.From) {
		return true
	}
	for _, r := range m.Rcpts {
		if !isASCII(r) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// tlsProtocolName is the SSPI protocol name Exchange logs
// (SP_PROT_TLS1_2_CLIENT), so log analysers match both.
func tlsProtocolName(v uint16) string {
	name := strings.NewReplacer("TLS ", "TLS", ".", "_").Replace(tlsVersionName(v))
	return "SP_PROT_" + name + "_CLIENT"
}
