package hybrid

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/domain"
	"github.com/mailflowhq/mailflow/internal/netrange"
)

// CloudName is the name in Exchange Online's own certificate (CN
// mail.protection.outlook.com): what on-premises expects from the tenant,
// as a server and as a client.
const CloudName = "mail.protection.outlook.com"

// Connector names a plan uses, as the Hybrid Configuration Wizard names
// them on-premises.
const (
	OnPremReceiveName = "Inbound from Office 365"
	OnPremSendName    = "Outbound to Office 365"
)

// Input is what a plan is made from.
type Input struct {
	// OnPrem is the on-premises configuration and Store its certificates.
	OnPrem *config.Config
	Store  *certs.Store
	// Tenant is the tenant's configuration when the tenant is a mailflow
	// (the lab, a test bed), nil otherwise. Its accepted domain, bindings
	// and existing hybrid connectors supply the defaults of TenantDomain,
	// TenantBindings, OnPremSmartHost and TenantSourceIP.
	Tenant *config.Config
	// Certificate is the one certificate both sides agree on; it must be
	// in Store with its private key.
	Certificate *certs.Certificate
	Version     certs.Version
	// Ranges are the tenant's sending addresses (ExchangeOnline when empty).
	Ranges Ranges
	// OnPremIPs are the on-premises public addresses the tenant receives
	// from (the tenant inbound connector's SenderIPAddresses).
	OnPremIPs []string
	// FQDN is the name both sides use; "" = chosen among the certificate's
	// names (one under an accepted domain first).
	FQDN string
	// TenantDomain is the tenant's routing domain (contoso.mail.onmicrosoft.com);
	// "" = derived from the first accepted domain.
	TenantDomain string
	// TenantSmartHost is where on-premises sends cloud mail
	// (contoso-com.mail.protection.outlook.com); "" = derived likewise.
	TenantSmartHost string
	// OnPremSmartHost is where the tenant sends on-premises mail; "" = FQDN.
	OnPremSmartHost string
	// Bindings of the on-premises receive connector ("" = 0.0.0.0:25) and
	// of the tenant's inbound connector when the tenant is a mailflow.
	Bindings, TenantBindings []string
	// SourceIP and TenantSourceIP bind each side's send connector to a
	// local address (mailflow source_ip); "" = the system's choice.
	SourceIP, TenantSourceIP string
	Now                      time.Time
}

// Plan is every setting of a hybrid connection, consistent by construction.
type Plan struct {
	Version     string     `json:"exchange_version"`
	Certificate certs.Info `json:"certificate"`
	FQDN        string     `json:"fqdn"`
	Ranges      Ranges     `json:"tenant_ranges"`
	// OnPrem and Tenant are the mailflow connectors of each side.
	OnPrem Connectors `json:"onprem_connectors"`
	Tenant Connectors `json:"tenant_connectors"`
	// Shell holds the Exchange Management Shell commands for on-premises,
	// Online the Exchange Online PowerShell commands.
	Shell  []Cmdlet `json:"exchange_management_shell"`
	Online []Cmdlet `json:"exchange_online_powershell"`
	// Presents is which certificate the on-premises server of Version
	// will present with these settings, receiving and sending.
	Presents Prediction `json:"prediction"`
	Notes    []string   `json:"notes"`
}

// Prediction is the version's certificate choice for the planned
// connectors.
type Prediction struct {
	Receive     *certs.Info `json:"receive,omitempty"`
	ReceiveNote string      `json:"receive_note,omitempty"`
	Send        *certs.Info `json:"send,omitempty"`
	SendNote    string      `json:"send_note,omitempty"`
}

