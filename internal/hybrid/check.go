package hybrid

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/domain"
	"github.com/mailflowhq/mailflow/internal/netrange"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/receive"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Verdicts of a check row.
const (
	Pass  = "pass"
	Fail  = "fail"
	Error = "error" // could not check
)

// Side is one end of a hybrid connection: its runtime (configuration and
// certificates) and the Exchange version whose rules predict what it
// presents (zero for the tenant and for a mailflow server).
type Side struct {
	Name    string // "on-premises" or "tenant"
	RT      *node.Runtime
	Version certs.Version
	// Sources are the addresses or ranges this side sends from when its
	// send connector has no source_ip: Exchange Online's ranges for the
	// tenant, the public addresses for on-premises. The first address of
	// each is where the other side's connector selection is checked.
	Sources []string
}

// Row is one line of the check table.
type Row struct {
	Direction   string `json:"direction"`
	Expectation string `json:"expectation"`
	Presented   string `json:"presented"`
	Verdict     string `json:"verdict"`
	Fix         string `json:"fix,omitempty"`
	Live        bool   `json:"live,omitempty"`
}

// Report is the result of Check.
type Report struct {
	Time time.Time `json:"time"`
	Rows []Row     `json:"rows"`
}

// ExitCode is 0 when every row passes, 1 on a mismatch, 2 when something
// could not be checked (and nothing failed).
func (r *Report) ExitCode() int {
	code := 0
	for _, row := range r.Rows {
		switch row.Verdict {
		case Fail:
			return 1
		case Error:
			code = 2
		}
	}
	return code
}

// Check compares the two sides offline, both directions: for each
// accepted domain of the receiving side, the sending side's route, the
// receive connector its source address lands on, the certificate that
// connector presents (by the receiving side's version rules) against the
// sender's TLS policy and trust, and — when the receive connector is
// domain-secure — the sender's client certificate against
// tls_sender_certificate_name and the receiver's trust.
func Check(onprem, tenant Side, now time.Time) *Report {
	r := &Report{Time: now}
	r.Rows = append(r.Rows, direction(tenant, onprem, now)...)
	r.Rows = append(r.Rows, direction(onprem, tenant, now)...)
	return r
}

// direction checks mail from one side to the other.
func direction(from, to Side, now time.Time) []Row {
	dir := from.Name + " → " + to.Name
	var rows []Row
	row := func(exp, presented, verdict, fix string) {
		rows = append(rows, Row{Direction: dir, Expectation: exp, Presented: presented, Verdict: verdict, Fix: fix})
	}
	seen := map[string]bool{}
	for _, domain := range to.RT.Cfg.AcceptedDomains {
		dec, err := from.RT.Router.Route(domain)
		switch {
		case err != nil:
			row("a send connector routes "+domain+" to "+to.Name, "no route ("+err.Error()+")", Fail,
				fmt.Sprintf("add a send connector for %s on %s (address_spaces: [%s]) — mailflow hybrid plan writes it", domain, from.Name, domain))
			continue
		case dec.Local:
			row("a send connector routes "+domain+" to "+to.Name, domain+" is an accepted domain of "+from.Name+" too: delivered locally", Fail,
				fmt.Sprintf("remove %s from %s's accepted_domains, or route it with a send connector", domain, from.Name))
			continue
		}
		if seen[dec.Connector] {
			continue
		}
		seen[dec.Connector] = true
		sc := from.RT.Send[strings.ToLower(dec.Connector)]
		rows = append(rows, checkConnector(dir, from, to, sc, domain, now)...)
	}
	return rows
}

