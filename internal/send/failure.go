package send

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailflowhq/mailflow/internal/neterr"
	"github.com/mailflowhq/mailflow/internal/smtp"
)

// Exchange's connection-level statuses (reference §6).
const (
	StatusDNSFailed       = "450 4.4.312 DNS query failed"
	StatusTimedOut        = "450 4.4.315 Connection timed out"
	StatusRefused         = "450 4.4.316 Connection refused"
	StatusCannotConnect   = "450 4.4.317 Cannot connect to remote server"
	StatusClosedAbruptly  = "450 4.4.318 Connection was closed abruptly"
	StatusCertificate     = "450 4.7.320 Certificate validation failed"
	StatusCertNotFound    = "454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found."
	StatusCancelled       = "451 4.4.0 Delivery was interrupted"
	StatusNullMX          = "556 5.1.10 Recipient address has null MX"
	StatusTooLarge        = "552 5.3.4 Message size exceeds fixed maximum message size"
	StatusSMTPUTF8Missing = "550 5.6.7 The recipient server does not support SMTPUTF8 addresses"
)

// Reasons (MSG=) for failures that are not certificate verdicts.
const (
	ReasonDNS            = "DnsQueryFailed"
	ReasonTimedOut       = "ConnectionTimedOut"
	ReasonRefused        = "ConnectionRefused"
	ReasonClosed         = "ConnectionClosed"
	ReasonCannotConnect  = "CannotConnect"
	ReasonStartTLSAbsent = "StartTlsNotOffered"
	ReasonStartTLS       = "StartTlsRefused"
	ReasonTLS            = "TlsNegotiationFailed"
	ReasonNoCredentials  = "NoCredentials"
	ReasonCertNotFound   = "CertificateNotFound"
	ReasonCancelled      = "Cancelled"
	ReasonNullMX         = "NullMX"
	ReasonTooLarge       = "MessageTooLarge"
	ReasonSMTPUTF8       = "SmtpUtf8NotSupported"
	ReasonConfig         = "ConfigurationError"
)

// LastError is a delivery failure in the terms of Exchange's LastError.
type LastError struct {
	Status  string    // "450 4.7.320 Certificate validation failed", or the peer's reply
	Message string    // "[Message=…]" text; "" for none
	Reason  string    // MSG=
	Host    string    // FQDN= and LastAttemptedServerName=
	IP      string    // IP= (no port)
	Port    int       // with IP: LastAttemptedIP=ip:port
	Time    time.Time // LRT=, shown in UTC
	// Ours marks a status mailflow generated (connection level): only those
	// carry the [LastAttemptedServerName] and [LastAttemptedIP] brackets, as
	// in Exchange; a peer's own reply is quoted bare.
	Ours bool
}

// lrtLayout is .NET's "M/d/yyyy h:mm:ss tt" (en-US general date-time).
const lrtLayout = "1/2/2006 3:04:05 PM"

// FormatDetail renders e the way Exchange's message trace and queue show it:
//
//	{LED=450 4.7.320 Certificate validation failed [Message=SubjectMismatch …] [LastAttemptedServerName=host] [LastAttemptedIP=ip:port]};{MSG=SubjectMismatch};{FQDN=host};{IP=ip};{LRT=11/1/2017 12:12:45 PM}
func FormatDetail(e LastError) string {
	var b strings.Builder
	b.WriteString("{LED=")
	b.WriteString(e.Status)
	if e.Message != "" {
		b.WriteString(" [Message=")
		b.WriteString(e.Message)
		b.WriteString("]")
	}
	if e.Ours {
		if e.Host != "" {
			b.WriteString(" [LastAttemptedServerName=")
			b.WriteString(e.Host)
			b.WriteString("]")
		}
		if e.IP != "" {
			b.WriteString(" [LastAttemptedIP=")
			b.WriteString(joinHostPort(e.IP, e.Port))
			b.WriteString("]")
		}
	}
	b.WriteString("};{MSG=")
	b.WriteString(e.Reason)
	b.WriteString("};{FQDN=")
	b.WriteString(e.Host)
	b.WriteString("};{IP=")
	b.WriteString(e.IP)
	b.WriteString("};{LRT=")
	if !e.Time.IsZero() {
		b.WriteString(e.Time.UTC().Format(lrtLayout))
	}
	b.WriteString("}")
	return b.String()
}

