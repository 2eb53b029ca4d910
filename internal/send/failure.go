package send

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/neterr"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/smtp"
)

// Exchange's connection-level statuses, as its queue (Get-Queue LastError)
// and message trace show them.
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

// failure is a problem that applies to every recipient of an attempt.
type failure struct {
	status  string
	reason  string
	message string
	outcome outcome.Outcome
	// ours: a status mailflow made up (see lasterror.Record.Ours).
	ours bool
	// tlsHandshake: the TLS handshake itself failed (not a certificate
	// verdict); opportunistic TLS may retry in plaintext.
	tlsHandshake bool
	// final: trying other hosts cannot help (a local problem).
	final bool
}

func (f *failure) Error() string { return f.status + " " + f.message }

// LastError is the record a sender keeps of a connection-level failure it
// words itself (status is one of the Status* constants): the diagnostics
// use it to show the LastError a sender would record.
func LastError(status, reason, message string, t Target, at time.Time) *lasterror.Record {
	return (&failure{status: status, reason: reason, message: message, ours: true}).lastError(t, at)
}

// lastError is the failure's record for the queue and the trace: the
// attempt on t at now.
func (f *failure) lastError(t Target, now time.Time) *lasterror.Record {
	e := lasterror.New(f.status)
	e.Message, e.Reason, e.Ours, e.Attempt = f.message, f.reason, f.ours, true
	e.Host, e.IP, e.Port, e.Time = t.Host, t.IP, t.Port, now
	return e
}

func deferred(status, reason, message string) *failure {
	return &failure{status: status, reason: reason, message: message, outcome: outcome.Deferred, ours: true}
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