// checkConnector checks one send connector against the receiving side.
func checkConnector(dir string, from, to Side, sc send.Connector, domain string, now time.Time) []Row {
	var rows []Row
	row := func(exp, presented, verdict, fix string) {
		rows = append(rows, Row{Direction: dir, Expectation: exp, Presented: presented, Verdict: verdict, Fix: fix})
	}
	label := fmt.Sprintf("%s send connector %q", from.Name, sc.Name)
	if sc.Level != tlscheck.DomainValidation {
		row(label+" requires TLS with DomainValidation", fmt.Sprintf("require_tls %v, tls_auth_level %s", sc.RequireTLS, sc.Level), Fail,
			fmt.Sprintf("mailflow connector set %q --send --config %s --require-tls true --tls-auth-level DomainValidation (%s)", sc.Name, from.RT.Cfg.Path, policyCmdlet(from, sc.Name)))
	} else {
		row(label+" requires TLS with DomainValidation", "require_tls true, tls_auth_level DomainValidation", Pass, "")
	}
	expect := sc.TLSDomain
	if expect == "" {
		expect = domain
	}

	sources := sourcesOf(from, sc)
	if len(sources) == 0 {
		row(fmt.Sprintf("a receive connector of %s accepts %s's source address", to.Name, from.Name), "unknown: the send connector has no source_ip and no source addresses were given", Error,
			fmt.Sprintf("give %s's sending addresses (--onprem-ip for on-premises, --tenant-ranges for the tenant) or set source_ip", from.Name))
		return rows
	}
	done := map[*receive.Connector]bool{}
	for _, src := range sources {
		rc, local, remote := receiverFor(to.RT, sc, src)
		exp := fmt.Sprintf("a receive connector of %s accepts %s on port %d", to.Name, remote.Addr(), local.Port())
		if rc == nil {
			row(exp, "none: the connection would be refused", Fail,
				fmt.Sprintf("add %s to remote_ip_ranges of the %s receive connector meant for %s (and a binding on port %d)", remote.Addr(), to.Name, from.Name, local.Port()))
			continue
		}
		if done[rc] {
			continue
		}
		done[rc] = true
		landed := fmt.Sprintf("%q (remote_ip_ranges %s)", rc.Name(), strings.Join(rc.Config.RemoteIPRanges, ", "))
		if rc.Config.DomainSecureEnabled {
			row(exp+" with domain security", landed, Pass, "")
		} else {
			row(exp+" with domain security", landed+", not domain-secure: no mutual TLS, and Exchange Online would not attribute the mail to the tenant (550 5.7.64 TenantAttribution)", Fail,
				fmt.Sprintf("add %s to remote_ip_ranges of the domain-secure connector %s for %s (mailflow connector set NAME --config %s --remote-ip-ranges …), or run mailflow hybrid plan to create it",
					remote.Addr(), secureName(to.RT), from.Name, to.RT.Cfg.Path))
		}
		rows = append(rows, checkReceiver(dir, from, to, sc, rc, expect, label, now)...)
	}
	return rows
}

