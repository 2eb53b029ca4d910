package certs

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Store is an immutable set of certificates, the "personal store on the local
// computer" of an Exchange server.
type Store struct{ certs []*Certificate }

// NewStore builds a store.
func NewStore(certs ...*Certificate) *Store { return &Store{certs: certs} }

// All returns the certificates in load order.
func (s *Store) All() []*Certificate { return s.certs }

// Request says what a connector asks of the store.
type Request struct {
	CertificateName string // connector TlsCertificateName "<I>…<S>…" (may be empty)
	ConnectorFQDN   string
	ServerFQDN      string
	Connector       string    // connector name, for warnings (event 12014)
	Now             time.Time // zero = time.Now()
	// Version selects the rules of an Exchange release (see Version); the
	// zero value is mailflow's own, those of Exchange 2013 and later.
	Version Version
}

func (r Request) now() time.Time {
	if r.Now.IsZero() {
		return time.Now()
	}
	return r.Now
}

// Selection is the outcome of Select.
type Selection struct {
	Cert    *Certificate // nil when nothing matched
	Sought  string       // the name or <I><S> value that was sought
	Pinned  bool         // chosen by CertificateName
	Expired bool         // chosen certificate is expired (event 12016)
	Warning string       // human text like events 12014 / 12016, empty when fine
	// Note says how the version's rules shaped the choice (an ignored
	// TlsCertificateName on Exchange 2010); empty when they did not.
	Note string
	// Candidates are the eligible certificates in ranking order (Cert is one
	// of them); diagnostics show them to explain the choice.
	Candidates []*Certificate
}

// Select chooses the certificate a receive connector presents for STARTTLS,
// following Exchange's documented selection (Microsoft Learn, "Selection of
// inbound STARTTLS certificates"):
//
//  1. With CertificateName ("<I>issuer<S>subject") the candidates are the
//     certificates with a private key whose issuer AND subject are those
//     names (case- and spacing-insensitive), so a renewal with the same issuer
//     and subject is picked up without reconfiguration.
//  2. Otherwise the sought name is ConnectorFQDN, or ServerFQDN when the
//     connector has none, and the candidates are the certificates with a
//     private key holding that name in their CN or a DNS SAN (wildcards
//     included). A connector FQDN that matches nothing does not fall back to
//     the server FQDN; Exchange does not either (event 12014 names the
//     connector FQDN).
//
// Candidates are ranked by NotBefore, newest first, then NotAfter, latest
// first. The first valid CA-issued one wins; failing that the first valid
// self-signed one; failing that the first by rank, which is still used
// (Expired and a warning like event 12016 when it has expired). With no
// candidate Cert is nil and Warning reads like event 12014: STARTTLS must not
// be offered.
//
// With Version Exchange2010 CertificateName is ignored (Note says so) and
// candidates are ranked by the longest validity instead (NotAfter latest,
// then NotBefore newest), with the same preference for valid CA-issued
// certificates.
func (s *Store) Select(r Request) Selection {
	now := r.now()
	note := ""
	if r.CertificateName != "" && !r.Version.HasCertificateName() {
		note = ignoredPinNote(r.Version, r.CertificateName, fqdnOf(r))
		r.CertificateName = ""
	}
	rank := rankReceive
	if r.Version == Exchange2010 {
		rank = rankLongest
	}
	if r.CertificateName != "" {
		sel := Selection{Sought: r.CertificateName, Pinned: true}
		matched, err := s.byName(r.CertificateName)
		if err != nil {
			sel.Warning = fmt.Sprintf("tls_certificate_name of connector %s is not valid: %v", connectorLabel(r.Connector), err)
			return sel
		}
		sel.Candidates = rank(withKey(matched))
		if len(sel.Candidates) == 0 {
			sel.Warning = event12014(r.CertificateName, r, keylessNote(matched))
			return sel
		}
		return pickReceive(sel, now, r)
	}

	fqdn := r.ConnectorFQDN
	if fqdn == "" {
		fqdn = r.ServerFQDN
	}
	sel := Selection{Sought: fqdn, Note: note}
	if fqdn == "" {
		sel.Warning = fmt.Sprintf("connector %s has no fqdn and the server has no fqdn: there is no name to look for a certificate by, so STARTTLS cannot be offered — set fqdn or tls_certificate_name", connectorLabel(r.Connector))
		return sel
	}
	matched := s.byHost(fqdn)
	sel.Candidates = rank(withKey(matched))
	if len(sel.Candidates) == 0 {
		sel.Warning = event12014(fqdn, r, keylessNote(matched))
		return sel
	}
	return pickReceive(sel, now, r)
}

