package logs

import (
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/logfile"
	"github.com/mailflowhq/mailflow/internal/protolog"
)

// Caps on distinct keys; what a cap turns away is counted in Limits.
const (
	logMaxConnectors        = 1024
	logMaxCertificates      = 4096
	logMaxCertsPerConnector = 64
	logMaxRangesPerConn     = 256
	logMaxFailureKinds      = 32
	logMaxStatusKinds       = 16
	logMaxSenders           = 65536
	logMaxCertsPerSender    = 4
	logMaxOneLineCache      = 1024
	logMaxExampleRemotes    = 5
)

// protoState is the protocol-log half of the analysis.
type protoState struct {
	window  logWindow
	maxOpen int

	conns    map[logConnKey]*logConn
	lastConn *logConn
	overflow [2]*logConn // "(other connectors)" for receive, send

	sessions map[logSessKey]*protoSession
	last     *protoSession
	line     int64 // records seen, the clock of session eviction

	certs    *protolog.SessionCerts
	certBuf  []protolog.CertEvent
	infos    map[string]*logCert
	oneLine  map[logOneLineKey]logOneLineHit
	senders  map[logSenderKey]*logSenderCerts
	limits   Limits
	timeMemo logTimeMemo
}

type logConnKey struct {
	send bool
	name string
}

type logSessKey struct {
	conn *logConn
	id   string
}

// logOneLineKey caches the Exchange 2019 one-line certificate records by their
// text: every session presenting the same certificate logs the same line,
// and parsing it is the costliest thing the analysis does per session.
type logOneLineKey struct{ context, data string }

type logOneLineHit struct {
	info *logCert
	peer bool
}

type logSenderKey struct {
	addr netip.Addr
	send bool
}

// logSenderCerts records which certificates one remote address was answered
// with (receive logs) or was seen presenting (send logs).
type logSenderCerts struct {
	uses     []logSenderUse
	overflow int64
}

type logSenderUse struct {
	conn *logConn
	cert *logCert
	logSpan
}

// logSpan counts occurrences and their first and last time.
type logSpan struct {
	count       int64
	first, last time.Time
}

func (s *logSpan) add(t time.Time) {
	s.count++
	if t.IsZero() {
		return
	}
	if s.first.IsZero() || t.Before(s.first) {
		s.first = t
	}
	if t.After(s.last) {
		s.last = t
	}
}

// logConn aggregates one connector (receive or send).
type logConn struct {
	name       string
	send       bool
	cmdEvent   byte // '<' on receive logs: the client's commands
	replyEvent byte
	logSpan    // sessions

	ehlo, offered, used, tlsOK int64
	notOffered                 logSpan
	notOfferedRemotes          []netip.Addr

	ranges      map[netip.Prefix]int64
	rangesOther int64

	failures      map[string]*logFailure
	failuresOther int64
	status        map[string]int64
	statusOther   int64

	sent, peer map[*logCert]*logCertUse
	certsOther int64

	// SMTP AUTH outcomes, and the failures per remote address (capped).
	authOK, authFailed int64
	authFailFrom       map[netip.Addr]int64
	authFailOther      int64
}

// logMaxAuthAddrs caps the addresses whose AUTH failures are counted one by
// one per connector; the rest are counted together.
const logMaxAuthAddrs = 1000

// logFailure counts one TLS failure word and the certificate last sent
// before it (the one NoCredentials or UnknownCredentials is about).
type logFailure struct {
	logSpan
	cert *logCert
}

// logCert is one distinct certificate (by thumbprint).
type logCert struct {
	thumbprint, subject, issuer, serial string
	sans                                []string
	notBefore, notAfter                 time.Time
	selfSigned                          bool
}

// logCertUse is one certificate as used by one connector.
type logCertUse struct {
	cert *logCert
	logSpan
	expired         logSpan // presentations after NotAfter
	notYetValidUses int64   // presentations before NotBefore
	validatingEOP   int64   // sent to Exchange Online
	validatingDrop  int64   // sender hung up right after the TLS handshake
	validatingAny   int64   // sessions with either sign
}

// Session flags.
const (
	sessEHLOPending uint16 = 1 << iota
	sessEHLOStartTLS
	sessPreTLSEHLO
	sessOffered
	sessStartTLS
	sessTLSStarted
	sessTLSDone
	sessTLSFailed
	sessEOP
	sessCertOpen
	sessAuthPending // AUTH sent, its final reply not seen yet
)

type protoSession struct {
	conn *logConn
	// connID is the record's connector id: conn.name except for sessions
	// of connectors merged past the cap, whose certificate blocks the
	// accumulator keys by their own id.
	connID       string
	id           string
	remote       netip.Addr
	start        time.Time
	lastLine     int64
	cmdsAfterTLS int32
	flags        uint16
	sent         *logCertUse
}

