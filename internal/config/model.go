// Package config owns mailflow's organisation model: the server, accepted
// domains, trust anchors, certificates, receive and send connectors, queue
// and admin settings, loaded from one YAML file.
//
// Key names are snake_case forms of the Exchange cmdlet parameters so that
// Exchange documentation applies; enumerated values are matched ignoring
// case and stored in Exchange's spelling (tls → Tls).
//
// Loading (Load, Parse) walks the YAML node tree itself instead of decoding
// into the struct: that way every problem — unknown key (with the nearest
// valid key suggested), wrong type, invalid value, conflicting connectors,
// open relay — is reported at once as Errors, each naming the file, the
// line, the dotted key and the fix, and a key→line map stays available to
// other packages (ErrorAt) for problems they find later, such as an
// unreadable certificate.
//
// Editing is config's alone: typed operations (SetConnectorFields,
// AddReceiveConnector, AddSendConnector, RemoveConnector, AddCertificate,
// RemoveCertificate; Apply for anything else) change the node tree, so
// comments survive, validates the new bytes with Parse before
// writing, and saves atomically (temporary file, fsync, rename, fsync of
// the directory). A refused edit leaves the file byte-identical.
package config

import (
	"time"

	"github.com/mailflowhq/mailflow/internal/netrange"
)

// Config is the whole organisation model of one mailflow server.
type Config struct {
	// Path is the file the configuration was loaded from; relative paths in
	// the file (certificates, data_dir) are resolved against its directory.
	Path string `yaml:"-"`

	Server            Server             `yaml:"server"`
	AcceptedDomains   []string           `yaml:"accepted_domains"`
	Trust             Trust              `yaml:"trust"`
	Certificates      []CertificateRef   `yaml:"certificates"`
	ReceiveConnectors []ReceiveConnector `yaml:"receive_connectors"`
	SendConnectors    []SendConnector    `yaml:"send_connectors"`
	Queue             Queue              `yaml:"queue"`
	Limits            Limits             `yaml:"limits"`
	Admin             Admin              `yaml:"admin"`
	TLSRPT            TLSRPT             `yaml:"tls_rpt"`
	Metrics           Metrics            `yaml:"metrics"`
	DNS               DNS                `yaml:"dns"`

	// lines maps dotted keys ("receive_connectors[1].bindings[0]") to
	// their line in Path, so that checks made after loading (certificate
	// files, live edits) can still point at the right line.
	lines map[string]int
	// bad holds keys that failed to decode; validation does not pile
	// follow-on errors on them.
	bad map[string]bool
}

// Server describes this transport server.
type Server struct {
	Name    string `yaml:"name"`     // NetBIOS-style name, used in connector ids (SERVER\Connector)
	FQDN    string `yaml:"fqdn"`     // last-resort name for certificate selection
	DataDir string `yaml:"data_dir"` // queue, mailboxes, logs, admin token
	// LogDir defaults to <data_dir>/logs; protocol logs go to
	// <log_dir>/ProtocolLog/SmtpReceive and .../SmtpSend, tracking to
	// <log_dir>/MessageTracking.
	LogDir string `yaml:"log_dir"`
	// CertificateExpiryWarning: warn this long before a certificate a
	// connector uses expires (default 30d; events 12017/12018).
	CertificateExpiryWarning Duration `yaml:"certificate_expiry_warning"`
}

// Trust lists extra CA certificates added to the system roots when
// validating peers (send side and mutual TLS on receive).
type Trust struct {
	CAFiles []string `yaml:"ca_files"`
	// SystemRoots: include the system roots (default true).
	SystemRoots *bool `yaml:"system_roots"`
}

// CertificateRef names a certificate file in the store.
type CertificateRef struct {
	File         string `yaml:"file"`          // PEM (chain + key) or PFX/P12
	KeyFile      string `yaml:"key_file"`      // PEM key when not in File
	PasswordFile string `yaml:"password_file"` // PFX password
	// ACME, when it has domains, makes mailflow obtain and renew this
	// certificate itself; File is then where it is kept (default
	// <data_dir>/acme/<first domain>.pem).
	ACME ACME   `yaml:"acme"`
	Line int    `yaml:"-"` // line of this entry in the file
	Key  string `yaml:"-"` // dotted key of this entry, "certificates[1]"
}

