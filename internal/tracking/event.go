package tracking

import "time"

// Event is one message tracking record. Time is UTC with millisecond
// precision once written.
type Event struct {
	Time              time.Time
	ClientIP          string
	ClientHostname    string
	ServerIP          string
	ServerHostname    string
	SourceContext     string
	ConnectorID       string
	Source            string // SMTP, STOREDRIVER, DSN, ROUTING, QUEUE, AGENT, …
	EventID           string // RECEIVE, SEND, DELIVER, DEFER, FAIL, DSN, …
	InternalMessageID string
	MessageID         string
	NetworkMessageID  string
	Recipients        []string
	// RecipientStatus holds one entry per recipient where the event has
	// them: "250 2.1.5 Recipient OK", or on DEFER/FAIL the send detail
	// "{LED=450 4.7.320 …};{MSG=…};{FQDN=…};{IP=…};{LRT=…}".
	RecipientStatus  []string
	TotalBytes       int64
	RecipientCount   int
	RelatedRecipient string
	Reference        string
	Subject          string
	Sender           string
	ReturnPath       string
	MessageInfo      string
	Directionality   string // Incoming, Originating
	TenantID         string
	OriginalClientIP string
	OriginalServerIP string
	CustomData       string
	// TransportTrafficType, LogID and SchemaVersion are the 2013+ trailing
	// columns; the writer fills SchemaVersion with its Version when empty.
	TransportTrafficType string
	LogID                string
	SchemaVersion        string
}

// Sources Exchange writes in the source column.
const (
	SourceSMTP        = "SMTP"
	SourceStoreDriver = "STOREDRIVER"
	SourceDSN         = "DSN"
	SourceRouting     = "ROUTING"
	SourceQueue       = "QUEUE"
	SourceAgent       = "AGENT"
)

// Event ids Exchange writes in the event-id column.
const (
	EventReceive       = "RECEIVE"
	EventSend          = "SEND"
	EventDeliver       = "DELIVER"
	EventDefer         = "DEFER"
	EventFail          = "FAIL"
	EventDSN           = "DSN"
	EventExpand        = "EXPAND"
	EventResolve       = "RESOLVE"
	EventTransfer      = "TRANSFER"
	EventSubmit        = "SUBMIT"
	EventDrop          = "DROP"
	EventPoisonMessage = "POISONMESSAGE"
	EventResubmit      = "RESUBMIT"
	// mailflow's own, for what its queue does that Exchange logs
	// differently: a recipient whose message expired, and a message an
	// administrator removed.
	EventExpire = "EXPIRE"
	EventRemove = "REMOVE"
)

// Fields are the Exchange 2013+ message tracking columns, in order.
var Fields = []string{
	"date-time", "client-ip", "client-hostname", "server-ip", "server-hostname",
	"source-context", "connector-id", "source", "event-id", "internal-message-id",
	"message-id", "network-message-id", "recipient-address", "recipient-status",
	"total-bytes", "recipient-count", "related-recipient-address", "reference",
	"message-subject", "sender-address", "return-path", "message-info",
	"directionality", "tenant-id", "original-client-ip", "original-server-ip",
	"custom-data", "transport-traffic-type", "log-id", "schema-version",
}
