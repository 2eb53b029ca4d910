package queue

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// Envelope is what the receiver knew about a message when it accepted it.
type Envelope struct {
	From        string    `json:"from"` // "" is the null sender (bounces, DSNs)
	To          []string  `json:"to"`
	ReceivedAt  time.Time `json:"received_at"`
	RemoteAddr  string    `json:"remote_addr,omitempty"`
	HeloName    string    `json:"helo_name,omitempty"`
	ConnectorID string    `json:"connector_id,omitempty"`
	TLS         bool      `json:"tls,omitempty"`
	MessageID   string    `json:"message_id,omitempty"` // the Message-ID header
	Subject     string    `json:"subject,omitempty"`
	Size        int64     `json:"size"`
	// AuthUser is the SMTP AUTH identity that submitted the message.
	AuthUser string `json:"auth_user,omitempty"`
	// RequireTLS: the message arrived with MAIL FROM … REQUIRETLS (RFC
	// 8689); every hop must be validated by DANE or MTA-STS and offer
	// REQUIRETLS. Absent in records written before it existed (false).
	RequireTLS bool `json:"require_tls,omitempty"`
	// TLSOptional: the message carries "TLS-Required: No" (RFC 8689 §5):
	// deliver even when DANE or MTA-STS checks fail. Never set together
	// with RequireTLS.
	TLSOptional bool `json:"tls_optional,omitempty"`
}

// State is where one recipient of a message stands.
type State string

// Recipient states. Ready and Retry are pending (the queue still owes a
// delivery); Delivered and Failed are final.
const (
	StateReady     State = "Ready"
	StateRetry     State = "Retry"
	StateDelivered State = "Delivered"
	StateFailed    State = "Failed"
)

// Pending reports whether the queue still has to deliver to the recipient.
func (s State) Pending() bool { return s == StateReady || s == StateRetry }

func (s State) valid() bool {
	return s.Pending() || s == StateDelivered || s == StateFailed
}

// Recipient is the per-recipient delivery state of a message.
type Recipient struct {
	Addr     string `json:"addr"`
	State    State  `json:"state"`
	Attempts int    `json:"attempts"`
	// LastError is the last failure as fields (nil after a delivery); its
	// String is what the queue list, the trace and the DSN show, e.g.
	// "{LED=450 4.7.320 Certificate validation failed …};{MSG=…};…". See
	// recipient_json.go for how it is stored.
	LastError   *lasterror.Record `json:"-"`
	LastAttempt time.Time         `json:"last_attempt,omitzero"`
	NextAttempt time.Time         `json:"next_attempt,omitzero"`
	// Route is the send connector (or "Local") the last attempt used.
	Route string `json:"route,omitempty"`
}

// Message is one queued message: its envelope and per-recipient state.
// The body is kept by the Store and read on demand.
type Message struct {
	// ID is 16 upper-case hexadecimal characters; ids sort in queueing order
	// (milliseconds since 1970 in the high 44 bits, a sequence below).
	ID         string      `json:"id"`
	Env        Envelope    `json:"env"`
	Recipients []Recipient `json:"recipients"`
	Created    time.Time   `json:"created"`
	Expires    time.Time   `json:"expires"`
	// Lease is filled in by a shared store's List and Get (never stored in
	// the record); empty with the embedded store.
	Lease Lease `json:"lease,omitzero"`

	// claim identifies the lease a shared store's Claim gave this copy;
	// Settle and Renew are fenced with it.
	claim int64
}

// Clone returns a deep copy, so that callers and observers never share
// state with the scheduler.
func (m *Message) Clone() *Message {
	c := *m
	c.Env.To = append([]string(nil), m.Env.To...)
	c.Recipients = append([]Recipient(nil), m.Recipients...)
	return &c
}

// Pending lists the addresses still owed a delivery.
func (m *Message) Pending() []string {
	var out []string
	for _, r := range m.Recipients {
		if r.State.Pending() {
			out = append(out, r.Addr)
		}
	}
	return out
}

// IsDSN reports whether the message has the null sender, as every delivery
// status notification does. Such a message never causes a DSN itself.
func (e Envelope) IsDSN() bool { return isNullSender(e.From) }

func isNullSender(from string) bool {
	f := strings.TrimSpace(from)
	return f == "" || f == "<>"
}

// Deliverer performs one delivery attempt of a message to some of its
// recipients (those due now) and reports one Result per recipient. The
// server implements it with route + send + mailbox. body may be called
// more than once (e.g. once per route); each reader must be closed.
//
// Deliver must honour ctx: when the queue shuts down, unfinished
// recipients should come back as Deferred. A recipient missing from the
// results is treated as Deferred.
type Deliverer interface {
	Deliver(ctx context.Context, m *Message, body func() (io.ReadCloser, error), rcpts []string) []Result
}

// DelivererFunc adapts a function to Deliverer.
type DelivererFunc func(ctx context.Context, m *Message, body func() (io.ReadCloser, error), rcpts []string) []Result

// Deliver calls f.
func (f DelivererFunc) Deliver(ctx context.Context, m *Message, body func() (io.ReadCloser, error), rcpts []string) []Result {
	return f(ctx, m, body, rcpts)
}

// Result is the outcome of an attempt for one recipient.
type Result struct {
	Rcpt    string
	Outcome outcome.Outcome
	// Status is the next hop's reply to a delivery ("250 2.6.0 … Queued
	// mail for delivery"), or a note for an event that is not an attempt
	// ("removed by an administrator").
	Status string
	// LastError is why a Deferred or Failed attempt did not deliver; the queue
	// keeps it as Recipient.LastError. Without one the queue records a
	// generic failure (451 4.4.0 or 550 5.0.0).
	LastError  *lasterror.Record
	RemoteHost string
	RemoteIP   string
	// Route names what handled the recipient: the send connector's name,
	// or "Local" for mailbox delivery. It is kept in Recipient.Route.
	Route string
	// TLS is the send session's TLS verdict as the tracking log's
	// custom-data records it (send.Result.TrackingData); empty for local
	// delivery and for events that are not an attempt.
	TLS string
	// Local is true for delivery to the local mailbox store; tracking then
	// records DELIVER rather than SEND.
	Local bool
}

// Event kinds reported to the Observer: the message tracking event ids,
// defined once by package tracking.
const (
	EventSend    = tracking.EventSend    // handed to the next hop
	EventDeliver = tracking.EventDeliver // stored in a local mailbox
	EventDefer   = tracking.EventDefer   // transient failure, will retry
	EventFail    = tracking.EventFail    // permanent failure
	EventDSN     = tracking.EventDSN     // a delivery status notification was queued
	EventExpire  = tracking.EventExpire  // the message expired for this recipient
	EventRemove  = tracking.EventRemove  // an administrator removed the message
)

// Event is one tracking record.
type Event struct {
	Kind string
	// Msg is a snapshot of the message after the event (for DSN: the new
	// notification message).
	Msg    *Message
	Rcpt   string
	Result Result
	Time   time.Time
	// RelatedID is, for DSN, the id of the message the notification is
	// about.
	RelatedID string
	// Node is the node that recorded the event when the queue is shared.
	Node string
}

// Observer receives events (message tracking, metrics). It is called
// synchronously from delivery goroutines, after the state it describes is
// durable, and must be safe for concurrent use and quick.
type Observer interface {
	Observe(ev Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ev Event)

// Observe calls f.
func (f ObserverFunc) Observe(ev Event) { f(ev) }
