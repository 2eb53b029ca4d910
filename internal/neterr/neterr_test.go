package neterr

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

// One name per kind of handshake failure, whichever side saw it and
// however deeply the error is wrapped.
func TestHandshakeName(t *testing.T) {
	alert := &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}
	tests := []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "Timeout"},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), "Timeout"},
		{io.EOF, "SocketError"},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, "SocketError"},
		{fmt.Errorf("smtp: TLS handshake: %w", alert), "RemoteAlert(bad certificate)"},
		{fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), "UnknownCredentials (x: x509: certificate signed by unknown authority)"},
		{errors.New("tls: failed to parse client certificate: asn1"), "UnknownCredentials (tls: failed to parse client certificate: asn1)"},
		{errors.New("tls: first record does not look like a TLS handshake"), "IllegalMessage (tls: first record does not look like a TLS handshake)"},
	}
	for _, tt := range tests {
		if got := HandshakeName(tt.err); got != tt.want {
			t.Errorf("HandshakeName(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if _, ok := RemoteAlert(io.EOF); ok {
		t.Error("EOF is not a remote alert")
	}
}