// ACME describes a certificate obtained from an ACME CA (RFC 8555).
type ACME struct {
	Domains   []string `yaml:"domains"`   // first one is the subject CN
	Directory string   `yaml:"directory"` // https URL of the CA's directory
	Email     string   `yaml:"email"`     // account contact (optional)
	// Challenge: tls-alpn-01 (default), http-01, or dns-01 (needs DNSHook).
	Challenge string `yaml:"challenge"`
	// ChallengeListen is where the challenge is answered: default ":443"
	// for tls-alpn-01 and ":80" for http-01.
	ChallengeListen string `yaml:"challenge_listen"`
	// DNSHook is run for dns-01 as: HOOK present|cleanup NAME VALUE.
	DNSHook string `yaml:"dns_hook"`
	// ReuseKey keeps the private key across renewals (DANE "3 1 1" records
	// stay valid).
	ReuseKey bool   `yaml:"reuse_key"`
	KeyType  string `yaml:"key_type"` // ecdsa-p256 (default), rsa-2048, rsa-3072
}

// Enabled reports whether the entry is an ACME certificate.
func (a ACME) Enabled() bool { return len(a.Domains) > 0 || a.Directory != "" }

// ReceiveConnector mirrors Exchange's receive connector.
type ReceiveConnector struct {
	Name                     string   `yaml:"name"`
	Enabled                  *bool    `yaml:"enabled"` // default true
	Bindings                 []string `yaml:"bindings"`
	RemoteIPRanges           []string `yaml:"remote_ip_ranges"`  // default: all IPv4 and all IPv6, as on Exchange
	FQDN                     string   `yaml:"fqdn"`              // default server.fqdn
	AuthMechanism            []string `yaml:"auth_mechanism"`    // default [Tls]; see AuthMechanisms
	PermissionGroups         []string `yaml:"permission_groups"` // default [AnonymousUsers]; see PermissionGroups
	TLSCertificateName       string   `yaml:"tls_certificate_name"`
	RequireTLS               bool     `yaml:"require_tls"`
	DomainSecureEnabled      bool     `yaml:"domain_secure_enabled"`
	TLSSenderCertificateName string   `yaml:"tls_sender_certificate_name"`
	ConnectorType            string   `yaml:"connector_type"`         // Partner (default) | OnPremises
	ProtocolLoggingLevel     string   `yaml:"protocol_logging_level"` // None (default) | Verbose
	AnonymousRelay           bool     `yaml:"anonymous_relay"`
	AllowOpenRelay           bool     `yaml:"allow_open_relay"`
	// AllowBasicAuthWithoutTLS permits BasicAuth without BasicAuthRequireTLS
	// on remote_ip_ranges beyond loopback: passwords would cross the
	// network in clear text.
	AllowBasicAuthWithoutTLS bool     `yaml:"allow_basic_auth_without_tls"`
	MaxMessageSize           ByteSize `yaml:"max_message_size"`           // default limits.max_message_size
	MaxRecipientsPerMessage  int      `yaml:"max_recipients_per_message"` // default limits.max_recipients
	Line                     int      `yaml:"-"`                          // line of this entry in the file
	Key                      string   `yaml:"-"`                          // dotted key of this entry, "receive_connectors[1]"

	// Parsed forms of Bindings and RemoteIPRanges, filled by Validate so
	// that connector selection does not parse on every connection.
	bindings []netrange.Binding
	ranges   []netrange.Range
}

// SendConnector mirrors Exchange's send connector.
type SendConnector struct {
	Name                 string   `yaml:"name"`
	Enabled              *bool    `yaml:"enabled"` // default true
	AddressSpaces        []string `yaml:"address_spaces"`
	SmartHosts           []string `yaml:"smart_hosts"`
	Port                 int      `yaml:"port"` // default 25 for smart hosts without a port and MX
	FQDN                 string   `yaml:"fqdn"` // default server.fqdn
	RequireTLS           bool     `yaml:"require_tls"`
	TLSAuthLevel         string   `yaml:"tls_auth_level"` // EncryptionOnly | CertificateValidation | DomainValidation; default EncryptionOnly with require_tls
	TLSDomain            string   `yaml:"tls_domain"`
	TLSCertificateName   string   `yaml:"tls_certificate_name"`
	SourceIP             string   `yaml:"source_ip"`
	ProtocolLoggingLevel string   `yaml:"protocol_logging_level"` // None (default) | Verbose
	ConnectTimeout       Duration `yaml:"connect_timeout"`        // default 30s
	// Connection reuse (Exchange's MaxMessagesPerConnection and
	// MaxPerDomainOutboundConnections): messages sent over one connection
	// to a next hop (1 = a new connection per message), connections open
	// at once to one next hop, and how long an idle connection is kept.
	MaxMessagesPerConnection int      `yaml:"max_messages_per_connection"` // default 20
	MaxPerDomainConnections  int      `yaml:"max_per_domain_connections"`  // default 20
	ConnectionIdleTimeout    Duration `yaml:"connection_idle_timeout"`     // default 5s
	MTASTS                   string   `yaml:"mta_sts"`                     // enforce (default: each policy's own mode) | off
	// DANE is opportunistic | required | off: how authenticated TLSA
	// records of the next hop are used (default opportunistic when
	// dns.dnssec is trust_ad, else off).
	DANE string `yaml:"dane"`
	Line int    `yaml:"-"` // line of this entry in the file
	Key  string `yaml:"-"` // dotted key of this entry, "send_connectors[0]"
}

