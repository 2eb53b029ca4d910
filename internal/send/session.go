package send

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
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

// txEnd is the state a transaction left its connection in.
type txEnd int

const (
	txClean  txEnd = iota // ready for the next MAIL
	txDirty               // a transaction may still be open: RSET before reuse
	txBroken              // failed or closing: not to be used again
	txStale               // a kept connection failed before the peer took anything: retry on a fresh one
)

// session delivers m to t: over a connection kept from an earlier delivery
// to the same next hop when the Sender has a Pool, else over a new one (the
// connection stage, then the envelope and the content). useTLS false skips
// STARTTLS (the plaintext retry of opportunistic TLS).
//
// A kept connection that fails before the peer took the message (the peer
// closed it while idle, or answers 421) is discarded and the message sent
// over a fresh one in the same attempt, so the queue does not count a
// failure that was only the pool's; a failure after the content was sent
// is an ordinary failure (a duplicate is possible, a loss is not).
func (s *Sender) session(ctx context.Context, c Connector, m Message, t Target, helo, domain string, useTLS bool, pol *TargetPolicy) *sessionResult {
	if s.Pool == nil || (pol != nil && pol.Refusal != nil) {
		cn := s.connect(ctx, c, t, helo, domain, useTLS, ConnectOptions{}, pol)
		res := &sessionResult{target: t, tls: cn.TLS}
		if cn.fail != nil {
			res.fail = cn.fail
			return res
		}
		if end := s.transactions(ctx, cn, m, t, false, res); end != txBroken && !cn.released {
			cn.client.Quit()
		}
		cn.release()
		return res
	}
	key := s.hopKey(c, t, helo, domain, useTLS, pol)
	for {
		pc, err := s.Pool.acquire(ctx, key, c.maxPerHop())
		if err != nil {
			return &sessionResult{target: t, fail: cancelledFailure()}
		}
		reused := pc != nil
		if reused {
			conn := pc.cn.conn
			pc.cn.stop = context.AfterFunc(ctx, func() { conn.Close() })
		} else {
			cn := s.connect(ctx, c, t, helo, domain, useTLS, ConnectOptions{}, pol)
			if cn.fail != nil {
				s.Pool.release(key)
				return &sessionResult{target: t, tls: cn.TLS, fail: cn.fail}
			}
			pc = &pooledConn{cn: cn, key: key}
		}
		pc.sent++
		if reused {
			pc.cn.log.Info(reuseNote(m.ID, pc.sent, c.maxMessagesPerConnection(), pc.cn.TLS), "")
		}
		res := &sessionResult{target: t, tls: pc.cn.TLS}
		end := s.transactions(ctx, pc.cn, m, t, reused, res)
		if end == txStale {
			pc.cn.log.Info("", "The kept connection is no longer usable; sending over a new connection")
			pc.cn.disconnect = "Remote"
			pc.cn.release()
			s.Pool.release(key)
			continue
		}
		s.keepOrClose(pc, c, end)
		for i := range res.results {
			res.results[i].Reused = reused
		}
		return res
	}
}

// keepOrClose gives a connection back to the pool after its transaction,
// or closes it: after an error, at the connector's message limit, or when
// the delivery was cancelled.
func (s *Sender) keepOrClose(pc *pooledConn, c Connector, end txEnd) {
	cn := pc.cn
	if cn.stop != nil {
		if !cn.stop() { // the delivery was cancelled and closed the socket
			end = txBroken
		}
		cn.stop = nil
	}
	if end == txDirty && !cn.released {
		if _, err := cn.client.Reset(); err != nil {
			end = txBroken
		}
	}
	if end != txBroken && !cn.released && pc.sent < c.maxMessagesPerConnection() {
		s.Pool.put(pc, c.idleTimeout())
		return
	}
	if !cn.released {
		if end != txBroken {
			cn.conn.SetDeadline(time.Now().Add(quitTimeout))
			cn.client.Quit()
		}
		cn.release()
	}
	s.Pool.release(pc.key)
}

// quitTimeout bounds the QUIT of a connection the pool closes: nothing
// waits for its answer.
const quitTimeout = 5 * time.Second