func newProtoState(w logWindow, maxOpen int) *protoState {
	return &protoState{
		window:   w,
		maxOpen:  maxOpen,
		conns:    make(map[logConnKey]*logConn),
		sessions: make(map[logSessKey]*protoSession),
		certs:    protolog.NewSessionCerts(),
		infos:    make(map[string]*logCert),
		oneLine:  make(map[logOneLineKey]logOneLineHit),
		senders:  make(map[logSenderKey]*logSenderCerts),
	}
}

// read streams one protocol log into the state.
func (p *protoState) read(lf *File, r io.Reader, send bool) error {
	rd := protolog.NewReader(r)
	defer func() { lf.Malformed = rd.Malformed() }()
	for {
		rec, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if !p.window.containsString(rec.DateTime) {
			lf.Skipped++
			continue
		}
		lf.Records++
		p.record(rec, send)
	}
}

// record is the per-line hot path: no allocation unless the line starts a
// session or carries a certificate.
func (p *protoState) record(rec *protolog.Record, send bool) {
	p.line++
	conn := p.connector(rec.ConnectorID, send)
	s := p.session(conn, rec)
	s.lastLine = p.line
	if s.flags&sessCertOpen != 0 && rec.Event != '*' {
		p.feedCerts(s, rec)
	}
	switch rec.Event {
	case '-':
		p.conclude(s, true, rec.Context)
	case '*':
		p.info(s, rec)
	case conn.cmdEvent:
		p.command(s, rec.Data)
	case conn.replyEvent:
		p.reply(s, rec.Data)
	}
}

func (p *protoState) connector(name string, send bool) *logConn {
	if c := p.lastConn; c != nil && c.send == send && c.name == name {
		return c
	}
	c, ok := p.conns[logConnKey{send, name}]
	if !ok {
		if len(p.conns) >= logMaxConnectors {
			p.limits.ConnectorsMerged++
			c = p.overflowConn(send)
		} else {
			c = newConnStats(strings.Clone(name), send)
			p.conns[logConnKey{send, c.name}] = c
		}
	}
	p.lastConn = c
	return c
}

func (p *protoState) overflowConn(send bool) *logConn {
	i := 0
	if send {
		i = 1
	}
	if p.overflow[i] == nil {
		p.overflow[i] = newConnStats("(other connectors)", send)
	}
	return p.overflow[i]
}

func newConnStats(name string, send bool) *logConn {
	c := &logConn{name: name, send: send, cmdEvent: '<', replyEvent: '>'}
	if send {
		c.cmdEvent, c.replyEvent = '>', '<'
	}
	return c
}

func (p *protoState) session(conn *logConn, rec *protolog.Record) *protoSession {
	if s := p.last; s != nil && rec.Event != '+' && s.conn == conn && s.id == rec.SessionID {
		return s
	}
	s, ok := p.sessions[logSessKey{conn, rec.SessionID}]
	if ok && rec.Event == '+' {
		// The id starts again: conclude what was open under it.
		p.conclude(s, false, "")
		ok = false
	}
	if !ok {
		if len(p.sessions) >= p.maxOpen {
			p.evict()
		}
		s = p.newSession(conn, rec)
		p.sessions[logSessKey{conn, s.id}] = s
	}
	p.last = s
	return s
}

func (p *protoState) newSession(conn *logConn, rec *protolog.Record) *protoSession {
	s := &protoSession{conn: conn, connID: conn.name, id: strings.Clone(rec.SessionID)}
	if conn.name != rec.ConnectorID {
		s.connID = strings.Clone(rec.ConnectorID)
	}
	if ap, err := netip.ParseAddrPort(rec.Remote); err == nil {
		s.remote = ap.Addr().Unmap()
	} else if a, err := netip.ParseAddr(rec.Remote); err == nil {
		s.remote = a.Unmap()
	}
	s.start = p.time(rec.DateTime)
	conn.logSpan.add(s.start)
	if s.remote.IsValid() {
		bits := 24
		if s.remote.Is6() {
			bits = 64
		}
		pfx, _ := s.remote.Prefix(bits)
		if conn.ranges == nil {
			conn.ranges = make(map[netip.Prefix]int64)
		}
		if _, ok := conn.ranges[pfx]; ok || len(conn.ranges) < logMaxRangesPerConn {
			conn.ranges[pfx]++
		} else {
			conn.rangesOther++
		}
	}
	return s
}

