package receive

import (
	"crypto/tls"
	"strings"
	"testing"
)

// BenchmarkSTARTTLSSession is one fresh session as bench/run's handshake
// part makes it — greeting, EHLO, STARTTLS, handshake, EHLO, QUIT — on a
// connector with the protocol log off (the default). ns/op and allocs/op
// count the client and the server together; the handshake is most of both,
// so a change in the session's own cost shows as a change of a few
// allocations per op (go test -bench STARTTLSSession -benchmem, compare
// with benchstat).
func BenchmarkSTARTTLSSession(b *testing.B) {
	h := newHarness(b, harnessConfig("", strings.Replace(defaultConnector, "Verbose", "None", 1)))
	cfg := &tls.Config{InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.X25519}, MinVersion: tls.VersionTLS13}
	b.ReportAllocs()
	for b.Loop() {
		c := h.dial(b, "127.0.0.1")
		c.ehlo("bench.test")
		c.startTLS(cfg)
		c.ehlo("bench.test")
		c.quit()
		c.conn.Close()
	}
}
