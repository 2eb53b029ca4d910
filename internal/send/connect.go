package send

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/neterr"
	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Stage is how far a connection got. Diagnostics use it to tell "could not
// test" (the server was never reached or never answered) from a TLS verdict.
type Stage int

// The stages, in order.
const (
	StageResolve  Stage = iota // resolving the host
	StageConnect               // TCP connect
	StageGreeting              // reading the 220 banner
	StageEHLO                  // EHLO (or HELO)
	StageStartTLS              // the STARTTLS command
	StageTLS                   // the handshake, the certificate verdict and EHLO under TLS
	StageReady                 // ready for MAIL: encrypted, or plaintext where the policy allows it
)

var stageNames = [...]string{"resolve", "connect", "greeting", "ehlo", "starttls", "tls", "ready"}

func (s Stage) String() string {
	if s >= 0 && int(s) < len(stageNames) {
		return stageNames[s]
	}
	return fmt.Sprintf("Stage(%d)", int(s))
}

// MarshalText writes the stage name, so JSON shows a word.
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Failure is a connection-level failure in Exchange's terms, as Result
// carries it.
type Failure struct {
	Status  string // "450 4.7.320 Certificate validation failed"
	Reason  string // MSG=: tlscheck's reason or a Reason* constant
	Message string // the [Message=…] text
	Stage   Stage  // where it happened
	// LastError is the record a sender keeps (its String is Exchange's
	// LastError / message-trace text).
	LastError *lasterror.Record
}

func (f *failure) export(stage Stage, t Target, now time.Time) *Failure {
	if f == nil {
		return nil
	}
	return &Failure{
		Status: f.status, Reason: f.reason, Message: f.message, Stage: stage,
		LastError: f.lastError(t, now),
	}
}

// ConnectOptions adjust the connection stage for diagnostics. The zero value
// is the sender's own behaviour, which is what Send uses.
type ConnectOptions struct {
	// ServerName overrides the SNI sent: nil leaves the sender's choice (the
	// host name, none for an address literal); a pointer to "" sends none.
	ServerName *string
	// LegacyTLS accepts TLS 1.0 and 1.1 and every cipher suite crypto/tls
	// implements, insecure ones included, so a diagnosis can judge an old
	// server instead of failing to talk to it. The sender never sets it.
	LegacyTLS bool
	// FinishHandshake completes the TLS handshake even when the certificate
	// is rejected, so the protocol, the cipher and the server's request for
	// a client certificate can be reported. The verdict and the failure are
	// the same as without it; only what can be observed differs.
	FinishHandshake bool
	// Now is the time of the certificate verdict; zero = the Sender's clock.
	Now time.Time
}

// Connection is an SMTP session taken through the connection stage of a
// send connector: connected from the connector's source IP, greeted with
// its FQDN, encrypted with STARTTLS as its policy demands, the server's
// certificate judged by tlscheck at its level and the client certificate
// presented when asked. Send and the diagnostics (probe, connector
// validation) both go through it, so what a diagnosis reports is what a
// delivery meets.
type Connection struct {
	Target     Target
	LocalAddr  string // "ip:port" we connected from; "" when the connect failed
	RemoteAddr string

	Banner smtp.Reply
	// Hello is the reply to the first EHLO (or HELO) and Extensions its
	// keywords; STARTTLSOffered says whether STARTTLS was among them.
	Hello           smtp.Reply
	Extensions      map[string]string
	STARTTLSOffered bool

	// Policy is the TLS policy decided for the target before connecting
	// (DANE, MTA-STS or the connector's own).
	Policy TargetPolicy

	// TLS is filled once a handshake was attempted; nil when the session
	// stayed in plaintext. PeerChain is what the server presented, leaf
	// first.
	TLS       *TLSInfo
	PeerChain []*x509.Certificate
	// TLSHello and TLSExtensions are the EHLO reply under TLS.
	TLSHello      smtp.Reply
	TLSExtensions map[string]string

	// Stage is the stage reached: StageReady on success, otherwise the
	// stage that failed, described by Failure.
	Stage   Stage
	Failure *Failure

	fail          *failure
	policyVerdict *tlscheck.Result // the verdict under Policy (even report-only)
	client        *smtp.Client
	conn          net.Conn
	log           *protolog.Session
	stop          func() bool
	disconnect    string
	released      bool
	idleSince     time.Time // when it was last put in the pool
}

