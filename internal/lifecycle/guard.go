package lifecycle

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
)

// Checker is an extra check the guard runs for every connector a
// certificate is meant for. It is the extension point for checks owned by
// other capabilities: dane.GuardCheck compares the certificate (or its
// key, for "3 1 1") with the TLSA records published for the connector's
// name and warns, with the rollover steps, when DANE senders would refuse
// it. node.Runtime.Guard is where checkers are added, so that every
// import path, cert check and ACME renewals all run them.
type Checker func(c *certs.Certificate, use Use) Findings

// Use is one connector that presents (or would present) a certificate.
type Use struct {
	Connector string // connector name
	Send      bool   // a send connector's client certificate
	FQDN      string // the name senders validate (connector fqdn, else server fqdn)
	Pin       string // tls_certificate_name, "" when selected by name
}

// Guard checks a certificate the way senders will before it becomes the
// one a connector presents.
type Guard struct {
	Cfg   *config.Config
	Store *certs.Store // the certificates in use now
	Roots *x509.CertPool
	Now   time.Time
	Extra []Checker // e.g. the DANE TLSA check
}

// Admit checks c as a renewal or an import: for every connector that
// presents (or, once c is added, would present) a certificate c is meant to
// replace, the connector's name must be in c, a pinned <I>…<S>… must still
// select c, the chain must be complete to a trusted root, the key usage
// must allow a TLS server, and c must be valid now. It returns the
// findings (errors refuse the swap) and the connectors concerned.
func (g Guard) Admit(c *certs.Certificate) (Findings, []Use) {
	return g.admit(c, g.usesFor(c))
}

// AdmitReplacing is Admit for a certificate that replaces old (the
// previous content of the same certificate entry, as an ACME renewal
// does), or that is new when old is nil: the connectors concerned are the
// ones presenting old and the ones that would present c, not every
// connector whose certificate shares a name with c.
func (g Guard) AdmitReplacing(c, old *certs.Certificate) (Findings, []Use) {
	after := certs.NewStore(append(g.without(old), c)...)
	var uses []Use
	for _, u := range Uses(g.Cfg) {
		cur, next := g.current(u), selectIn(after, g.request(u), u.Send)
		if (old != nil && cur == old) || next == c {
			uses = append(uses, u)
		}
	}
	return g.admit(c, uses)
}

func (g Guard) admit(c *certs.Certificate, uses []Use) (Findings, []Use) {
	var fs Findings
	for _, f := range g.certChecks(c, "") {
		if f.Check == CheckChain && !g.chainWasFine(uses) {
			// Not a regression: the connectors concerned present a
			// certificate that does not chain to a trusted root either
			// (a self-signed certificate for DANE "3 1 1", a private CA),
			// or none is concerned yet.
			f.Severity = SevWarning
		}
		fs = append(fs, f)
	}
	for _, u := range uses {
		fs = append(fs, g.useChecks(c, g.current(u), u)...)
		for _, x := range g.Extra {
			fs = append(fs, x(c, u)...)
		}
	}
	return fs, uses
}

// chainWasFine reports whether a connector concerned presents, now, a
// certificate whose chain verifies.
func (g Guard) chainWasFine(uses []Use) bool {
	for _, u := range uses {
		if cur := g.current(u); cur != nil && g.verifyChain(cur) == nil {
			return true
		}
	}
	return false
}

func (g Guard) without(old *certs.Certificate) []*certs.Certificate {
	var out []*certs.Certificate
	for _, c := range g.Store.All() {
		if c != old {
			out = append(out, c)
		}
	}
	return out
}

func selectIn(s *certs.Store, r certs.Request, send bool) *certs.Certificate {
	if send {
		return s.SelectClient(r).Cert
	}
	return s.Select(r).Cert
}

// usesFor finds the connectors c is meant for: those that would present c
// once it is in the store, those whose current certificate shares a host
// name with c (a renewal), and those whose name c holds.
func (g Guard) usesFor(c *certs.Certificate) []Use {
	after := certs.NewStore(append(append([]*certs.Certificate{}, g.Store.All()...), c)...)
	var out []Use
	for _, u := range Uses(g.Cfg) {
		req := g.request(u)
		var cur, next certs.Selection
		if u.Send {
			cur, next = g.Store.SelectClient(req), after.SelectClient(req)
		} else {
			cur, next = g.Store.Select(req), after.Select(req)
		}
		switch {
		case next.Cert == c:
		case cur.Cert != nil && sharesName(cur.Cert, c):
		case u.FQDN != "" && certs.MatchesName(c.Leaf, u.FQDN):
		default:
			continue
		}
		out = append(out, u)
	}
	return out
}

// current is the certificate the connector presents now, or nil.
func (g Guard) current(u Use) *certs.Certificate {
	if u.Send {
		return g.Store.SelectClient(g.request(u)).Cert
	}
	return g.Store.Select(g.request(u)).Cert
}

func (g Guard) request(u Use) certs.Request {
	return certs.Request{CertificateName: u.Pin, ConnectorFQDN: u.FQDN, ServerFQDN: g.Cfg.Server.FQDN, Connector: u.Connector, Now: g.Now}
}