// checkReceiver checks the certificates exchanged between a send connector
// and the receive connector it lands on.
func checkReceiver(dir string, from, to Side, sc send.Connector, rc *receive.Connector, expect, label string, now time.Time) []Row {
	var rows []Row
	row := func(exp, presented, verdict, fix string) {
		rows = append(rows, Row{Direction: dir, Expectation: exp, Presented: presented, Verdict: verdict, Fix: fix})
	}
	var exp string
	// The server certificate, by the receiver's version rules.
	sel := to.RT.Store.Select(certs.Request{CertificateName: rc.Config.TLSCertificateName, ConnectorFQDN: rc.Config.FQDN,
		ServerFQDN: to.RT.Cfg.Server.FQDN, Connector: rc.ID, Now: now, Version: to.Version})
	exp = fmt.Sprintf("%q presents a certificate for %s (%s)", rc.Name(), expect, sc.Level)
	switch {
	case !rc.Config.HasAuth("Tls"):
		row(exp, "nothing: STARTTLS is not offered (no Tls in auth_mechanism); the sender defers with 451 5.7.3", Fail,
			fmt.Sprintf("mailflow connector set %q --config %s --auth-mechanism Tls (%s)", rc.Name(), to.RT.Cfg.Path, tlsCmdlet(to, rc.ID)))
	case sel.Cert == nil:
		row(exp, "nothing: "+sel.Warning, Fail, serverFix(to, rc, expect, now))
	default:
		res := tlscheck.Verify(probe.Chain(sel.Cert), tlscheck.Policy{Level: sc.Level, ExpectedName: expect, Roots: from.RT.Roots, Now: now, Usage: x509.ExtKeyUsageServerAuth})
		presented := describeCert(sel.Cert) + noteSuffix(sel.Note)
		if res.OK {
			row(exp, presented, Pass, "")
		} else {
			fix := serverFix(to, rc, expect, now)
			if res.Reason != tlscheck.SubjectMismatch {
				fix = res.Detail
			}
			row(exp, presented+" — "+res.Message(), Fail, fix)
		}
	}

	// Mutual TLS: the sender's client certificate.
	if !rc.Config.DomainSecureEnabled {
		return rows
	}
	want := rc.Config.TLSSenderCertificateName
	exp = fmt.Sprintf("%s presents a client certificate for %s (%q is domain-secure)", label, want, rc.Name())
	csel := from.RT.Store.SelectClient(certs.Request{CertificateName: sc.CertificateName, ConnectorFQDN: sc.FQDN, ServerFQDN: from.RT.Cfg.Server.FQDN,
		Connector: sc.Name, Now: now, Version: from.Version})
	if csel.Cert == nil {
		row(exp, "nothing: "+csel.Warning, Fail, clientFix(from, sc, want, now))
		return rows
	}
	res := tlscheck.Verify(probe.Chain(csel.Cert), tlscheck.Policy{Level: tlscheck.DomainValidation, ExpectedName: want, Roots: to.RT.Roots, Now: now, Usage: x509.ExtKeyUsageClientAuth})
	presented := describeCert(csel.Cert) + noteSuffix(csel.Note)
	if res.OK {
		row(exp, presented, Pass, "")
		return rows
	}
	fix := clientFix(from, sc, want, now)
	if res.Reason != tlscheck.SubjectMismatch {
		fix = res.Detail
	}
	row(exp, presented+" — "+res.Message(), Fail, fix)
	return rows
}

// receiverFor finds the receive connector a send connector's connection
// lands on: its source_ip (else a representative address of the range the
// receiver keeps for that sender) to the smart host's port.
func receiverFor(rt *node.Runtime, sc send.Connector, src netip.Addr) (*receive.Connector, netip.AddrPort, netip.AddrPort) {
	port := sc.Port
	if port == 0 {
		port = 25
	}
	localIP := netip.IPv4Unspecified()
	if len(sc.Hosts) > 0 {
		// Read as the sender reads it (domain.SplitHostPort).
		if host, p, err := domain.SplitHostPort(sc.Hosts[0], port); err == nil {
			port = p
			if a, err := netip.ParseAddr(host); err == nil {
				localIP = a
			}
		}
	}
	local := netip.AddrPortFrom(localIP, uint16(port))
	remote := netip.AddrPortFrom(src, 40000)
	if c := rt.Recv.ConnectorFor(local, remote); c != nil {
		return c, local, remote
	}
	// A smart host given by name: try the receiver's own bound addresses.
	for _, c := range rt.Recv.Connectors {
		for _, b := range c.Bindings {
			if b.Specific() {
				l := netip.AddrPortFrom(b.Addr, uint16(port))
				if got := rt.Recv.ConnectorFor(l, remote); got != nil {
					return got, l, remote
				}
			}
		}
	}
	return nil, local, remote
}

// secureName names the receiver's domain-secure connectors, for a fix.
func secureName(rt *node.Runtime) string {
	var names []string
	for _, c := range rt.Recv.Connectors {
		if c.Config.DomainSecureEnabled {
			names = append(names, fmt.Sprintf("%q", c.Name()))
		}
	}
	if len(names) == 0 {
		return "(none yet)"
	}
	return strings.Join(names, " or ")
}

