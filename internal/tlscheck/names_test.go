package tlscheck

import (
	"crypto/tls"
	"testing"
)

// TestCipherSuiteName gives the standard library's name for every suite
// it knows and for unknown ones.
func TestCipherSuiteName(t *testing.T) {
	ids := []uint16{0x0000, 0xfafa}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		ids = append(ids, cs.ID)
	}
	for _, id := range ids {
		if got, want := CipherSuiteName(id), tls.CipherSuiteName(id); got != want {
			t.Errorf("CipherSuiteName(%#04x) = %q, want %q", id, got, want)
		}
	}
}