// Uses lists every enabled connector that presents a certificate: receive
// connectors (STARTTLS) and send connectors with a pinned client
// certificate.
func Uses(cfg *config.Config) []Use {
	var out []Use
	for _, rc := range cfg.ReceiveConnectors {
		if rc.Enabled != nil && !*rc.Enabled {
			continue
		}
		fqdn := rc.FQDN
		if fqdn == "" {
			fqdn = cfg.Server.FQDN
		}
		out = append(out, Use{Connector: rc.Name, FQDN: fqdn, Pin: rc.TLSCertificateName})
	}
	for _, sc := range cfg.SendConnectors {
		if (sc.Enabled != nil && !*sc.Enabled) || sc.TLSCertificateName == "" {
			continue
		}
		fqdn := sc.FQDN
		if fqdn == "" {
			fqdn = cfg.Server.FQDN
		}
		out = append(out, Use{Connector: sc.Name, Send: true, FQDN: fqdn, Pin: sc.TLSCertificateName})
	}
	return out
}

// sharesName reports whether two certificates hold a common host name.
func sharesName(a, b *certs.Certificate) bool {
	names := append([]string{a.Leaf.Subject.CommonName}, a.Leaf.DNSNames...)
	for _, n := range names {
		if n != "" && certs.MatchesName(b.Leaf, n) {
			return true
		}
	}
	return false
}

// certChecks are the checks that do not depend on a connector.
func (g Guard) certChecks(c *certs.Certificate, connector string) Findings {
	var fs Findings
	add := func(sev, check, problem, fix string) {
		fs = append(fs, Finding{Severity: sev, Check: check, Connector: connector, Thumbprint: c.Thumbprint, Problem: problem, Fix: fix})
	}
	l := c.Leaf
	switch {
	case g.Now.After(l.NotAfter):
		add(SevError, CheckExpiry, fmt.Sprintf("certificate %s (%s) expired %s; validating senders refuse it (450 4.7.322 certificate-expired, 4.7.320)", c.Thumbprint, c.Subject, l.NotAfter.UTC().Format(time.RFC3339)),
			"renew it: mailflow cert request (third-party CA) or an acme: entry, then mailflow cert import")
	case g.Now.Before(l.NotBefore):
		add(SevError, CheckExpiry, fmt.Sprintf("certificate %s is not valid before %s; senders refuse it until then", c.Thumbprint, l.NotBefore.UTC().Format(time.RFC3339)),
			"check the server clock, or import it once it is valid")
	}
	if !c.HasPrivateKey() {
		add(SevError, CheckKeyUsage, fmt.Sprintf("certificate %s has no private key: it cannot be presented (TLS negotiation failed with error NoCredentials)", c.Thumbprint),
			"import it with its key (--key-file), or complete the pending request it was issued for")
	}
	if err := g.verifyChain(c); err != nil {
		add(SevError, CheckChain, err.Error(), chainFix(c, err))
	}
	if p := keyUsageProblem(l); p != "" {
		add(SevError, CheckKeyUsage, fmt.Sprintf("certificate %s %s; senders refuse it as a TLS server certificate", c.Thumbprint, p),
			"ask the CA for a TLS server certificate: Extended Key Usage Server Authentication (1.3.6.1.5.5.7.3.1), plus Client Authentication for send connectors, and Key Usage Digital Signature (and Key Encipherment for RSA)")
	}
	return fs
}

