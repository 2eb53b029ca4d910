package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/domain"
	"github.com/mailflowhq/mailflow/internal/mtasts"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// The probe (files probe*.go) connects to an SMTP server the way a
// validating sender does — through send.Sender.Connect, the very code of the
// send connectors — and reports the banner, the EHLO extensions, the TLS
// session, every certificate presented, the verdict with the status the
// sender would record and the fix, naming the certificate to pin when the
// server's certificates are at hand (RecommendCertificate).
//
// It differs from a delivery only in what it observes: it finishes the
// handshake after a rejected certificate (to report the protocol and
// whether a client certificate was asked for) and accepts TLS 1.0/1.1 and
// legacy cipher suites so an old server is judged rather than merely
// unreachable; such a protocol is reported as a finding.

// Probe defaults.
const (
	DefaultConnectTimeout = 30 * time.Second
	DefaultCommandTimeout = 60 * time.Second
	// DefaultConnector stands for the receive connector in fix
	// commands when the caller did not name it.
	DefaultConnector = "Default Frontend <SERVER>"
	// StatusStartTLSRequired is what a sender that requires TLS (Exchange
	// Online's connectors, hybrid) records when STARTTLS is not offered.
	StatusStartTLSRequired = "451 5.7.3 STARTTLS is required to send mail"
	// probeFallbackEHLO is greeted with when the machine has no usable
	// host name: never "localhost" (receivers log and may check it).
	probeFallbackEHLO = "mailflow-probe.invalid"
)

// Options say what to probe and how to judge it.
type Options struct {
	// Target is "host", "host:port", "[ip]" or "[ip]:port"; port 25 when
	// absent.
	Target string
	// Source is the local IP to connect from, to land on a receive
	// connector scoped by RemoteIPRanges ("" = any).
	Source string
	// EHLO is the name to greet with; "" = DefaultEHLOName().
	EHLO string
	// SNI overrides the server name sent in the handshake: nil = as a
	// sender does (the host name; none for an address); "" = none.
	SNI *string
	// Level is the TlsAuthLevel the verdict applies. The probe always
	// requires TLS, as every connector with a TLS level does.
	Level tlscheck.Level
	// Expect is the name DomainValidation expects; "" = the host name.
	Expect string
	// Roots are the trusted roots; nil = the system roots.
	Roots *x509.CertPool
	// ClientCertificate is presented when the server asks; nil = none.
	ClientCertificate *certs.Certificate
	// Certificates are the server's own certificates, when at hand: the fix
	// then names the one to pin (RecommendCertificate).
	Certificates *certs.Store
	// Connector names the receive connector in fix commands; "" =
	// DefaultConnector.
	Connector string
	// Timeouts: the TCP connect, and each wait for the server.
	ConnectTimeout, CommandTimeout time.Duration
	// Now is the clock of the verdict; nil = time.Now.
	Now func() time.Time
	// Resolver is the DNS; nil = the system resolver. Tests inject one.
	Resolver send.Resolver
	// Dialer connects (laddr is Source); nil = a net.Dialer.
	Dialer func(ctx context.Context, network, laddr, raddr string) (net.Conn, error)
	// TXT looks up the MTA-STS and TLS-RPT records of --mx; nil = Resolver
	// when it can, else the system resolver.
	TXT mtasts.Resolver
	// MTASTSPort is the HTTPS port of MTA-STS policies (0 = 443; tests).
	MTASTSPort int
	// DNS resolves with DNSSEC status; with a validating resolver the
	// probe applies DANE as a sender with dane: opportunistic does. It
	// replaces Resolver.
	DNS *dnsres.Resolver
	// MX is set for a host probed as an MX of a domain (MX sets it).
	MX *MXContext
}

