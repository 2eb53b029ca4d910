package metrics

import (
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/queue"
)

// BenchmarkObserveDelivery is the cost the queue pays per recipient event
// for metrics: the observer runs on the delivery goroutine, so it must stay
// in the hundreds of nanoseconds.
func BenchmarkObserveDelivery(b *testing.B) {
	m := New()
	msg := &queue.Message{ID: "0123456789ABCDEF", Created: time.Now()}
	ok := queue.Event{Kind: queue.EventSend, Msg: msg, Time: time.Now(), Result: queue.Result{Route: "To partner", Status: "250 2.6.0 Queued mail for delivery"}}
	def := queue.Event{Kind: queue.EventDefer, Msg: msg, Time: time.Now(), Result: queue.Result{Route: "To partner", LastError: lasterror.New("450 4.7.320 Certificate validation failed")}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			m.Observe(ok)
		} else {
			m.Observe(def)
		}
	}
}

// BenchmarkSessionHooks is the per-session cost on the receive side: one
// handshake, one accepted message, one session end.
func BenchmarkSessionHooks(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.Handshake("Default Frontend SERVER1", "A727C88BC883617CEC601475588603DD7DAD2707", "TLS 1.3", true)
		m.Accepted("Default Frontend SERVER1")
		m.SessionEnded("Default Frontend SERVER1", "accepted")
	}
}
