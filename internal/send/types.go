package send

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Connector is a send connector as the sender needs it (the configuration
// package maps its YAML onto this).
type Connector struct {
	Name string
	// Hosts are smart hosts, "host", "host:port", "[ip]" or "[ip]:port",
	// tried in order. Empty means MX lookup of the recipient domain.
	Hosts []string
	// Port is the port for hosts without one and for MX hosts (default 25).
	Port int
	// FQDN is the EHLO name and the name the client certificate is sought by;
	// empty = Sender.ServerFQDN.
	FQDN string
	// RequireTLS: never deliver without TLS. Implied by Level above
	// EncryptionOnly.
	RequireTLS bool
	// Level is the TlsAuthLevel applied to the server's certificate.
	Level tlscheck.Level
	// TLSDomain is the name DomainValidation expects ("mail.contoso.com" or
	// "*.contoso.com"); empty = the recipient domain.
	TLSDomain string
	// CertificateName is TlsCertificateName ("<I>issuer<S>subject"): the
	// client certificate to present. Empty = best match for FQDN.
	CertificateName string
	// SourceIP is the local address to connect from ("" = any).
	SourceIP string
	// ConnectTimeout bounds the TCP connect (default 60 s).
	ConnectTimeout time.Duration
	// CommandTimeout bounds each wait for the server (default 10 minutes,
	// Exchange's ConnectionInactivityTimeOut).
	CommandTimeout time.Duration
	// Log writes the session to the SmtpSend protocol log.
	Log bool
	// Connection reuse, with Sender.Pool: messages sent over one
	// connection (0 = DefaultMaxMessagesPerConnection, 1 = no reuse),
	// connections open at once to one next hop (0 =
	// DefaultMaxPerHopConnections) and how long an idle connection is kept
	// (0 = DefaultIdleTimeout).
	MaxMessagesPerConnection int
	MaxPerHopConnections     int
	IdleTimeout              time.Duration
	// DANE says how DNSSEC-authentic TLSA records of the next hop are used
	// (MX hosts, and smart hosts given by name); it needs Sender.DNS with
	// a validating resolver.
	DANE DANEMode
	// MTASTS applies the recipient domain's MTA-STS policy (RFC 8461) to
	// MX delivery, in the policy's own mode (mta_sts: enforce); false is
	// mta_sts: off.
	MTASTS bool
}

// Default timeouts.
const (
	DefaultConnectTimeout = 60 * time.Second
	DefaultCommandTimeout = 10 * time.Minute
	DefaultPort           = 25
)

// requireTLS is the effective requirement (see the package doc).
func (c Connector) requireTLS() bool { return c.RequireTLS || c.Level > tlscheck.EncryptionOnly }

// Message is one message to deliver through a connector.
type Message struct {
	ID    string // internal id, for logs
	From  string // reverse-path; "" is the null sender <>
	Rcpts []string
	// Body opens the content (RFC 5322 message, any line endings); it is
	// called once per delivery attempt, so failover can send it again.
	Body func() (io.ReadCloser, error)
	// Size in bytes, 0 when unknown: sent as SIZE= when the server offers
	// SIZE and checked against the server's limit.
	Size int64
	// RecipientDomain picks the MX records and is the expected name for
	// DomainValidation without TLSDomain; empty = the domain of the first
	// recipient.
	RecipientDomain string
	// RequireTLS: the message came with MAIL FROM … REQUIRETLS (RFC 8689);
	// TLSOptional: it carries "TLS-Required: No". See requiretls.go.
	RequireTLS  bool
	TLSOptional bool
}

// BytesBody is a Message.Body for content held in memory.
func BytesBody(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// Result is the outcome for one recipient.
type Result struct {
	Rcpt    string
	Outcome outcome.Outcome
	// Status is the SMTP status line: the next hop's reply ("250 2.6.0 …
	// Queued mail for delivery", "550 5.1.1 User unknown") or ours for a
	// connection-level failure ("450 4.7.320 Certificate validation failed").
	Status string
	// Reason is the MSG= value: tlscheck's reason for certificate failures
	// (SubjectMismatch, …), a short identifier for others, "" on delivery.
	Reason string
	// LastError is the record of a failed attempt (its String is Exchange's
	// LastError / message-trace text); nil on delivery.
	LastError  *lasterror.Record
	RemoteHost string // host name of the last host tried
	RemoteIP   string // its IP address, without port
	RemotePort int
	TLS        *TLSInfo // nil when the session was not encrypted
	// Reused: the message went over a connection kept from an earlier
	// delivery; TLS is that connection's, negotiated and judged when it
	// was made.
	Reused bool
	// Attempts lists every host tried for this delivery, in order.
	Attempts []Attempt
}

// Attempt is one host tried.
type Attempt struct {
	Host    string
	IP      string
	Port    int
	Status  string // the failure status, or the last reply when the session got that far
	Reason  string
	Message string // the bracketed [Message=…] text
}

// TrackingData is the session's TLS as the message tracking log records it
// for every message sent over it, reused or not:
// "TLS=TLS 1.3;Cipher=…;Thumbprint=…;Subject=…;Policy=DomainValidation;Verdict=Pass;Reused=true".
// Empty when the result never reached a next hop; "TLS=None" when the
// session was not encrypted.
func (r Result) TrackingData() string {
	if r.RemoteIP == "" {
		return ""
	}
	reused := fmt.Sprintf(";Reused=%t", r.Reused)
	t := r.TLS
	if t == nil {
		return "TLS=None" + reused
	}
	clean := strings.NewReplacer(";", ",").Replace
	data := "TLS=" + orNone(t.Version) + ";Cipher=" + orNone(t.CipherSuite)
	if t.Peer != nil {
		data += ";Thumbprint=" + t.Peer.Thumbprint + ";Subject=" + clean(t.Peer.Subject)
	}
	policy := t.Verdict.Level.String()
	if t.Verdict.DANE != nil {
		policy = "DANE"
	}
	verdict := "Pass"
	if !t.Verdict.OK {
		verdict = "Fail:" + string(t.Verdict.Reason)
	}
	return data + ";Policy=" + policy + ";Verdict=" + verdict + reused
}

func orNone(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

// TLSInfo describes the TLS of a session.
type TLSInfo struct {
	Version     string // "TLS 1.3"; "" when the handshake did not complete
	VersionID   uint16 // tls.VersionTLS13 …; 0 when the handshake did not complete
	CipherSuite string
	ServerName  string // SNI sent
	// Peer is the server's leaf certificate (nil if none was presented).
	Peer *certs.Info
	// Verdict is tlscheck's judgement under the target's policy (the
	// connector's level, or the TLSA records).
	Verdict tlscheck.Result
	// ClientCertificateRequested: the server asked for a client certificate
	// (a CertificateRequest in the handshake); AcceptableCAs are the issuer
	// names it listed, in Windows form (often none).
	ClientCertificateRequested bool
	AcceptableCAs              []string
	// ClientCertificate is the certificate we presented, nil when the server
	// did not ask or we had none.
	ClientCertificate *certs.Info
}