// transactions sends m over cn in as many transactions as the peer's
// recipient limit needs: recipients it refused with "452 4.5.3 too many
// recipients" go in the next transaction on the same connection, for as
// long as each transaction gets some recipients through.
func (s *Sender) transactions(ctx context.Context, cn *Connection, m Message, t Target, reused bool, res *sessionResult) txEnd {
	end := s.transaction(ctx, cn, m, t, reused, res)
	cur, curIdx := res, make([]int, len(m.Rcpts)) // curIdx: position in res of each of cur's recipients
	for i := range curIdx {
		curIdx[i] = i
	}
	for end == txClean && cur.fail == nil {
		var more []int
		for i, r := range cur.results {
			if r.Outcome == outcome.Deferred && tooManyRecipients(r.Status) {
				more = append(more, i)
			}
		}
		if len(more) == 0 || len(more) == len(cur.results) {
			return end
		}
		next := m
		next.Rcpts = make([]string, len(more))
		nextIdx := make([]int, len(more))
		for j, i := range more {
			next.Rcpts[j] = m.Rcpts[i]
			nextIdx[j] = curIdx[i]
		}
		sub := &sessionResult{target: t, tls: res.tls}
		end = s.transaction(ctx, cn, next, t, false, sub)
		if sub.fail != nil || len(sub.results) != len(more) {
			// The connection failed: these recipients keep the peer's
			// 452 and are retried by the queue.
			return end
		}
		for j := range more {
			res.results[nextIdx[j]] = sub.results[j]
		}
		m, cur, curIdx = next, sub, nextIdx
	}
	return end
}

// tooManyRecipients recognises the reply to a RCPT past the peer's limit
// per transaction (RFC 5321 §4.5.3.1.10: 452, enhanced code 4.5.3).
func tooManyRecipients(status string) bool { return strings.HasPrefix(status, "452 4.5.3") }

// transaction sends m over the ready connection cn (MAIL, RCPT, DATA) and
// fills res. reused says the connection was kept from an earlier delivery,
// so a failure before the peer took anything is txStale. A connection
// failure releases cn.
func (s *Sender) transaction(ctx context.Context, cn *Connection, m Message, t Target, reused bool, res *sessionResult) txEnd {
	cl, log := cn.client, cn.log

	failed := func(f *failure) txEnd {
		cn.failed(ctx, f)
		res.fail = cn.fail
		return txBroken
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
			s.allReplied(res, m, &failure{status: StatusTooLarge, reason: ReasonTooLarge, outcome: outcome.Failed, ours: true,
				message: fmt.Sprintf("the message is %d bytes and %s accepts at most %d", m.Size, t.Host, limit)})
			return txClean
		}
	}
	if needsSMTPUTF8(m) {
		if !cl.HasExtension("SMTPUTF8") {
			s.allReplied(res, m, &failure{status: StatusSMTPUTF8Missing, reason: ReasonSMTPUTF8, outcome: outcome.Failed, ours: true,
				message: t.Host + " does not offer SMTPUTF8 and an address is not ASCII"})
			return txClean
		}
		params["SMTPUTF8"] = ""
	}

	mail, rcptReplies, err := cl.SendEnvelope(m.From, params, m.Rcpts)
	var re *smtp.ReplyError
	if err != nil && !errors.As(err, &re) {
		if reused && ctx.Err() == nil {
			return txStale
		}
		return failed(classifySession("MAIL", err))
	}
	if err != nil { // MAIL refused: every recipient gets that reply
		if reused && mail.Code == 421 {
			return txStale
		}
		res.results = make([]Result, len(m.Rcpts))
		for i, rcpt := range m.Rcpts {
			res.results[i] = s.replyResult(rcpt, mail, t, res.tls)
		}
		if mail.Code == 421 {
			return txBroken
		}
		return txDirty
	}

	res.results = make([]Result, len(m.Rcpts))
	var accepted []int
	closing := false
	for i, rcpt := range m.Rcpts {
		res.results[i] = s.replyResult(rcpt, rcptReplies[i], t, res.tls)
		if rcptReplies[i].Positive() {
			accepted = append(accepted, i)
		}
		closing = closing || rcptReplies[i].Code == 421
	}
	if len(accepted) == 0 {
		if closing {
			return txBroken
		}
		return txDirty
	}

	body, err := m.Body()
	if err != nil {
		f := &failure{status: "451 4.3.0 Could not read the message from the queue", reason: ReasonConfig, outcome: outcome.Deferred, ours: true, message: err.Error(), final: true}
		for _, i := range accepted {
			res.results[i] = s.failureResult(m.Rcpts[i], f, t, res.tls)
		}
		return txDirty
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
		return txBroken
	}
	for _, i := range accepted {
		res.results[i] = s.replyResult(m.Rcpts[i], final, t, res.tls)
	}
	if closing || final.Code == 421 {
		return txBroken
	}
	return txClean
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
		out.Outcome = outcome.Delivered
		return out
	case r.Code >= 500:
		out.Outcome = outcome.Failed
	default:
		out.Outcome = outcome.Deferred
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
