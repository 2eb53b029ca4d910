// Package outcome owns the result class of one delivery attempt to one
// recipient: Deferred, Delivered or Failed. The send connector decides it
// from the next hop's reply, local delivery and the queue's own verdicts
// (expiry, removal) use it too, and the queue acts on it (retry, done, DSN);
// all of them share this one type, so nothing translates between orders.
//
// It lives in its own package, beside none of them, because package send
// must not depend on the queue (which pulls in its stores) and the queue
// has no business importing the sender; both import this leaf.
//
// The zero value is Deferred: a result whose outcome was never set is
// retried, never taken for a delivery. The number is not stored anywhere
// (the queue keeps a recipient's State as text), but keep the order anyway.
package outcome

import "fmt"

// Outcome is the result class of one delivery attempt to one recipient.
type Outcome int

// Outcomes of a delivery attempt.
const (
	Deferred  Outcome = iota // transient (4xx, network, TLS): the queue retries later
	Delivered                // accepted by the next hop or stored locally
	Failed                   // permanent (5xx, no route): the queue sends a DSN
)

func (o Outcome) String() string {
	switch o {
	case Deferred:
		return "Deferred"
	case Delivered:
		return "Delivered"
	case Failed:
		return "Failed"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}
