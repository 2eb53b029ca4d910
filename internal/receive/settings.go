package receive

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/domain"
	"github.com/mailflowhq/mailflow/internal/netrange"
)

// Settings is one immutable, compiled view of the receive configuration.
type Settings struct {
	ServerName string
	ServerFQDN string
	Accepted   []string // accepted domain patterns ("contoso.com", "*.fabrikam.com")
	Connectors []*Connector
	Limits     config.Limits
	Roots      *x509.CertPool   // trust for client certificates (mutual TLS)
	Now        func() time.Time // certificate dates, banner, Received; the node binds its injected clock (time.Now from Compile)
}

// Connector is a receive connector compiled for fast per-connection use.
type Connector struct {
	Config    config.ReceiveConnector
	ID        string // SERVER\Connector name, as protocol logs name it
	Bindings  []netrange.Binding
	Ranges    []netrange.Range
	Selection certs.Selection // the certificate STARTTLS presents (Cert nil: not advertised)
	TLS       *tls.Config     // nil when STARTTLS is not offered
	Base      Permissions
	MaxSize   int64
	MaxRcpts  int
}

// Name is the connector's name.
func (c *Connector) Name() string { return c.Config.Name }

// ChecksClientCertificate reports whether STARTTLS asks for a client
// certificate and judges it: domain security, or an OnPremises connector
// that recognises its tenant's servers by certificate.
func (c *Connector) ChecksClientCertificate() bool {
	return c.Config.DomainSecureEnabled || c.OnPremises()
}

// OnPremises reports whether the connector is an inbound connector from the
// tenant's own on-premises servers (connector_type OnPremises).
func (c *Connector) OnPremises() bool { return c.Config.ConnectorType == config.ConnectorOnPremises }

// OffersTLS reports whether EHLO advertises STARTTLS.
func (c *Connector) OffersTLS() bool { return c.TLS != nil }

// Compile builds Settings from a validated configuration and a loaded
// certificate store. Warnings are what Exchange would write to its event
// log (12014: no certificate, STARTTLS not offered; 12016: expired
// certificate still used).
func Compile(cfg *config.Config, store *certs.Store, roots *x509.CertPool, now time.Time) (*Settings, []string, error) {
	s := &Settings{
		ServerName: cfg.Server.Name,
		ServerFQDN: cfg.Server.FQDN,
		Accepted:   append([]string(nil), cfg.AcceptedDomains...),
		Limits:     cfg.Limits,
		Roots:      roots,
		Now:        time.Now,
	}
	var warnings []string
	for i := range cfg.ReceiveConnectors {
		rc := cfg.ReceiveConnectors[i]
		if !rc.IsEnabled() {
			continue
		}
		c := &Connector{
			Config:   rc,
			ID:       cfg.Server.Name + `\` + rc.Name,
			Bindings: rc.ParsedBindings(),
			Ranges:   rc.Ranges(),
			Base:     basePermissions(&rc),
			MaxSize:  int64(cfg.Limits.MaxMessageSize),
			MaxRcpts: cfg.Limits.MaxRecipients,
		}
		if rc.MaxMessageSize > 0 {
			c.MaxSize = int64(rc.MaxMessageSize)
		}
		if rc.MaxRecipientsPerMessage > 0 {
			c.MaxRcpts = rc.MaxRecipientsPerMessage
		}
		if rc.HasAuth("Tls") {
			sel := store.Select(certs.Request{
				CertificateName: rc.TLSCertificateName,
				ConnectorFQDN:   rc.FQDN,
				ServerFQDN:      cfg.Server.FQDN,
				Connector:       c.ID,
				Now:             now,
			})
			c.Selection = sel
			if sel.Warning != "" {
				warnings = append(warnings, fmt.Sprintf("receive connector %q: %s", rc.Name, sel.Warning))
			}
			if sel.Cert != nil {
				c.TLS = serverTLSConfig(c, sel.Cert)
			}
		}
		s.Connectors = append(s.Connectors, c)
	}
	return s, warnings, nil
}

func serverTLSConfig(c *Connector, cert *certs.Certificate) *tls.Config {
	cfg := &tls.Config{
		Certificates:           []tls.Certificate{*cert.TLS()},
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
	}
	if c.ChecksClientCertificate() {
		// Request, don't require: a missing or wrong certificate gets an
		// SMTP refusal naming the reason instead of a bare TLS alert.
		cfg.ClientAuth = tls.RequestClientCert
	}
	return cfg
}

// ConnectorFor returns the connector for a connection: among enabled connectors
// with a binding that matches the local endpoint and a range that contains
// the remote address, a specific local IP binding beats 0.0.0.0/[::], then
// the most specific remote range wins. nil means no connector accepts it.
func (s *Settings) ConnectorFor(local, remote netip.AddrPort) *Connector {
	ra := remote.Addr().Unmap()
	var best *Connector
	var bestSpecific bool
	var bestRange netrange.Range
	for _, c := range s.Connectors {
		specific, ok := bindingMatch(c.Bindings, local)
		if !ok {
			continue
		}
		r, ok := mostSpecific(c.Ranges, ra)
		if !ok {
			continue
		}
		switch {
		case best == nil,
			specific && !bestSpecific,
			specific == bestSpecific && r.MoreSpecificThan(bestRange):
			best, bestSpecific, bestRange = c, specific, r
		}
	}
	return best
}

func bindingMatch(bs []netrange.Binding, local netip.AddrPort) (specific, ok bool) {
	for _, b := range bs {
		if b.Matches(local) {
			if b.Specific() {
				return true, true
			}
			ok = true
		}
	}
	return false, ok
}

func mostSpecific(rs []netrange.Range, a netip.Addr) (netrange.Range, bool) {
	var best netrange.Range
	found := false
	for _, r := range rs {
		if r.Contains(a) && (!found || r.MoreSpecificThan(best)) {
			best, found = r, true
		}
	}
	return best, found
}

// IsAccepted reports whether an accepted domain pattern covers d: the
// accepted-domain and relay checks of RCPT TO (the rule of domain.Match,
// so "*.fabrikam.com" covers sub.fabrikam.com and fabrikam.com).
func (s *Settings) IsAccepted(d string) bool { return domain.MatchAny(s.Accepted, d) }