// MakePlan derives the plan. Errors say what input is wrong and how to fix
// it.
func MakePlan(in Input) (*Plan, error) {
	if in.OnPrem == nil || in.Store == nil {
		return nil, errors.New("no on-premises configuration")
	}
	c := in.Certificate
	if c == nil {
		return nil, errors.New("no certificate: give --certificate THUMBPRINT or FILE")
	}
	if !c.HasPrivateKey() {
		return nil, fmt.Errorf("certificate %s (%s) has no private key: the server could neither present it nor use it as a client certificate. Fix: import it with its key (PFX, or PEM with the key)", c.Thumbprint, c.Subject)
	}
	if in.Store.FindThumbprint(c.Thumbprint) == nil {
		return nil, fmt.Errorf("certificate %s (%s) is not in %s. Fix: import it first (mailflow cert import FILE --config %s)", c.Thumbprint, c.Subject, in.OnPrem.Path, in.OnPrem.Path)
	}
	if len(in.OnPrem.AcceptedDomains) == 0 {
		return nil, fmt.Errorf("%s has no accepted_domains: the tenant's outbound connector needs the domains it routes to on-premises. Fix: add accepted_domains: [contoso.com]", in.OnPrem.Path)
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	if c.Expired(now) {
		return nil, fmt.Errorf("certificate %s (%s) expired %s: both sides would refuse it. Fix: renew it and plan with the renewal", c.Thumbprint, c.Subject, c.Leaf.NotAfter.UTC().Format("2006-01-02"))
	}
	fqdn, err := chooseFQDN(in, c)
	if err != nil {
		return nil, err
	}
	ranges := in.Ranges
	if len(ranges.Ranges) == 0 {
		ranges = ExchangeOnline
	}
	for _, ip := range in.OnPremIPs {
		if _, err := netrange.Parse(ip); err != nil {
			return nil, fmt.Errorf("--onprem-ip: %v", err)
		}
	}
	// A wildcard accepted domain (*.contoso.com) is rooted at contoso.com:
	// that is the name the tenant's names derive from.
	first := domain.Base(in.OnPrem.AcceptedDomains[0])
	label, _, _ := strings.Cut(first, ".")
	in = tenantDefaults(in, label)
	tenantDomain := orDefault(in.TenantDomain, label+".mail.onmicrosoft.com")
	tenantHost := orDefault(in.TenantSmartHost, strings.ReplaceAll(first, ".", "-")+"."+CloudName)
	if sc := existingSend(in, OnPremSendName); in.TenantSmartHost == "" && sc != nil && len(sc.SmartHosts) > 0 {
		tenantHost = sc.SmartHosts[0] // the connector already there keeps its smart host
	}
	onpremHost := orDefault(in.OnPremSmartHost, fqdn)
	bindings := in.Bindings
	if rc := existingReceive(in, OnPremReceiveName); len(bindings) == 0 && rc != nil && len(rc.Bindings) > 0 {
		bindings = rc.Bindings // the connector already there keeps its bindings
	}
	if len(bindings) == 0 {
		bindings = []string{"0.0.0.0:25"}
	}
	tenantBindings := in.TenantBindings
	if len(tenantBindings) == 0 {
		tenantBindings = []string{"0.0.0.0:25"}
	}

	p := &Plan{Version: string(in.Version), Certificate: c.Describe(now), FQDN: fqdn, Ranges: ranges}
	if p.Version == "" {
		p.Version = "mailflow"
	}
	pin := c.Name()

	// On-premises, as mailflow.
	p.OnPrem = Connectors{
		Receive: config.ReceiveConnector{
			Name: OnPremReceiveName, Bindings: bindings, RemoteIPRanges: ranges.Ranges, FQDN: fqdn,
			AuthMechanism: []string{config.AuthTLS}, PermissionGroups: []string{config.PermAnonymousUsers, config.PermPartners},
			TLSCertificateName: pin, RequireTLS: true, DomainSecureEnabled: true,
			TLSSenderCertificateName: CloudName, ProtocolLoggingLevel: "Verbose",
		},
		Send: config.SendConnector{
			Name: OnPremSendName, AddressSpaces: []string{tenantDomain}, SmartHosts: []string{tenantHost}, FQDN: fqdn,
			RequireTLS: true, TLSAuthLevel: "DomainValidation", TLSDomain: CloudName, TLSCertificateName: pin,
			SourceIP: in.SourceIP, ProtocolLoggingLevel: "Verbose",
		},
	}
	// The tenant, as mailflow (playing Exchange Online): its certificate
	// is found by the cloud's name, as Exchange Online presents its own.
	p.Tenant = Connectors{
		Receive: config.ReceiveConnector{
			Name: "Inbound from " + label, Bindings: tenantBindings, RemoteIPRanges: in.OnPremIPs, FQDN: CloudName,
			AuthMechanism: []string{config.AuthTLS}, PermissionGroups: []string{config.PermAnonymousUsers, config.PermPartners},
			RequireTLS: true, DomainSecureEnabled: true, TLSSenderCertificateName: fqdn, ProtocolLoggingLevel: "Verbose",
		},
		Send: config.SendConnector{
			Name: "Outbound to " + label, AddressSpaces: lower(in.OnPrem.AcceptedDomains), SmartHosts: []string{onpremHost},
			FQDN: CloudName, RequireTLS: true, TLSAuthLevel: "DomainValidation", TLSDomain: fqdn,
			SourceIP: in.TenantSourceIP, ProtocolLoggingLevel: "Verbose",
		},
	}

	// What the version will present with these settings.
	serverFQDN := in.OnPrem.Server.FQDN
	rs := in.Store.Select(certs.Request{CertificateName: pin, ConnectorFQDN: fqdn, ServerFQDN: serverFQDN, Connector: OnPremReceiveName, Now: now, Version: in.Version})
	ss := in.Store.SelectClient(certs.Request{CertificateName: pin, ConnectorFQDN: fqdn, ServerFQDN: serverFQDN, Connector: OnPremSendName, Now: now, Version: in.Version})
	p.Presents = Prediction{ReceiveNote: joinNotes(rs.Note, rs.Warning), SendNote: joinNotes(ss.Note, ss.Warning)}
	if rs.Cert != nil {
		i := rs.Cert.Describe(now)
		p.Presents.Receive = &i
	}
	if ss.Cert != nil {
		i := ss.Cert.Describe(now)
		p.Presents.Send = &i
	}
	for _, side := range []struct {
		what string
		sel  certs.Selection
	}{{"receive connector " + OnPremReceiveName, rs}, {"send connector " + OnPremSendName, ss}} {
		switch {
		case side.sel.Cert == nil:
			return nil, fmt.Errorf("%s: the %s would present no certificate (%s). Fix: choose a certificate that holds %s, or another --fqdn", in.Version, side.what, side.sel.Warning, fqdn)
		case side.sel.Cert.Thumbprint != c.Thumbprint:
			p.Notes = append(p.Notes, fmt.Sprintf("WARNING: on %s the %s would present %s (thumbprint %s), not the planned certificate: %s holds %s too and wins by %s. Fix: remove it or disable SMTP on it (Enable-ExchangeCertificate moves services; on mailflow, remove it from certificates:), or plan with --fqdn set to a name only the planned certificate holds",
				in.Version, side.what, side.sel.Cert.Subject, side.sel.Cert.Thumbprint, side.sel.Cert.Subject, fqdn, rankRule(in.Version)))
		}
	}
	if !in.Version.HasCertificateName() {
		p.Notes = append(p.Notes, fmt.Sprintf("%s has no TlsCertificateName on receive or send connectors: the connectors' Fqdn is set to %s, a name on the certificate, and Exchange 2010 then picks %s by that name (among certificates enabled for SMTP with that name: a valid CA-issued one first, then the longest validity). The mailflow configuration keeps the pin, which 2013 and later would honour.",
			in.Version, fqdn, describeShort(rs.Cert)))
	}
	if len(in.OnPremIPs) == 0 {
		p.Notes = append(p.Notes, "no --onprem-ip given: the tenant's inbound connector is not restricted to on-premises addresses (New-InboundConnector without -SenderIPAddresses); give the public address(es) on-premises sends from")
	}
	p.Notes = append(p.Notes, fmt.Sprintf("tenant IP ranges: %d ranges from %s (%s)", len(ranges.Ranges), ranges.Source, orDefault(ranges.Date, "undated")))

	p.Shell = onPremCmdlets(in, p, fqdn, tenantDomain, tenantHost, bindings, ranges.Ranges)
	p.Online = onlineCmdlets(in, p, fqdn, onpremHost, label)
	return p, nil
}

// tenantDefaults fills what the tenant's configuration says and the
// caller left empty: its routing domain, its bindings, and the smart host
// and source address of an outbound connector already there.
func tenantDefaults(in Input, label string) Input {
	t := in.Tenant
	if t == nil {
		return in
	}
	if in.TenantDomain == "" && len(t.AcceptedDomains) > 0 {
		in.TenantDomain = strings.ToLower(t.AcceptedDomains[0])
	}
	if len(in.TenantBindings) == 0 {
		for _, rc := range t.ReceiveConnectors {
			if strings.EqualFold(rc.Name, "Inbound from "+label) || len(in.TenantBindings) == 0 {
				in.TenantBindings = rc.Bindings
			}
		}
	}
	for _, sc := range t.SendConnectors {
		if !strings.EqualFold(sc.Name, "Outbound to "+label) {
			continue
		}
		if in.OnPremSmartHost == "" && len(sc.SmartHosts) > 0 {
			in.OnPremSmartHost = sc.SmartHosts[0]
		}
		if in.TenantSourceIP == "" {
			in.TenantSourceIP = sc.SourceIP
		}
	}
	return in
}

// chooseFQDN picks the name both sides use: --fqdn when the certificate
// holds it, else the first host name of the certificate (CN, then SANs)
// under an accepted domain, else the first host name at all.
func chooseFQDN(in Input, c *certs.Certificate) (string, error) {
	names := certNames(c)
	if in.FQDN != "" {
		if strings.HasPrefix(in.FQDN, "*") || !certs.MatchesName(c.Leaf, in.FQDN) {
			return "", fmt.Errorf("--fqdn %s is not a name on certificate %s (names: %s). Fix: give one of its names", in.FQDN, c.Subject, strings.Join(names, ", "))
		}
		return strings.ToLower(in.FQDN), nil
	}
	var plain []string
	for _, n := range names {
		if !strings.Contains(n, "*") && net.ParseIP(n) == nil && strings.Contains(n, ".") {
			plain = append(plain, strings.ToLower(n))
		}
	}
	for _, n := range plain {
		for _, d := range in.OnPrem.AcceptedDomains {
			// n is the accepted domain itself or a host under it.
			if base := domain.Base(d); base != "" && domain.Match("*."+base, n) {
				return n, nil
			}
		}
	}
	if len(plain) > 0 {
		return plain[0], nil
	}
	return "", fmt.Errorf("certificate %s holds no host name to use as the connector FQDN (names: %s). Fix: give --fqdn NAME, a name the certificate covers (e.g. mail.%s for a wildcard)", c.Subject, strings.Join(names, ", "), domain.Base(in.OnPrem.AcceptedDomains[0]))
}

// certNames lists the CN and the SANs, CN first, without repeats.
func certNames(c *certs.Certificate) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range append([]string{c.Leaf.Subject.CommonName}, c.Leaf.DNSNames...) {
		if n != "" && !seen[strings.ToLower(n)] {
			seen[strings.ToLower(n)] = true
			out = append(out, n)
		}
	}
	return out
}