// Connect takes one target through the connection stage of connector c
// (dial, banner, EHLO, STARTTLS, certificate verdict, client certificate,
// EHLO under TLS). domain is the recipient domain: the name DomainValidation
// expects when the connector has no TLSDomain. On failure the connection is
// already closed and Failure says why, with the status Send would record;
// on success call Close (QUIT) when done.
func (s *Sender) Connect(ctx context.Context, c Connector, t Target, domain string, opts ConnectOptions) *Connection {
	helo := c.FQDN
	if helo == "" {
		helo = s.ServerFQDN
	}
	pol := s.Policy(ctx, c, domain, t)
	var cn *Connection
	if pol.Refusal != nil && pol.Enforce {
		cn = &Connection{Target: t, Stage: StageResolve, Policy: pol, fail: pol.Refusal.failure(), released: true}
	} else {
		if pol.Refusal != nil {
			pol = connectorPolicy(c, domain)
		}
		cn = s.connect(ctx, c, t, helo, domain, true, opts, &pol)
	}
	if cn.fail != nil {
		now := opts.Now
		if now.IsZero() {
			now = s.now()
		}
		cn.Failure = cn.fail.export(cn.Stage, t, now)
	}
	return cn
}

// Client is the SMTP client of a ready connection, for the envelope that
// follows; nil when the connection failed.
func (cn *Connection) Client() *smtp.Client {
	if cn.fail != nil || cn.released {
		return nil
	}
	return cn.client
}

// Close ends a ready connection with QUIT; a failed one is already closed.
func (cn *Connection) Close() error {
	if cn.released || cn.client == nil {
		return nil
	}
	err := cn.client.Quit()
	cn.release()
	return err
}

// release closes the socket and writes the disconnect to the protocol log.
func (cn *Connection) release() {
	if cn.released {
		return
	}
	cn.released = true
	cn.log.Disconnect(cn.disconnect)
	if cn.conn != nil {
		cn.conn.Close()
	}
	if cn.stop != nil {
		cn.stop()
	}
}