// useChecks are the checks for one connector that presents cur now (nil:
// nothing). The FQDN must stay in the certificate: it is an error when c
// lacks it and cur had it (or the connector selects by name); names cur
// held that c drops are warnings, as senders may connect by them.
func (g Guard) useChecks(c, cur *certs.Certificate, u Use) Findings {
	var fs Findings
	add := func(sev, check, problem, fix string) {
		fs = append(fs, Finding{Severity: sev, Check: check, Connector: u.Connector, Thumbprint: c.Thumbprint, Problem: problem, Fix: fix})
	}
	if u.FQDN != "" && !certs.MatchesName(c.Leaf, u.FQDN) && (u.Pin == "" || cur == nil || certs.MatchesName(cur.Leaf, u.FQDN)) {
		add(SevError, CheckName, fmt.Sprintf("certificate %s does not hold %s (the connector's FQDN) in its CN or SANs (%s); senders that validate the name refuse it (450 4.7.320 SubjectMismatch)",
			c.Thumbprint, u.FQDN, strings.Join(c.SANs, ";")),
			fmt.Sprintf("request it again with that name: mailflow cert request --subject \"CN=%s\" --san %s …", u.FQDN, u.FQDN))
	}
	if cur != nil && cur != c {
		var dropped []string
		for _, n := range cur.Leaf.DNSNames {
			if !certs.MatchesName(c.Leaf, n) {
				dropped = append(dropped, n)
			}
		}
		if len(dropped) > 0 {
			add(SevWarning, CheckName, fmt.Sprintf("certificate %s drops name(s) %s that the certificate presented now (%s) holds; senders connecting by those names will refuse it",
				c.Thumbprint, strings.Join(dropped, ", "), cur.Thumbprint),
				"request it again with every name: --san "+strings.Join(cur.Leaf.DNSNames, " --san "))
		}
	}
	if u.Pin != "" && !c.HasName(u.Pin) {
		cmdlet, send := "Set-ReceiveConnector", ""
		if u.Send {
			cmdlet, send = "Set-SendConnector", " --send"
		}
		what := "its issuer or subject changed"
		if iss, subj, err := certs.ParseName(u.Pin); err == nil {
			switch {
			case !certs.SameName(iss, c.Issuer) && !certs.SameName(subj, c.Subject):
				what = "its issuer and subject changed"
			case !certs.SameName(iss, c.Issuer):
				what = fmt.Sprintf("its issuer changed (%s, was %s)", c.Issuer, iss)
			default:
				what = fmt.Sprintf("its subject changed (%s, was %s)", c.Subject, subj)
			}
		}
		add(SevError, CheckPin, fmt.Sprintf("the pinned tls_certificate_name %q does not select certificate %s: %s, so once the old certificate expires or is removed the pin selects nothing and STARTTLS is no longer offered (event 12014). New value: tls_certificate_name: '%s'",
			u.Pin, c.Thumbprint, what, quoteSingle(c.Name())),
			fmt.Sprintf("import and re-pin in one step: mailflow cert import FILE --repin; or pin it after the import: mailflow connector set %q%s --tls-certificate-name '%s' (Exchange: %s %q -TlsCertificateName '%s')",
				u.Connector, send, quoteSingle(c.Name()), cmdlet, u.Connector, quoteSingle(c.Name())))
	}
	if u.Send && !hasEKU(c.Leaf, x509.ExtKeyUsageClientAuth) {
		add(SevError, CheckKeyUsage, fmt.Sprintf("certificate %s is not valid for client authentication; send connector %s presents it as a client certificate", c.Thumbprint, u.Connector),
			"ask the CA for a certificate with Extended Key Usage Client Authentication as well")
	}
	return fs
}

func quoteSingle(s string) string { return strings.ReplaceAll(s, "'", "''") }

// verifyChain checks that the certificate's own chain reaches a trusted
// root (system roots plus trust.ca_files), as senders validate it.
func (g Guard) verifyChain(c *certs.Certificate) error {
	inter := x509.NewCertPool()
	for _, der := range c.Chain[1:] {
		if x, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(x)
		}
	}
	roots := g.Roots
	if roots == nil {
		roots = x509.NewCertPool()
	}
	_, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: g.Now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err == nil {
		return nil
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		if c.SelfSigned {
			return fmt.Errorf("certificate %s is self-signed: validating senders (Exchange Online with TlsSettings DomainValidation) refuse it", c.Thumbprint)
		}
		return fmt.Errorf("the chain of certificate %s is not complete to a trusted root: its issuer %q is neither in the file nor a trusted root", c.Thumbprint, issuerOfTop(c))
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		if inv.Cert != nil && inv.Cert != c.Leaf {
			return fmt.Errorf("an issuer in the chain of certificate %s (%s) is expired or not yet valid", c.Thumbprint, certs.WindowsName(inv.Cert.RawSubject))
		}
		return nil // the leaf's own dates are reported by the expiry check
	}
	return fmt.Errorf("the chain of certificate %s does not verify: %v", c.Thumbprint, err)
}

// issuerOfTop names the issuer of the last certificate of the chain, the one
// that is missing.
func issuerOfTop(c *certs.Certificate) string {
	top := c.Leaf
	if n := len(c.Chain); n > 1 {
		if x, err := x509.ParseCertificate(c.Chain[n-1]); err == nil {
			top = x
		}
	}
	return certs.WindowsName(top.RawIssuer)
}

func chainFix(c *certs.Certificate, err error) string {
	if c.SelfSigned {
		return "use a certificate from a public CA (mailflow cert request, or an acme: entry); a private CA only works for senders that trust it (trust.ca_files here)"
	}
	return fmt.Sprintf("import the file with the leaf followed by the intermediate CA certificate %q (the .p7b the CA sent, or cat leaf.pem intermediate.pem > chain.pem); if the root is a private CA add it to trust.ca_files", issuerOfTop(c))
}

// keyUsageProblem says what makes the certificate unusable for a TLS
// server, or "".
func keyUsageProblem(l *x509.Certificate) string {
	if l.IsCA {
		return "is a CA certificate (basic constraints CA:TRUE)"
	}
	if len(l.ExtKeyUsage) > 0 && !hasEKU(l, x509.ExtKeyUsageServerAuth) {
		return "has an Extended Key Usage without Server Authentication"
	}
	if l.KeyUsage != 0 {
		switch l.PublicKey.(type) {
		case *rsa.PublicKey:
			if l.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment) == 0 {
				return "has a Key Usage with neither Digital Signature nor Key Encipherment"
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
			if l.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
				return "has a Key Usage without Digital Signature"
			}
		}
	}
	return ""
}

func hasEKU(l *x509.Certificate, want x509.ExtKeyUsage) bool {
	if len(l.ExtKeyUsage) == 0 {
		return true
	}
	for _, u := range l.ExtKeyUsage {
		if u == want || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}
