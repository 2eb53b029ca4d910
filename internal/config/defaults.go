package config

import (
	"time"

	"github.com/mailflowhq/mailflow/internal/netrange"
	"github.com/mailflowhq/mailflow/internal/send"
)

// Defaults, where Exchange has one, are Exchange's.
const (
	DefaultDataDir             = "./data"
	DefaultExpiry              = Duration(24 * time.Hour)
	DefaultConcurrency         = 20
	DefaultMaxMessageSize      = ByteSize(36 << 20) // 37748736, Exchange's 36 MB
	DefaultMaxRecipients       = 200
	DefaultMaxConnectionsPerIP = 50
	DefaultMaxConnections      = 5000
	// The transport's own defaults, named here once for the file.
	DefaultMaxOutboundConnections = send.DefaultMaxConnections
	DefaultReadTimeout            = Duration(5 * time.Minute)
	DefaultDataTimeout            = Duration(10 * time.Minute)
	DefaultMaxProtocolErrors      = 10
	DefaultTLSHandshakeTimeout    = Duration(30 * time.Second)
	DefaultAuthFailuresPerIP      = 10
	DefaultAuthFailuresPerUser    = 20
	DefaultAuthFailureWindow      = Duration(15 * time.Minute)
	DefaultAuthLockout            = Duration(15 * time.Minute)
	DefaultAuthTarpit             = Duration(time.Second)
	DefaultUserMessageRate        = 30 // per minute, Exchange Online's rate
	DefaultAdminListen            = "127.0.0.1:8025"
	DefaultSMTPPort               = send.DefaultPort
	DefaultConnectTimeout         = Duration(30 * time.Second)
	// Connection reuse on send connectors: Exchange's defaults for
	// MaxMessagesPerConnection and MaxPerDomainOutboundConnections, and a
	// short idle time (send.Pool says why).
	DefaultMaxMessagesPerConnection = send.DefaultMaxMessagesPerConnection
	DefaultMaxPerDomainConnections  = send.DefaultMaxPerHopConnections
	DefaultConnectionIdleTimeout    = Duration(send.DefaultIdleTimeout)
	DefaultLease                    = Duration(30 * time.Second)
)

// DefaultRetryIntervals is the queue's retry schedule; the last interval
// repeats until the message expires.
func DefaultRetryIntervals() []Duration {
	return []Duration{
		Duration(time.Minute), Duration(5 * time.Minute), Duration(15 * time.Minute),
		Duration(30 * time.Minute), Duration(time.Hour),
	}
}

// written reports whether the file set key. A number written as 0 is then
// an error (Validate), not a silent default: "max_connections: 0" more
// likely means "unlimited" than "5000".
func (c *Config) written(key string) bool {
	_, ok := c.lines[key]
	return ok
}