// Report is the result of probing one endpoint. Its JSON form is
// stable: fields are only ever added.
type Report struct {
	Target string         `json:"target"` // as asked: "mail.contoso.com:25"
	Host   string         `json:"host"`
	Port   int            `json:"port"`
	IP     string         `json:"ip,omitempty"` // the address probed
	Source string         `json:"source,omitempty"`
	Policy tlscheck.Level `json:"policy"`
	Expect string         `json:"expect,omitempty"`
	EHLO   string         `json:"ehlo_name"`
	Time   time.Time      `json:"time"`
	// Addresses lists every address the host resolved to; the probe tests
	// the first, which is the one a sender tries first.
	Addresses []string `json:"addresses,omitempty"`
	// MXPreference is set when the endpoint came from an MX lookup.
	MXPreference *uint16 `json:"mx_preference,omitempty"`

	Banner          string   `json:"banner,omitempty"`
	Extensions      []string `json:"extensions"` // EHLO keywords before TLS, as offered
	StartTLSOffered bool     `json:"starttls_offered"`
	TLS             *TLS     `json:"tls,omitempty"`
	// Stage is how far the session got: resolve, connect, greeting, ehlo,
	// starttls, tls, ready.
	Stage    send.Stage `json:"stage"`
	Verdict  Verdict    `json:"verdict"`
	Findings []Finding  `json:"findings"`
	Fix      *Fix       `json:"fix,omitempty"`
	// DNS is what the DNSSEC-aware resolver said (DNSSEC status, TLSA
	// records, match); nil when the probe used the system resolver.
	DNS *DNSInfo `json:"dns,omitempty"`
	// TLSPolicy is the policy the sender's policy step chose for the host
	// (DANE, the connector's own, …).
	TLSPolicy *PolicyInfo `json:"tls_policy,omitempty"`

	// MTASTS is this MX host judged by the domain's MTA-STS policy (--mx
	// only, when the domain has one).
	MTASTS *MTASTSHost `json:"mta_sts,omitempty"`

	SourceAsked bool   `json:"-"` // Source was chosen by the caller, not the system
	leafTLSA    string // the 3 1 1 record of the presented leaf
	// peerChain is what the server presented, for policy checks after the
	// session (MTA-STS).
	peerChain []*x509.Certificate
}

// TLS is the TLS session observed.
type TLS struct {
	Version     string `json:"version,omitempty"` // "TLS 1.3"; empty when the handshake failed
	CipherSuite string `json:"cipher_suite,omitempty"`
	// Legacy: the protocol is older than TLS 1.2.
	Legacy bool   `json:"legacy"`
	SNI    string `json:"sni,omitempty"`
	// Chain is every certificate the server presented, leaf first.
	Chain                      []certs.Info `json:"chain"`
	ClientCertificateRequested bool         `json:"client_certificate_requested"`
	AcceptableCAs              []string     `json:"acceptable_cas,omitempty"`
	ClientCertificate          *certs.Info  `json:"client_certificate,omitempty"`
	// ExtensionsAfterTLS are the EHLO keywords under TLS.
	ExtensionsAfterTLS []string `json:"extensions_after_tls,omitempty"`
}

// Probe results.
const (
	Pass  = "pass"
	Fail  = "fail"
	Error = "error" // could not test: the server was not reached or did not answer
)

// Verdict is the judgement, in the sender's words.
type Verdict struct {
	Result string `json:"result"` // pass, fail or error
	// Status is what the sender records: "450 4.7.320 Certificate
	// validation failed", "451 5.7.3 STARTTLS is required to send mail",
	// "450 4.4.316 Connection refused" …; empty on pass.
	Status string `json:"status,omitempty"`
	// Reason is the MSG= value: SubjectMismatch, CertificateExpired,
	// StartTlsNotOffered, ConnectionRefused …
	Reason string `json:"reason,omitempty"`
	// Message is the [Message=…] text, e.g. "SubjectMismatch Expected
	// Subject: mail.contoso.com. Presented Subject: CN=SERVER1. Thumbprint: …".
	Message string `json:"message,omitempty"`
	// Summary is one sentence for people.
	Summary string `json:"summary"`
	// Detail is the message-trace / LastError string the sender would show.
	Detail string `json:"detail,omitempty"`
	// Check is tlscheck's result when a certificate was judged (its chain
	// is in TLS.Chain).
	Check *tlscheck.Result `json:"check,omitempty"`
}

// Finding is something worth knowing beside the verdict.
type Finding struct {
	Severity string `json:"severity"` // warning or info
	Text     string `json:"text"`
}

// Fix says what to change.
type Fix struct {
	Steps []string `json:"steps"`
	// NeededName is the name the certificate must hold, when a name is the
	// problem.
	NeededName string `json:"needed_name,omitempty"`
	// Recommended is the certificate to pin, from Options.Certificates.
	Recommended *certs.Info `json:"recommended,omitempty"`
	// Exchange and Mailflow are the commands that pin it.
	Exchange string `json:"exchange,omitempty"`
	Mailflow string `json:"mailflow,omitempty"`
	// Candidates is every certificate considered, best first.
	Candidates []CertificateCandidate `json:"candidates,omitempty"`
}

// ExitCode is the process status for the report: 0 pass, 1 fail, 2 could
// not test.
func (r *Report) ExitCode() int {
	switch r.Verdict.Result {
	case Pass:
		return 0
	case Fail:
		return 1
	}
	return 2
}