// connect runs the connection stage. useTLS false skips STARTTLS (the
// plaintext retry of opportunistic TLS). On failure cn.fail is set and the
// connection released.
func (s *Sender) connect(ctx context.Context, c Connector, t Target, helo, domain string, useTLS bool, opts ConnectOptions, pol *TargetPolicy) *Connection {
	cn := &Connection{Target: t, Stage: StageConnect, disconnect: "Local", Policy: *pol}
	if useTLS {
		defer s.reportSession(cn)
	}
	connectTimeout := c.ConnectTimeout
	if connectTimeout <= 0 {
		connectTimeout = DefaultConnectTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	conn, err := s.dial(dctx, c.SourceIP, t.Addr())
	cancel()
	if err != nil {
		cn.fail = classifyDial(err)
		if ctx.Err() != nil {
			cn.fail = cancelledFailure()
		}
		return cn
	}
	cn.conn = conn
	cn.LocalAddr, cn.RemoteAddr = conn.LocalAddr().String(), conn.RemoteAddr().String()
	// Cancelling the delivery (shutdown) must not wait for a slow server.
	cn.stop = context.AfterFunc(ctx, func() { conn.Close() })

	if c.Log {
		cn.log = s.Log.Session(c.Name, cn.LocalAddr, cn.RemoteAddr)
	}
	cn.log.Connect()
	if pol.Note != "" {
		cn.log.Info("", pol.Note)
		if pol.Type == PolicyTLSA {
			cn.log.Info("", "TLSA records seen: "+TLSALines(*pol, 8))
		}
	}

	commandTimeout := c.CommandTimeout
	if commandTimeout <= 0 {
		commandTimeout = DefaultCommandTimeout
	}
	copts := smtp.ClientOptions{Timeout: commandTimeout}
	if cn.log != nil {
		copts.OnSend, copts.OnRecv = cn.log.Sent, cn.log.Received
	}
	cl := smtp.NewClient(conn, copts)
	cn.client = cl

	failed := func(stage Stage, f *failure) *Connection {
		cn.Stage = stage
		cn.failed(ctx, f)
		return cn
	}

	var gerr error
	if cn.Banner, gerr = cl.Greeting(); gerr != nil {
		return failed(StageGreeting, classifySession("greeting", gerr))
	}
	var herr error
	if cn.Hello, herr = cl.Hello(helo); herr != nil {
		return failed(StageEHLO, classifySession("EHLO", herr))
	}
	cn.Extensions = cl.Extensions()
	cn.STARTTLSOffered = cl.HasExtension("STARTTLS")
	switch {
	case useTLS && cn.STARTTLSOffered:
		encrypted, stage, f := s.startTLS(cn, c, domain, opts, pol)
		if f != nil {
			return failed(stage, f)
		}
		if encrypted {
			r, err := cl.Hello(helo)
			cn.TLSHello = r
			if err != nil {
				if _, alert := neterr.RemoteAlert(err); alert {
					return failed(StageTLS, tlsFailure(err))
				}
				return failed(StageTLS, classifySession("EHLO", err))
			}
			cn.TLSExtensions = cl.Extensions()
		}
	case pol.RequireTLS && pol.Type == PolicyTLSA:
		cl.Quit()
		return failed(StageStartTLS, deferred(StatusNoSTARTTLS, ReasonNoSTARTTLS,
			fmt.Sprintf("%s publishes DNSSEC-authenticated TLSA records (%s) but did not offer STARTTLS", t.Host, TLSALines(*pol, 4))))
	case pol.RequireTLS:
		cl.Quit()
		return failed(StageStartTLS, deferred(StatusCannotConnect, ReasonStartTLSAbsent,
			fmt.Sprintf("TLS is required (%s) but %s did not offer STARTTLS", requiredBy(c, *pol), t.Host)))
	}
	cn.Stage = StageReady
	return cn
}

// failed records f (or the cancellation that caused it), logs it and
// releases the connection.
func (cn *Connection) failed(ctx context.Context, f *failure) {
	if ctx.Err() != nil {
		f = cancelledFailure()
	}
	if f.reason == ReasonClosed {
		cn.disconnect = "Remote"
	}
	cn.log.Info("", f.status+" ["+f.message+"]")
	cn.fail = f
	cn.release()
}

// requiredBy names what made TLS mandatory, for messages.
func requiredBy(c Connector, p TargetPolicy) string {
	if p.Type == PolicyConnector {
		return fmt.Sprintf("RequireTLS or TlsAuthLevel %s", c.Level)
	}
	return fmt.Sprintf("the %s policy of %s", p.Type, p.Domain)
}

// reportSession reports the policy outcome of a connection (TLS-RPT): a
// failure before STARTTLS could be tried (connect, greeting, EHLO) is not a
// TLS policy outcome and is not reported.
func (s *Sender) reportSession(cn *Connection) {
	if s.Observer == nil {
		return
	}
	p := cn.Policy
	switch {
	case cn.fail != nil && cn.Stage < StageStartTLS:
		return
	case !cn.STARTTLSOffered:
		s.report(p, cn.Target, cn.LocalAddr, cn.fail, ResultStartTLSNotSupported)
	case cn.policyVerdict != nil && !cn.policyVerdict.OK:
		s.report(p, cn.Target, cn.LocalAddr, cn.fail, resultTypeOf(*cn.policyVerdict))
	case cn.fail != nil && cn.Stage == StageStartTLS:
		s.report(p, cn.Target, cn.LocalAddr, cn.fail, ResultStartTLSNotSupported)
	case cn.fail != nil:
		s.report(p, cn.Target, cn.LocalAddr, cn.fail, ResultValidationFailure)
	case cn.TLS == nil:
		return // stayed in plaintext without a STARTTLS attempt
	default:
		s.report(p, cn.Target, cn.LocalAddr, nil, "")
	}
}