// pickReceive applies the validity preferences to ranked candidates.
func pickReceive(sel Selection, now time.Time, r Request) Selection {
	valid := func(c *Certificate) bool { return validAt(c, now) }
	for _, want := range []func(*Certificate) bool{
		func(c *Certificate) bool { return valid(c) && !c.SelfSigned },
		func(c *Certificate) bool { return valid(c) && c.SelfSigned },
	} {
		for _, c := range sel.Candidates {
			if want(c) {
				sel.Cert = c
				return sel
			}
		}
	}
	c := sel.Candidates[0]
	sel.Cert = c
	if c.Expired(now) {
		sel.Expired = true
		sel.Warning = fmt.Sprintf("There is no valid SMTP Transport Layer Security (TLS) certificate for the FQDN of %s. "+
			"The existing certificate for that FQDN has expired (thumbprint %s, expired %s). "+
			"The SMTP service will use the expired certificate until an updated certificate is available "+
			"(event 12016; connector %s) — renew the certificate and add it under certificates:",
			fqdnOf(r), c.Thumbprint, c.Leaf.NotAfter.UTC().Format(time.RFC3339), connectorLabel(r.Connector))
	} else {
		sel.Warning = fmt.Sprintf("the only certificate for %s (thumbprint %s) is not valid before %s; it is used anyway, as Exchange does, and validating senders will refuse it",
			fqdnOf(r), c.Thumbprint, c.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return sel
}

// SelectClient chooses the client certificate a send connector presents, as
// Exchange's send connector does (Set-SendConnector, TlsCertificateName):
//
//   - With CertificateName the certificate with that issuer and subject; none
//     → Cert nil and Exchange's "454 4.7.5 The certificate specified in
//     TlsCertificateName of the SendConnector could not be found."; found
//     but without a private key → Cert nil and "NoCredentials".
//   - Otherwise the best match for ConnectorFQDN, then (when nothing holds
//     that name) for ServerFQDN. Nothing → Cert nil and a warning: the
//     connection goes on without a client certificate.
//
// Valid certificates come first, then the longest remaining lifetime (latest
// NotAfter), then the newest NotBefore.
//
// With Version Exchange2010 CertificateName is ignored (Note says so): the
// connector has none, so the certificate is found by name.
func (s *Store) SelectClient(r Request) Selection {
	now := r.now()
	note := ""
	if r.CertificateName != "" && !r.Version.HasCertificateName() {
		note = ignoredPinNote(r.Version, r.CertificateName, fqdnOf(r))
		r.CertificateName = ""
	}
	if r.CertificateName != "" {
		sel := Selection{Sought: r.CertificateName, Pinned: true}
		matched, err := s.byName(r.CertificateName)
		if err != nil {
			sel.Warning = fmt.Sprintf("454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found. (%v)", err)
			return sel
		}
		if len(matched) == 0 {
			sel.Warning = fmt.Sprintf("454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found. (no certificate has %s; send connector %s)",
				r.CertificateName, connectorLabel(r.Connector))
			return sel
		}
		sel.Candidates = rankClient(withKey(matched), now)
		if len(sel.Candidates) == 0 {
			sel.Warning = fmt.Sprintf("TLS negotiation failed with error NoCredentials: certificate %s (%s) has no private key — add key_file or a PEM with the key",
				matched[0].Thumbprint, matched[0].Source)
			return sel
		}
		return pickClient(sel, now)
	}
	var sel Selection
	for _, name := range []string{r.ConnectorFQDN, r.ServerFQDN} {
		if name == "" {
			continue
		}
		sel = Selection{Sought: name, Note: note, Candidates: rankClient(withKey(s.byHost(name)), now)}
		if len(sel.Candidates) > 0 {
			return pickClient(sel, now)
		}
	}
	var names []string
	for _, n := range []string{r.ConnectorFQDN, r.ServerFQDN} {
		if n != "" {
			names = append(names, n)
		}
	}
	sought := strings.Join(names, " or ")
	sel = Selection{Sought: sought, Note: note}
	if sought == "" {
		sel.Warning = fmt.Sprintf("send connector %s has no fqdn and the server has no fqdn: no client certificate is presented", connectorLabel(r.Connector))
	} else {
		sel.Warning = fmt.Sprintf("no certificate with a private key holds %s: send connector %s presents no client certificate (receivers that require mutual TLS will refuse it)",
			sought, connectorLabel(r.Connector))
	}
	return sel
}

func pickClient(sel Selection, now time.Time) Selection {
	c := sel.Candidates[0]
	sel.Cert = c
	if c.Expired(now) {
		sel.Expired = true
		sel.Warning = fmt.Sprintf("the client certificate %s for %s expired %s; receivers that validate it will refuse it — renew it",
			c.Thumbprint, sel.Sought, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return sel
}

// FindThumbprint returns the certificate with that thumbprint, or nil. Case,
// spaces, colons and the invisible marks Windows' certificate dialog copies
// along are ignored.
func (s *Store) FindThumbprint(tp string) *Certificate {
	var b strings.Builder
	for _, r := range tp {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'F':
			b.WriteRune(r)
		case r >= 'a' && r <= 'f':
			b.WriteRune(r - 'a' + 'A')
		case r == ' ' || r == ':' || r == '-' || r == '\t' || r == '\u200e' || r == '\u200f' || r == '\ufeff':
		default:
			return nil
		}
	}
	want := b.String()
	if len(want) != 40 {
		return nil
	}
	for _, c := range s.certs {
		if c.Thumbprint == want {
			return c
		}
	}
	return nil
}

// FindName returns the certificates whose issuer and subject are those of a
// TlsCertificateName value, in load order.
func (s *Store) FindName(name string) ([]*Certificate, error) { return s.byName(name) }

func (s *Store) byName(name string) ([]*Certificate, error) {
	m, err := newNameMatcher(name)
	if err != nil {
		return nil, err
	}
	var out []*Certificate
	for _, c := range s.certs {
		if m.matches(c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *Store) byHost(host string) []*Certificate {
	var out []*Certificate
	for _, c := range s.certs {
		if c != nil && c.Leaf != nil && MatchesName(c.Leaf, host) {
			out = append(out, c)
		}
	}
	return out
}

func withKey(in []*Certificate) []*Certificate {
	var out []*Certificate
	for _, c := range in {
		if c.HasPrivateKey() {
			out = append(out, c)
		}
	}
	return out
}

// rankReceive orders by NotBefore descending, then NotAfter descending;
// equal certificates keep load order.
func rankReceive(in []*Certificate) []*Certificate {
	out := append([]*Certificate(nil), in...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Leaf, out[j].Leaf
		if !a.NotBefore.Equal(b.NotBefore) {
			return a.NotBefore.After(b.NotBefore)
		}
		return a.NotAfter.After(b.NotAfter)
	})
	return out
}

// rankLongest orders by NotAfter descending (the longest validity), then
// NotBefore descending: Exchange 2010's order.
func rankLongest(in []*Certificate) []*Certificate {
	out := append([]*Certificate(nil), in...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Leaf, out[j].Leaf
		if !a.NotAfter.Equal(b.NotAfter) {
			return a.NotAfter.After(b.NotAfter)
		}
		return a.NotBefore.After(b.NotBefore)
	})
	return out
}

// rankClient orders valid first, then NotAfter descending, then NotBefore
// descending.
func rankClient(in []*Certificate, now time.Time) []*Certificate {
	out := append([]*Certificate(nil), in...)
	sort.SliceStable(out, func(i, j int) bool {
		vi, vj := validAt(out[i], now), validAt(out[j], now)
		if vi != vj {
			return vi
		}
		a, b := out[i].Leaf, out[j].Leaf
		if !a.NotAfter.Equal(b.NotAfter) {
			return a.NotAfter.After(b.NotAfter)
		}
		return a.NotBefore.After(b.NotBefore)
	})
	return out
}

func validAt(c *Certificate, now time.Time) bool {
	return !now.Before(c.Leaf.NotBefore) && !now.After(c.Leaf.NotAfter)
}

func event12014(sought string, r Request, note string) string {
	return fmt.Sprintf("Could not find a certificate that contains the domain name %s in the personal store on the local computer. "+
		"Therefore, it is unable to support the STARTTLS SMTP verb for the connector %s with a FQDN parameter of %s. "+
		"If the connector's FQDN is not specified, the computer's FQDN is used (event 12014) — "+
		"add a certificate with that name and its private key under certificates:, or fix tls_certificate_name%s",
		sought, connectorLabel(r.Connector), fqdnOf(r), note)
}

// keylessNote points out certificates that matched but lack a private key.
func keylessNote(matched []*Certificate) string {
	for _, c := range matched {
		if !c.HasPrivateKey() {
			return fmt.Sprintf(" (certificate %s from %s matches but has no private key)", c.Thumbprint, c.Source)
		}
	}
	return ""
}

func fqdnOf(r Request) string {
	if r.ConnectorFQDN != "" {
		return r.ConnectorFQDN
	}
	return r.ServerFQDN
}

func connectorLabel(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}