// DefaultEHLOName is the machine's host name when it is a dotted name other
// than localhost, else a reserved name that cannot be mistaken for a real
// host: a probe never greets as "localhost".
func DefaultEHLOName() string {
	h, err := os.Hostname()
	h = strings.TrimSuffix(strings.TrimSpace(h), ".")
	if err != nil || !strings.Contains(h, ".") || strings.HasPrefix(strings.ToLower(h), "localhost") {
		return probeFallbackEHLO
	}
	return h
}

// SplitTarget reads "host", "host:port", "[ip]", "[ip]:port" or a bare IPv6
// address, with defPort for none.
func SplitTarget(s string, defPort int) (host string, port int, err error) {
	host, port, err = domain.SplitHostPort(s, defPort)
	if err != nil {
		return "", 0, fmt.Errorf("target %w", err)
	}
	return host, port, nil
}

// Probe connects to opts.Target as a sender with opts.Level expecting
// opts.Expect would, and reports what it saw and what to fix. It never
// returns nil: failures to connect are a report with result "error".
func Run(ctx context.Context, opts Options) *Report {
	now := probeNow(opts.Now)
	host, port, err := SplitTarget(opts.Target, send.DefaultPort)
	if err != nil {
		r := &Report{Target: opts.Target, Policy: opts.Level, Expect: opts.Expect, Time: now, Findings: []Finding{}, Extensions: []string{}}
		r.Verdict = Verdict{Result: Error, Summary: "Could not test: " + err.Error()}
		return r
	}
	expect := opts.Expect
	if expect == "" {
		expect = host
	}
	helo := opts.EHLO
	if helo == "" {
		helo = DefaultEHLOName()
	}
	c := send.Connector{
		Name: "probe",
		Port: port,
		FQDN: helo,
		// A sender that asks for a TLS level requires TLS: Exchange's
		// TlsAuthLevel needs RequireTLS, Exchange Online's TlsSettings too.
		RequireTLS:     true,
		Level:          opts.Level,
		TLSDomain:      expect,
		SourceIP:       opts.Source,
		ConnectTimeout: probeDuration(opts.ConnectTimeout, DefaultConnectTimeout),
		CommandTimeout: probeDuration(opts.CommandTimeout, DefaultCommandTimeout),
	}
	s := &send.Sender{Roots: opts.Roots, ServerFQDN: helo, Resolver: opts.Resolver, Dialer: opts.Dialer, Now: func() time.Time { return now }, DNS: opts.DNS}
	if opts.DNS != nil && opts.DNS.Validating() {
		c.DANE = send.DANEOpportunistic
	}
	if opts.ClientCertificate != nil {
		// The sender's own selection, pinned to the one certificate given.
		s.Store = certs.NewStore(opts.ClientCertificate)
		c.CertificateName = opts.ClientCertificate.Name()
	}
	copts := send.ConnectOptions{ServerName: opts.SNI, LegacyTLS: true, FinishHandshake: true, Now: now}
	run := Runner{
		Sender: s, Connector: c, Connect: copts, Now: now, Cloud: true,
		Certificates: opts.Certificates, ConnectorName: opts.Connector, MX: opts.MX,
	}
	if opts.MX != nil {
		run.Domain = opts.MX.Domain
	}
	r := run.probe(ctx, opts.Target, host, port, expect)
	if opts.Expect == "" && opts.Level == tlscheck.DomainValidation {
		if _, err := netip.ParseAddr(host); err == nil {
			r.Findings = append(r.Findings, Finding{Severity: "warning", Text: fmt.Sprintf(
				"No --expect was given, so the name expected is the address %s itself, which certificates rarely hold: give the name the sender validates (its TlsDomain or smart host name), e.g. --expect mail.contoso.com.", host)})
		}
	}
	return r
}

// Runner is one way of probing: the sender and connector it imitates and
// how the verdict is worded. Run builds one for an ad-hoc probe; connector
// validation (internal/diag/validate) builds one from a configured connector.
type Runner struct {
	Sender    *send.Sender
	Connector send.Connector
	Connect   send.ConnectOptions
	Now       time.Time
	// Cloud words the verdict as Exchange Online does (451 5.7.3 for a
	// missing STARTTLS); false keeps the send connector's own status.
	Cloud         bool
	Certificates  *certs.Store
	ConnectorName string
	// Domain is the recipient domain handed to the sender (DomainValidation
	// without TLSDomain expects it).
	Domain string
	// Verify is the command that checks the fix; "" = the probe itself.
	Verify string
	// MX is set when the host came from a domain's MX records: DANE then
	// also needs the MX RRset to be secure.
	MX *MXContext
}