// ApplyDefaults fills every setting the file left out. Parse calls it;
// call it yourself before Validate on a Config built in code.
func (c *Config) ApplyDefaults() {
	if c.Server.DataDir == "" {
		c.Server.DataDir = DefaultDataDir
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}

	q := &c.Queue
	if len(q.RetryIntervals) == 0 && !c.written("queue.retry_intervals") {
		q.RetryIntervals = DefaultRetryIntervals()
	}
	setDuration(c, &q.Expiry, "queue.expiry", DefaultExpiry)
	setInt(c, &q.Concurrency, "queue.concurrency", DefaultConcurrency)
	setDuration(c, &q.Lease, "queue.lease", DefaultLease)
	if q.Backend == "" {
		q.Backend = QueueBbolt
	}

	l := &c.Limits
	if l.MaxMessageSize == 0 && !c.written("limits.max_message_size") {
		l.MaxMessageSize = DefaultMaxMessageSize
	}
	setInt(c, &l.MaxRecipients, "limits.max_recipients", DefaultMaxRecipients)
	setInt(c, &l.MaxConnectionsPerIP, "limits.max_connections_per_ip", DefaultMaxConnectionsPerIP)
	setInt(c, &l.MaxConnections, "limits.max_connections", DefaultMaxConnections)
	setInt(c, &l.MaxOutboundConnections, "limits.max_outbound_connections", DefaultMaxOutboundConnections)
	setDuration(c, &l.ReadTimeout, "limits.read_timeout", DefaultReadTimeout)
	setDuration(c, &l.DataTimeout, "limits.data_timeout", DefaultDataTimeout)
	setInt(c, &l.MaxProtocolErrors, "limits.max_protocol_errors", DefaultMaxProtocolErrors)
	setDuration(c, &l.TLSHandshakeTimeout, "limits.tls_handshake_timeout", DefaultTLSHandshakeTimeout)
	setInt(c, &l.AuthFailuresPerIP, "limits.auth_failures_per_ip", DefaultAuthFailuresPerIP)
	setInt(c, &l.AuthFailuresPerUser, "limits.auth_failures_per_user", DefaultAuthFailuresPerUser)
	setDuration(c, &l.AuthFailureWindow, "limits.auth_failure_window", DefaultAuthFailureWindow)
	setDuration(c, &l.AuthLockout, "limits.auth_lockout", DefaultAuthLockout)
	setDuration(c, &l.AuthTarpit, "limits.auth_tarpit", DefaultAuthTarpit)
	setInt(c, &l.UserMessageRate, "limits.user_message_rate", DefaultUserMessageRate)

	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		if len(rc.AuthMechanism) == 0 {
			rc.AuthMechanism = []string{AuthTLS}
		}
		if len(rc.PermissionGroups) == 0 {
			rc.PermissionGroups = []string{PermAnonymousUsers}
		}
		if rc.ProtocolLoggingLevel == "" {
			rc.ProtocolLoggingLevel = LoggingNone
		}
		if rc.ConnectorType == "" {
			rc.ConnectorType = ConnectorPartner
		}
		if len(rc.RemoteIPRanges) == 0 && !c.written(rc.Key+".remote_ip_ranges") {
			// Exchange's default for a new connector: every address.
			rc.RemoteIPRanges = []string{netrange.All4.Text, netrange.All6.Text}
		}
		if rc.FQDN == "" {
			rc.FQDN = c.Server.FQDN
		}
		if rc.MaxMessageSize == 0 && !c.written(rc.Key+".max_message_size") {
			rc.MaxMessageSize = c.Limits.MaxMessageSize
		}
		if rc.MaxRecipientsPerMessage == 0 && !c.written(rc.Key+".max_recipients_per_message") {
			rc.MaxRecipientsPerMessage = c.Limits.MaxRecipients
		}
	}
	for i := range c.SendConnectors {
		sc := &c.SendConnectors[i]
		setInt(c, &sc.Port, sc.Key+".port", DefaultSMTPPort)
		if sc.FQDN == "" {
			sc.FQDN = c.Server.FQDN
		}
		if sc.RequireTLS && sc.TLSAuthLevel == "" {
			sc.TLSAuthLevel = EncryptionOnly
		}
		if sc.ProtocolLoggingLevel == "" {
			sc.ProtocolLoggingLevel = LoggingNone
		}
		setDuration(c, &sc.ConnectTimeout, sc.Key+".connect_timeout", DefaultConnectTimeout)
		setInt(c, &sc.MaxMessagesPerConnection, sc.Key+".max_messages_per_connection", DefaultMaxMessagesPerConnection)
		setInt(c, &sc.MaxPerDomainConnections, sc.Key+".max_per_domain_connections", DefaultMaxPerDomainConnections)
		setDuration(c, &sc.ConnectionIdleTimeout, sc.Key+".connection_idle_timeout", DefaultConnectionIdleTimeout)
		if sc.MTASTS == "" {
			sc.MTASTS = MTASTSEnforce
		}
	}
	c.applyTLSRPTDefaults()
	c.dnsDefaults()
}

func setInt(c *Config, v *int, key string, def int) {
	if *v == 0 && !c.written(key) {
		*v = def
	}
}

func setDuration(c *Config, v *Duration, key string, def Duration) {
	if *v == 0 && !c.written(key) {
		*v = def
	}
}