// time parses a log date-time; lines of one session mostly share a
// millisecond with the line before, so the last parse is remembered.
func (p *protoState) time(s string) time.Time { return p.timeMemo.parse(s) }

type logTimeMemo struct {
	buf [32]byte
	n   int
	t   time.Time
}

func (m *logTimeMemo) parse(s string) time.Time {
	if m.n == len(s) && string(m.buf[:m.n]) == s {
		return m.t
	}
	t, err := logfile.ParseTime(s)
	if err != nil {
		t = time.Time{}
	}
	if len(s) <= len(m.buf) {
		m.n = copy(m.buf[:], s)
		m.t = t
	}
	return t
}

// evict concludes the least recently active half of the open sessions, so
// that a log with sessions that never end cannot grow memory without bound.
func (p *protoState) evict() {
	lines := make([]int64, 0, len(p.sessions))
	for _, s := range p.sessions {
		lines = append(lines, s.lastLine)
	}
	slices.Sort(lines)
	k := len(lines) / 2
	if k == 0 {
		k = len(lines)
	}
	threshold := lines[k-1]
	for _, s := range p.sessions {
		if s.lastLine <= threshold {
			p.conclude(s, false, "")
			p.limits.SessionsConcludedEarly++
		}
	}
}

// conclude folds a session into its connector's counts. ended says the
// session's '-' line was read (with context ctx); otherwise it was evicted
// or the input ended.
func (p *protoState) conclude(s *protoSession, ended bool, ctx string) {
	if s.flags&sessCertOpen != 0 {
		p.feedCerts(s, &protolog.Record{ConnectorID: s.connID, SessionID: s.id, Event: '-'})
	}
	c := s.conn
	if s.flags&sessPreTLSEHLO != 0 {
		c.ehlo++
		if s.flags&sessOffered != 0 {
			c.offered++
		} else {
			c.notOffered.add(s.start)
			if s.remote.IsValid() && len(c.notOfferedRemotes) < logMaxExampleRemotes && !slices.Contains(c.notOfferedRemotes, s.remote) {
				c.notOfferedRemotes = append(c.notOfferedRemotes, s.remote)
			}
		}
	}
	if s.flags&sessStartTLS != 0 {
		c.used++
	}
	if u := s.sent; u != nil && !c.send {
		// Signs that the sender validates the certificate: it is Exchange
		// Online, or it hung up right after the handshake without a
		// command (what a validating sender does with a certificate it
		// refuses), or the handshake failed after the certificate went out.
		eop := s.flags&sessEOP != 0
		drop := s.flags&sessTLSStarted != 0 && s.cmdsAfterTLS == 0 &&
			(s.flags&sessTLSFailed != 0 || ended && logHasPrefixFold(ctx, "Remote"))
		if eop {
			u.validatingEOP++
		}
		if drop {
			u.validatingDrop++
		}
		if eop || drop {
			u.validatingAny++
		}
	}
	delete(p.sessions, logSessKey{c, s.id})
	if p.last == s {
		p.last = nil
	}
}

// command handles a line the client side sent (receive: '<'; send: '>').
func (p *protoState) command(s *protoSession, d string) {
	if s.flags&sessTLSStarted != 0 {
		s.cmdsAfterTLS++
	}
	switch {
	case logHasPrefixFold(d, "EHLO") || logHasPrefixFold(d, "HELO"):
		if logHasPrefixFold(d, "EHLO") {
			s.flags |= sessEHLOPending
			s.flags &^= sessEHLOStartTLS
		}
		if s.flags&sessTLSStarted == 0 {
			name := strings.TrimSpace(d[4:])
			if logHasSuffixFold(name, ".outlook.com") {
				s.flags |= sessEOP
			}
		}
	case len(d) >= 8 && logHasPrefixFold(d, "STARTTLS") && strings.TrimSpace(d[8:]) == "":
		s.flags |= sessStartTLS | sessTLSStarted
	case logHasPrefixFold(d, "X-ANONYMOUSTLS"):
		s.flags |= sessTLSStarted
	case logHasPrefixFold(d, "AUTH") && (len(d) == 4 || d[4] == ' '):
		// Only the command and mechanism: mailflow and Exchange never log
		// the SASL responses, and the analysis never reads them.
		s.flags |= sessAuthPending
	}
}