// probe runs one endpoint: resolve as the sender does, connect to the first
// address, judge.
func (p Runner) probe(ctx context.Context, asked, host string, port int, expect string) *Report {
	c := p.Connector
	r := &Report{
		Target: asked, Host: host, Port: port, Source: c.SourceIP, Policy: c.Level, EHLO: c.FQDN, Time: p.Now,
		Extensions: []string{}, Findings: []Finding{},
	}
	if c.Level == tlscheck.DomainValidation {
		r.Expect = expect
	}
	r.SourceAsked = c.SourceIP != ""
	if r.EHLO == "" {
		r.EHLO = p.Sender.ServerFQDN
	}
	one := c
	one.Hosts = []string{net.JoinHostPort(host, strconv.Itoa(port))}
	targets, f := p.Sender.Targets(ctx, one, p.Domain)
	if f != nil {
		r.Stage = send.StageResolve
		p.Failed(r, f, send.Target{Host: host, Port: port})
		p.Finish(r)
		return r
	}
	for _, t := range targets {
		r.Addresses = append(r.Addresses, t.IP)
	}
	t := targets[0]
	if p.MX != nil {
		t.FromMX = true
		t.Secure = t.Secure && p.MX.Security == dnsres.Secure
	}
	r.IP = t.IP
	return p.connect(ctx, r, t)
}

// connect opens a session to t as the sender would, records what it showed
// and judges it.
func (p Runner) connect(ctx context.Context, r *Report, t send.Target) *Report {
	cn := p.Sender.Connect(ctx, p.Connector, t, p.Domain, p.Connect)
	p.observe(r, cn)
	p.dnsInfo(ctx, r, t, cn)
	if cn.Failure != nil {
		p.Failed(r, cn.Failure, t)
	} else {
		cn.Close()
		p.passed(r, cn)
	}
	p.Finish(r)
	return r
}

// observe copies what the session showed into the report.
func (p Runner) observe(r *Report, cn *send.Connection) {
	r.Stage = cn.Stage
	if cn.LocalAddr != "" {
		if ap, err := netip.ParseAddrPort(cn.LocalAddr); err == nil {
			r.Source = ap.Addr().Unmap().String()
		}
	}
	if cn.Banner.Code != 0 {
		r.Banner = cn.Banner.Text()
	}
	r.leafTLSA = leafRecord(cn)
	r.Extensions = probeKeywords(cn.Hello.Lines)
	r.StartTLSOffered = cn.STARTTLSOffered
	if cn.TLS == nil {
		return
	}
	t := &TLS{
		Version: cn.TLS.Version, CipherSuite: cn.TLS.CipherSuite, SNI: cn.TLS.ServerName,
		Legacy:                     cn.TLS.VersionID != 0 && cn.TLS.VersionID < tls.VersionTLS12,
		ClientCertificateRequested: cn.TLS.ClientCertificateRequested,
		AcceptableCAs:              cn.TLS.AcceptableCAs,
		ClientCertificate:          cn.TLS.ClientCertificate,
		ExtensionsAfterTLS:         probeKeywords(cn.TLSHello.Lines),
		Chain:                      []certs.Info{},
	}
	for _, x := range cn.PeerChain {
		t.Chain = append(t.Chain, certs.FromX509(x).Describe(p.Now))
	}
	r.peerChain = cn.PeerChain
	r.TLS = t
	if cn.TLS.Peer != nil {
		v := cn.TLS.Verdict
		v.Chain = nil // in TLS.Chain already
		r.Verdict.Check = &v
	}
}

// probeKeywords are the EHLO reply lines after the greeting line.
func probeKeywords(lines []string) []string {
	out := []string{}
	if len(lines) > 1 {
		out = append(out, lines[1:]...)
	}
	return out
}