// sourcesOf lists the first address of each range a send connector
// connects from: its source_ip, else the side's Sources.
func sourcesOf(from Side, sc send.Connector) []netip.Addr {
	if a, err := netip.ParseAddr(sc.SourceIP); err == nil {
		return []netip.Addr{a}
	}
	var out []netip.Addr
	for _, s := range from.Sources {
		if r, err := netrange.Parse(s); err == nil {
			out = append(out, r.First)
		}
	}
	return out
}

// serverFix names the change that makes the receive connector present a
// certificate for want: pin one (2013 and later) or set the FQDN (2010), or
// say that no certificate holds the name.
func serverFix(to Side, rc *receive.Connector, want string, now time.Time) string {
	c := bestHolding(to.RT.Store, want, now)
	if c == nil {
		return fmt.Sprintf("no certificate of %s holds %s: install one (mailflow cert import FILE --config %s), or change the sender's tls_domain to a name the presented certificate holds",
			to.Name, want, to.RT.Cfg.Path)
	}
	if !to.Version.HasCertificateName() {
		return fmt.Sprintf("set the connector FQDN to %s so that %s picks %s: mailflow connector set %q --config %s --fqdn %s (Set-ReceiveConnector %s -Fqdn %s)",
			want, to.Version, describeCert(c), rc.Name(), to.RT.Cfg.Path, want, psString(rc.ID), want)
	}
	return fmt.Sprintf("pin %s: mailflow connector set %q --config %s --tls-certificate-name %q (Set-ReceiveConnector %s -TlsCertificateName %s)",
		describeCert(c), rc.Name(), to.RT.Cfg.Path, c.Name(), psString(rc.ID), psString(c.Name()))
}

// clientFix names the change that makes a send connector present a client
// certificate holding want.
func clientFix(from Side, sc send.Connector, want string, now time.Time) string {
	c := bestHolding(from.RT.Store, want, now)
	if c == nil {
		return fmt.Sprintf("no certificate of %s holds %s: install one, or set the receiver's tls_sender_certificate_name to a name of the certificate %s presents", from.Name, want, from.Name)
	}
	if !from.Version.HasCertificateName() {
		return fmt.Sprintf("set the send connector FQDN to %s so that %s picks %s: mailflow connector set %q --send --config %s --fqdn %s (Set-SendConnector %s -Fqdn %s)",
			want, from.Version, describeCert(c), sc.Name, from.RT.Cfg.Path, want, psString(sc.Name), want)
	}
	return fmt.Sprintf("present %s: mailflow connector set %q --send --config %s --tls-certificate-name %q (Set-SendConnector %s -TlsCertificateName %s)",
		describeCert(c), sc.Name, from.RT.Cfg.Path, c.Name(), psString(sc.Name), psString(c.Name()))
}

// bestHolding is the certificate a fix should name for a host name: the one
// Select would choose by that name.
func bestHolding(store *certs.Store, name string, now time.Time) *certs.Certificate {
	return store.Select(certs.Request{ConnectorFQDN: name, Now: now}).Cert
}

// policyCmdlet is the Exchange side of a DomainValidation fix.
func policyCmdlet(s Side, connector string) string {
	if s.Name == "tenant" {
		return "Exchange Online: Set-OutboundConnector " + psString(connector) + " -TlsSettings DomainValidation -TlsDomain <name>"
	}
	return "Exchange: Set-SendConnector " + psString(connector) + " -RequireTLS $true -TlsAuthLevel DomainValidation -TlsDomain <name>"
}

// tlsCmdlet is the Exchange side of an "offer STARTTLS" fix.
func tlsCmdlet(s Side, id string) string {
	if s.Name == "tenant" {
		return "Exchange Online always offers STARTTLS"
	}
	return "Exchange: Set-ReceiveConnector " + psString(id) + " -AuthMechanism @{Add='Tls'}"
}

func describeCert(c *certs.Certificate) string {
	return fmt.Sprintf("%s (thumbprint %s, names %s)", c.Subject, c.Thumbprint, strings.Join(c.SANs, ";"))
}

func noteSuffix(note string) string {
	if note == "" {
		return ""
	}
	return " [" + note + "]"
}