// authReply counts the final reply to an AUTH: 235 succeeded, any other
// final reply failed; 334 continues the exchange.
func (p *protoState) authReply(s *protoSession, d string) {
	if len(d) >= 3 && d[:3] == "334" {
		return
	}
	s.flags &^= sessAuthPending
	c := s.conn
	if len(d) >= 3 && d[:3] == "235" {
		c.authOK++
		return
	}
	c.authFailed++
	if !s.remote.IsValid() {
		c.authFailOther++
		return
	}
	if c.authFailFrom == nil {
		c.authFailFrom = make(map[netip.Addr]int64)
	}
	if _, ok := c.authFailFrom[s.remote]; !ok && len(c.authFailFrom) >= logMaxAuthAddrs {
		c.authFailOther++
		return
	}
	c.authFailFrom[s.remote]++
}

// reply handles a line the server side sent (receive: '>'; send: '<'). It
// only follows EHLO replies, which Exchange logs as one line joined with
// spaces and mailflow as one line per reply line ("250-…", "250 …").
func (p *protoState) reply(s *protoSession, d string) {
	if s.flags&sessAuthPending != 0 {
		p.authReply(s, d)
		return
	}
	if s.flags&sessEHLOPending == 0 {
		return
	}
	if len(d) < 3 || d[:3] != "250" {
		s.flags &^= sessEHLOPending
		return
	}
	if strings.Contains(d, "STARTTLS") {
		s.flags |= sessEHLOStartTLS
	}
	if len(d) > 3 && d[3] == '-' {
		return
	}
	s.flags &^= sessEHLOPending
	if s.flags&sessTLSStarted == 0 {
		s.flags |= sessPreTLSEHLO
		if s.flags&sessEHLOStartTLS != 0 {
			s.flags |= sessOffered
		}
	}
}

// The '*' information lines the analysis reads.
const (
	logCtxTLSFailed    = "TLS negotiation failed with error "
	logCtxTLSProtocol  = "TLS protocol "
	logCtxDomainCaps   = "TlsDomainCapabilities="
	logCtxClientChain  = "Client certificate chain validation status: "
	logOneLineCertMark = " Subject Issuer name" // as protolog.ParseCertificateLine
)

func (p *protoState) info(s *protoSession, rec *protolog.Record) {
	ctx := rec.Context
	switch {
	case strings.HasPrefix(ctx, logCtxTLSFailed):
		s.flags |= sessTLSFailed
		p.failure(s, logFirstWord(ctx[len(logCtxTLSFailed):]), rec.DateTime)
	case strings.HasPrefix(ctx, logCtxTLSProtocol) && strings.Contains(ctx, "negotiation succeeded"):
		s.flags |= sessTLSDone | sessTLSStarted
		s.conn.tlsOK++
	case strings.HasPrefix(ctx, logCtxDomainCaps):
		if _, v, ok := strings.Cut(ctx, "Status='"); ok {
			v, _, _ = strings.Cut(v, "'")
			p.status(s.conn, v)
		}
	case strings.HasPrefix(ctx, logCtxClientChain):
		p.status(s.conn, "chain "+strings.Trim(ctx[len(logCtxClientChain):], "' "))
	}
	if s.flags&sessCertOpen != 0 {
		p.feedCerts(s, rec)
		return
	}
	switch {
	case rec.Data == "" && strings.HasSuffix(ctx, " certificate"):
		p.feedCerts(s, rec)
	case strings.Contains(ctx, logOneLineCertMark):
		if hit, ok := p.oneLine[logOneLineKey{ctx, rec.Data}]; ok {
			p.useCert(s, hit.info, hit.peer, p.time(rec.DateTime))
			return
		}
		p.feedCerts(s, rec)
	}
}

func (p *protoState) failure(s *protoSession, word, dateTime string) {
	c := s.conn
	if c.failures == nil {
		c.failures = make(map[string]*logFailure)
	}
	f, ok := c.failures[word]
	if !ok {
		if len(c.failures) >= logMaxFailureKinds {
			c.failuresOther++
			return
		}
		f = &logFailure{}
		c.failures[strings.Clone(word)] = f
	}
	f.add(p.time(dateTime))
	if s.sent != nil {
		f.cert = s.sent.cert
	}
}

func (p *protoState) status(c *logConn, v string) {
	if c.status == nil {
		c.status = make(map[string]int64)
	}
	if _, ok := c.status[v]; ok {
		c.status[v]++
		return
	}
	if len(c.status) >= logMaxStatusKinds {
		c.statusOther++
		return
	}
	c.status[strings.Clone(v)] = 1
}

// finish concludes every open session (end of input).
func (p *protoState) finish() {
	for _, s := range p.sessions {
		p.conclude(s, false, "")
	}
	p.certBuf = p.certs.Flush(p.certBuf[:0])
	p.certBuf = p.certBuf[:0]
}

func logFirstWord(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " ,;"); i >= 0 {
		s = s[:i]
	}
	return s
}

func logHasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func logHasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}
