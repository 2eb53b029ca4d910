// Package neterr classifies network errors once for both directions of
// mail flow: whether an error is a timeout, a closed or reset connection,
// or a TLS alert from the peer, and the one name a failed TLS handshake
// gets after "TLS negotiation failed with error " in the receive and send
// protocol logs and in a delivery's last error. Classification uses
// errors.Is and errors.As on the standard library's error values; only
// crypto/tls's untyped certificate errors are recognised by their text.
package neterr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// IsTimeout reports a deadline or timeout: a context deadline, a
// connection deadline or a net.Error that says Timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// IsClosed reports a connection the peer closed or reset.
func IsClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// RemoteAlert returns the TLS alert the peer sent ("bad certificate"), and
// whether err is one. In TLS 1.3 a server rejecting a client certificate
// says so only after the client's side of the handshake completed, so the
// alert can also surface on the first read under TLS.
func RemoteAlert(err error) (string, bool) {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		return strings.TrimPrefix(op.Err.Error(), "tls: "), true
	}
	return "", false
}

// HandshakeName names a failed TLS handshake in Exchange's words:
// Timeout; SocketError (the peer closed or reset the connection);
// RemoteAlert(<alert>) when the peer refused with a TLS alert;
// UnknownCredentials (<detail>) for a certificate problem; IllegalMessage
// (<detail>) for anything else the peer sent that is not TLS as agreed.
func HandshakeName(err error) string {
	if alert, ok := RemoteAlert(err); ok {
		return "RemoteAlert(" + alert + ")"
	}
	switch {
	case IsTimeout(err):
		return "Timeout"
	case IsClosed(err):
		return "SocketError"
	case isCertificateError(err):
		return "UnknownCredentials (" + err.Error() + ")"
	}
	return "IllegalMessage (" + err.Error() + ")"
}

// isCertificateError reports a certificate that could not be verified or
// used. crypto/tls reports a certificate it cannot parse or is not given
// with plain errors whose only mark is the word, so those are recognised by
// the "certificate" in the message as a last resort.
func isCertificateError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		ierr x509.CertificateInvalidError
		herr x509.HostnameError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &ierr) || errors.As(err, &herr) ||
		strings.Contains(err.Error(), "certificate")
}