func joinHostPort(ip string, port int) string {
	if port == 0 {
		return ip
	}
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// failure is a problem that applies to every recipient of an attempt.
type failure struct {
	status  string
	reason  string
	message string
	outcome Outcome
	// ours: a status mailflow made up (see LastError.Ours).
	ours bool
	// tlsHandshake: the TLS handshake itself failed (not a certificate
	// verdict); opportunistic TLS may retry in plaintext.
	tlsHandshake bool
	// final: trying other hosts cannot help (a local problem).
	final bool
}

func (f *failure) Error() string { return f.status + " " + f.message }

func deferred(status, reason, message string) *failure {
	return &failure{status: status, reason: reason, message: message, outcome: Deferred, ours: true}
}

// Windows socket error codes, as Exchange quotes them in its messages.
const (
	wsaTimedOut    = 10060
	wsaRefused     = 10061
	wsaConnReset   = 10054
	wsaHostUnreach = 10065
)

func winsock(code int) string {
	return fmt.Sprintf("Failed to connect. Winsock error code: %d, Win32 error code: %d.", code, code)
}

// classifyDial maps a connect error.
func classifyDial(err error) *failure {
	switch {
	case errors.Is(err, context.Canceled):
		return deferred(StatusCancelled, ReasonCancelled, "the delivery was cancelled")
	case neterr.IsTimeout(err):
		return deferred(StatusTimedOut, ReasonTimedOut, winsock(wsaTimedOut))
	case errors.Is(err, syscall.ECONNREFUSED):
		return deferred(StatusRefused, ReasonRefused, winsock(wsaRefused))
	case errors.Is(err, syscall.ECONNRESET):
		return deferred(StatusClosedAbruptly, ReasonClosed, winsock(wsaConnReset))
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return deferred(StatusCannotConnect, ReasonCannotConnect, winsock(wsaHostUnreach))
	}
	return deferred(StatusCannotConnect, ReasonCannotConnect, err.Error())
}

// classifySession maps an error after the connection was made; stage names
// the step ("greeting", "EHLO", "STARTTLS", "MAIL", …).
func classifySession(stage string, err error) *failure {
	var re *smtp.ReplyError
	switch {
	case errors.Is(err, context.Canceled):
		return deferred(StatusCancelled, ReasonCancelled, "the delivery was cancelled")
	case neterr.IsTimeout(err):
		return deferred(StatusTimedOut, ReasonTimedOut, "timed out waiting for the remote server at "+stage)
	case neterr.IsClosed(err):
		return deferred(StatusClosedAbruptly, ReasonClosed, "the remote server closed the connection at "+stage)
	case errors.As(err, &re):
		return deferred(StatusCannotConnect, ReasonCannotConnect, "the remote server replied to "+stage+": "+re.Reply.Text())
	case errors.Is(err, smtp.ErrInjectedResponse):
		return deferred(StatusCannotConnect, ReasonTLS, "the remote server sent data after its 220 to STARTTLS, before TLS (response injection); the session was abandoned")
	}
	return deferred(StatusCannotConnect, ReasonCannotConnect, stage+": "+err.Error())
}

// tlsFailure maps a failed handshake that was not a certificate verdict.
func tlsFailure(err error) *failure {
	if neterr.IsTimeout(err) {
		return deferred(StatusTimedOut, ReasonTimedOut, "timed out during the TLS handshake")
	}
	f := deferred(StatusCannotConnect, ReasonTLS, "TLS negotiation failed with error "+neterr.HandshakeName(err))
	f.tlsHandshake = true
	return f
}
