package dane

import (
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Params are the TLSA parameters to publish. The default, 3 1 1 (DANE-EE,
// public key, SHA-256), survives a renewal that keeps the key and needs
// no CA; 2 1 1 names the issuing CA's key instead.
type Params struct{ Usage, Selector, MatchingType uint8 }

// DefaultParams is 3 1 1.
var DefaultParams = Params{3, 1, 1}

// Check refuses parameters an SMTP client cannot use (RFC 7672 §3.1.3).
func (p Params) Check() error {
	switch {
	case p.Usage != 2 && p.Usage != 3:
		return fmt.Errorf("usage %d: SMTP senders use only 3 (DANE-EE, the server's own key) or 2 (DANE-TA, the issuing CA)", p.Usage)
	case p.Selector > 1:
		return fmt.Errorf("selector %d: use 1 (public key, survives a renewal that keeps the key) or 0 (whole certificate)", p.Selector)
	case p.MatchingType > 2:
		return fmt.Errorf("matching type %d: use 1 (SHA-256), 2 (SHA-512) or 0 (full data)", p.MatchingType)
	}
	return nil
}

// Record is one TLSA record to publish.
type Record struct {
	Owner      string        `json:"owner"` // "_25._tcp.mail.contoso.com."
	Host       string        `json:"host"`
	Port       int           `json:"port"`
	TLSA       tlscheck.TLSA `json:"tlsa"`
	Connector  string        `json:"connector,omitempty"`
	Thumbprint string        `json:"thumbprint"` // of the leaf the record is for
	For        string        `json:"for"`        // the subject of the certificate the record names
}

// String is the zone-file line.
func (r Record) String() string { return r.Owner + " IN TLSA " + r.TLSA.String() }

// For builds the record for a certificate chain (leaf first) served at
// host:port. Usage 2 names the chain's issuing CA, which must then be in
// the chain the server sends.
func For(chain []*x509.Certificate, host string, port int, p Params) (Record, error) {
	if err := p.Check(); err != nil {
		return Record{}, err
	}
	if len(chain) == 0 {
		return Record{}, errors.New("no certificate")
	}
	target := chain[0]
	if p.Usage == 2 {
		if len(chain) < 2 {
			return Record{}, fmt.Errorf("the certificate %s is sent without its issuer, so a DANE-TA (2 x x) record cannot match it: add the issuing CA to the certificate file, or publish 3 1 1", certs.FromX509(chain[0]).Subject)
		}
		target = chain[1]
	}
	t, err := tlscheck.RecordFor(target, p.Usage, p.Selector, p.MatchingType)
	if err != nil {
		return Record{}, err
	}
	host = strings.TrimSuffix(host, ".")
	return Record{Owner: dnsres.TLSAName(port, host), Host: host, Port: port, TLSA: t,
		Thumbprint: certs.Thumbprint(chain[0].Raw), For: certs.FromX509(target).Subject}, nil
}

// Chain parses a store certificate's chain (leaf first).
func Chain(c *certs.Certificate) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, raw := range c.Chain {
		x, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", c.Thumbprint, err)
		}
		out = append(out, x)
	}
	return out, nil
}

// Presented is what one receive connector presents: its FQDN, the ports
// of its bindings and the certificate its selection picks.
type Presented struct {
	Connector string
	FQDN      string
	Ports     []int
	Cert      *certs.Certificate // nil: no certificate, STARTTLS not offered
	Warning   string
}

// Connectors lists what the enabled receive connectors present (all of
// them when name is empty), with the store's own selection.
func Connectors(cfg *config.Config, store *certs.Store, name string, now time.Time) ([]Presented, error) {
	var out []Presented
	for i := range cfg.ReceiveConnectors {
		rc := &cfg.ReceiveConnectors[i]
		if name != "" && !strings.EqualFold(rc.Name, name) || name == "" && !rc.IsEnabled() {
			continue
		}
		sel := store.Select(certs.Request{CertificateName: rc.TLSCertificateName, ConnectorFQDN: rc.FQDN,
			ServerFQDN: cfg.Server.FQDN, Connector: rc.Name, Now: now})
		p := Presented{Connector: rc.Name, FQDN: rc.FQDN, Cert: sel.Cert, Warning: sel.Warning}
		if p.FQDN == "" {
			p.FQDN = cfg.Server.FQDN
		}
		p.Ports = Ports(rc)
		out = append(out, p)
	}
	if name != "" && len(out) == 0 {
		var names []string
		for _, rc := range cfg.ReceiveConnectors {
			names = append(names, rc.Name)
		}
		return nil, fmt.Errorf("no receive connector %q; the receive connectors are: %s", name, strings.Join(names, ", "))
	}
	return out, nil
}

// Ports are the distinct ports of a receive connector's bindings, in
// order: a TLSA record is published per port.
func Ports(rc *config.ReceiveConnector) []int {
	var ports []int
	seen := map[int]bool{}
	for _, b := range rc.ParsedBindings() {
		if port := int(b.Port); !seen[port] {
			seen[port] = true
			ports = append(ports, port)
		}
	}
	sort.Ints(ports)
	return ports
}

// ConnectorRecords builds the records to publish for what the receive
// connectors present (one connector when name is set), one per connector
// port. Connectors that present no certificate are listed in problems.
func ConnectorRecords(cfg *config.Config, store *certs.Store, name string, p Params, now time.Time) (recs []Record, problems []string, err error) {
	list, err := Connectors(cfg, store, name, now)
	if err != nil {
		return nil, nil, err
	}
	for _, pr := range list {
		if pr.Cert == nil {
			problems = append(problems, fmt.Sprintf("receive connector %q presents no certificate, so it offers no STARTTLS and nothing can be published: %s", pr.Connector, pr.Warning))
			continue
		}
		chain, err := Chain(pr.Cert)
		if err != nil {
			return nil, nil, err
		}
		for _, port := range pr.Ports {
			r, err := For(chain, pr.FQDN, port, p)
			if err != nil {
				problems = append(problems, fmt.Sprintf("receive connector %q: %v", pr.Connector, err))
				continue
			}
			r.Connector = pr.Connector
			recs = append(recs, r)
		}
	}
	return recs, problems, nil
}
