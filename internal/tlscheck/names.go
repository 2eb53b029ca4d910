package tlscheck

import (
	"crypto/tls"
	"sync"
)

// cipherSuiteNames maps every suite crypto/tls knows to its name, built once.
var cipherSuiteNames = sync.OnceValue(func() map[uint16]string {
	m := map[uint16]string{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		m[cs.ID] = cs.Name
	}
	return m
})

// CipherSuiteName is the standard name of a negotiated cipher suite, as
// tls.CipherSuiteName gives it. The standard library rebuilds its whole
// suite list on every call; the receive and send sides ask once per
// handshake, so the names are looked up in a table built once instead.
func CipherSuiteName(id uint16) string {
	if name, ok := cipherSuiteNames()[id]; ok {
		return name
	}
	return tls.CipherSuiteName(id) // "0x1301"-style for an unknown suite
}