func rankRule(v certs.Version) string {
	if v == certs.Exchange2010 {
		return "Exchange 2010's rule (valid CA-issued first, then the longest validity)"
	}
	return "the automatic rule (valid CA-issued first, then the newest NotBefore)"
}

func describeShort(c *certs.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	return fmt.Sprintf("%s (thumbprint %s)", c.Subject, c.Thumbprint)
}

func joinNotes(ss ...string) string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "; ")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

// hostOnly strips a port and address-literal brackets from a smart host
// ("[192.0.2.1]:2525" → 192.0.2.1), read as the sender reads it:
// Exchange Online's SmartHosts take names or addresses only.
func hostOnly(h string) string {
	if host, _, err := domain.SplitHostPort(h, config.DefaultSMTPPort); err == nil {
		return host
	}
	return h
}

// ipv4Only keeps the IPv4 single addresses and prefixes of /24 to /32:
// New-InboundConnector -SenderIPAddresses accepts nothing else.
func ipv4Only(ss []string) (keep, dropped []string) {
	for _, s := range ss {
		r, err := netrange.Parse(s)
		if err != nil || !r.Is4() {
			dropped = append(dropped, s)
			continue
		}
		if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil && p.Bits() < 24 {
			dropped = append(dropped, s)
			continue
		}
		if strings.Contains(s, "-") {
			dropped = append(dropped, s)
			continue
		}
		keep = append(keep, s)
	}
	sort.Strings(dropped)
	return keep, dropped
}