// Queue holds retry and expiry settings and where the queue is kept.
type Queue struct {
	RetryIntervals []Duration `yaml:"retry_intervals"` // default 1m,5m,15m,30m,1h (then 1h)
	Expiry         Duration   `yaml:"expiry"`          // default 24h
	Concurrency    int        `yaml:"concurrency"`     // parallel deliveries, default 20
	// Backend is "bbolt" (default: one file in data_dir, one node) or
	// "postgres" (a queue shared by every node using the same database).
	Backend string `yaml:"backend"`
	// DSN, DSNFile or the MAILFLOW_QUEUE_DSN environment variable give the
	// PostgreSQL connection string (the file and the variable keep a
	// password out of the YAML).
	DSN     string   `yaml:"dsn"`
	DSNFile string   `yaml:"dsn_file"`
	Lease   Duration `yaml:"lease"` // how long a node holds a claimed delivery without renewing, default 30s
}

// Queue backends.
const (
	QueueBbolt    = "bbolt"
	QueuePostgres = "postgres"
)

// Limits protect the server.
type Limits struct {
	MaxMessageSize      ByteSize `yaml:"max_message_size"`       // default 36 MB
	MaxRecipients       int      `yaml:"max_recipients"`         // default 200
	MaxConnectionsPerIP int      `yaml:"max_connections_per_ip"` // default 50
	MaxConnections      int      `yaml:"max_connections"`        // default 5000
	// MaxOutboundConnections bounds the connections the send connectors
	// keep open to all next hops together.
	MaxOutboundConnections int      `yaml:"max_outbound_connections"` // default 100
	ReadTimeout            Duration `yaml:"read_timeout"`             // default 5m
	DataTimeout            Duration `yaml:"data_timeout"`             // default 10m
	MaxProtocolErrors      int      `yaml:"max_protocol_errors"`      // default 10, then 421
	TLSHandshakeTimeout    Duration `yaml:"tls_handshake_timeout"`    // default 30s

	// SMTP AUTH abuse limits (see receive's authLimiter): failures counted
	// per client IP and per user within auth_failure_window; each failure
	// from an IP slows the next answer (auth_tarpit, doubling); at the
	// thresholds the IP or the user is locked out for auth_lockout.
	AuthFailuresPerIP   int      `yaml:"auth_failures_per_ip"`   // default 10
	AuthFailuresPerUser int      `yaml:"auth_failures_per_user"` // default 20
	AuthFailureWindow   Duration `yaml:"auth_failure_window"`    // default 15m
	AuthLockout         Duration `yaml:"auth_lockout"`           // default 15m
	AuthTarpit          Duration `yaml:"auth_tarpit"`            // default 1s
	// UserMessageRate is the messages an authenticated user may submit per
	// minute (Exchange Online's 30); 0 is refused, write a large number
	// for "unlimited".
	UserMessageRate int `yaml:"user_message_rate"` // default 30
}

// Admin configures the loopback HTTP API.
type Admin struct {
	Listen    string `yaml:"listen"`     // default 127.0.0.1:8025; "off" disables
	TokenFile string `yaml:"token_file"` // default <data_dir>/admin.token
	// TLSCertificateName and AllowNonLoopback: listening beyond loopback
	// requires allow_non_loopback: true and a certificate (TLS).
	AllowNonLoopback   bool   `yaml:"allow_non_loopback"`
	TLSCertificateName string `yaml:"tls_certificate_name"`
}

// Metrics is the optional separate, unauthenticated /metrics listener.
// /metrics is always served on the admin listener too, behind the admin
// token as a bearer credential.
type Metrics struct {
	Listen string `yaml:"listen"` // "" (default) = only on the admin listener
}

// Duration is a time.Duration written as "90s", "5m", "24h".
type Duration time.Duration

// ByteSize is a size written as 1048576, "36MB", "512KB".
type ByteSize int64