// passed words a successful connection.
func (p Runner) passed(r *Report, cn *send.Connection) {
	r.Verdict.Result = Pass
	level := p.Connector.Level
	if d := cn.TLS; d != nil && d.Verdict.DANE != nil {
		if m := d.Verdict.DANE.Matched; m != nil {
			r.Verdict.Summary = fmt.Sprintf("A DANE sender accepts this server: the certificate %s matches the DNSSEC-authenticated TLSA record %s at %s (names and dates are not checked for DANE-EE).", probeLeafSubject(r), m, d.Verdict.DANE.Owner)
		} else {
			r.Verdict.Summary = "A DANE sender delivers over TLS without authenticating the certificate: " + d.Verdict.Detail + "."
		}
		return
	}
	switch {
	case cn.TLS == nil:
		r.Verdict.Summary = fmt.Sprintf("A sender would deliver without TLS: %s did not offer STARTTLS and the connector does not require TLS.", r.Host)
	case level == tlscheck.DomainValidation:
		r.Verdict.Summary = fmt.Sprintf("A sender with DomainValidation expecting %s accepts this server: the certificate %s holds the name, chains to a trusted root and is in date.",
			r.Expect, probeLeafSubject(r))
	case level == tlscheck.CertificateValidation:
		r.Verdict.Summary = fmt.Sprintf("A sender with CertificateValidation accepts this server: the certificate %s chains to a trusted root and is in date.", probeLeafSubject(r))
	default:
		r.Verdict.Summary = fmt.Sprintf("A sender with EncryptionOnly accepts this server: TLS was negotiated (%s); the certificate is not checked at this level.", r.TLS.Version)
	}
}

// Failed words a failure with the sender's status.
func (p Runner) Failed(r *Report, f *send.Failure, t send.Target) {
	v := &r.Verdict
	v.Status, v.Reason, v.Message, v.Detail = f.Status, f.Reason, f.Message, f.LastError.String()
	v.Result = Fail
	if f.Stage <= send.StageEHLO || f.Reason == send.ReasonCancelled {
		v.Result = Error
	}
	if f.Reason == send.ReasonStartTLSAbsent && p.Cloud {
		v.Status = StatusStartTLSRequired
		v.Message = fmt.Sprintf("%s did not offer STARTTLS and the sender requires TLS (an Exchange or mailflow send connector with RequireTLS records %s for the same condition)",
			t.Host, send.StatusCannotConnect)
		v.Detail = send.LastError(v.Status, v.Reason, v.Message, t, p.Now).String()
	}
	switch {
	case isDANEStatus(v.Status) || v.Reason == send.ReasonDANERequired:
		v.Result = Fail
		v.Summary = daneSummary(r)
	case v.Result == Error:
		v.Summary = fmt.Sprintf("Could not test %s: %s (%s).", probeEndpoint(r), probeStatusWords(v.Status), v.Message)
	case v.Status == send.StatusCertificate:
		v.Summary = fmt.Sprintf("A sender with %s refuses this server's certificate: %s.", p.Connector.Level, v.Reason)
		if v.Check != nil && v.Check.Detail != "" {
			v.Summary = fmt.Sprintf("A sender with %s refuses this server's certificate (%s): %s.", p.Connector.Level, v.Reason, strings.TrimSuffix(v.Check.Detail, "."))
		}
	case f.Reason == send.ReasonStartTLSAbsent:
		v.Summary = fmt.Sprintf("%s does not offer STARTTLS, so a sender that requires TLS does not deliver.", probeEndpoint(r))
	default:
		v.Summary = fmt.Sprintf("A sender that requires TLS does not deliver: %s (%s).", probeStatusWords(v.Status), v.Message)
	}
}

// Finish adds findings and the fix.
func (p Runner) Finish(r *Report) {
	r.Findings = append(r.Findings, probeFindings(r)...)
	r.Fix = p.fix(r)
}

func probeEndpoint(r *Report) string {
	name := net.JoinHostPort(r.Host, strconv.Itoa(r.Port))
	if r.IP != "" && r.IP != r.Host {
		name += " (" + r.IP + ")"
	}
	return name
}

// probeStatusWords drops the code from a status for use inside a sentence.
func probeStatusWords(status string) string {
	f := strings.Fields(status)
	if len(f) > 2 {
		return strings.Join(f[2:], " ")
	}
	return status
}

func probeLeafSubject(r *Report) string {
	if r.TLS != nil && len(r.TLS.Chain) > 0 {
		return r.TLS.Chain[0].Subject
	}
	return "(none)"
}

func probeNow(now func() time.Time) time.Time {
	if now != nil {
		return now()
	}
	return time.Now()
}

func probeDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Resolved probes one address a send connector resolved (send.Sender.Targets).
func (p Runner) Resolved(ctx context.Context, t send.Target, expect string) *Report {
	c := p.Connector
	r := &Report{
		Target: net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), Host: t.Host, Port: t.Port, IP: t.IP,
		Source: c.SourceIP, Policy: c.Level, EHLO: probeOr(c.FQDN, p.Sender.ServerFQDN), Time: p.Now,
		Extensions: []string{}, Findings: []Finding{}, Addresses: []string{t.IP},
		SourceAsked: c.SourceIP != "",
	}
	if c.Level == tlscheck.DomainValidation {
		r.Expect = expect
	}
	return p.connect(ctx, r, t)
}
