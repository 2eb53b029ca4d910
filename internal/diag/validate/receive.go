package validate

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/netrange"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/receive"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
	"github.com/mailflowhq/mailflow/internal/users"
)

// ReceiveReport is the receive side of a validation: what the
// connector presents, to whom, and whether a sender accepts it.
type ReceiveReport struct {
	ID             string   `json:"id"` // SERVER\Connector, as protocol logs name it
	Bindings       []string `json:"bindings"`
	RemoteIPRanges []string `json:"remote_ip_ranges"`
	// Elsewhere lists remote ranges this connector's bindings and ranges
	// cover that land on another connector (a more specific range, or a
	// specific local address): those senders see that connector's
	// certificate, not this one's.
	Elsewhere []ReceiveElsewhere `json:"elsewhere,omitempty"`
	FQDN      string             `json:"fqdn"`
	// OffersSTARTTLS: EHLO advertises STARTTLS (Tls in auth_mechanism and a
	// certificate found).
	OffersSTARTTLS bool `json:"offers_starttls"`
	RequireTLS     bool `json:"require_tls"`
	DomainSecure   bool `json:"domain_secure"`
	// Sought is the name or <I>…<S>… value the certificate was chosen by;
	// Pinned says it was tls_certificate_name.
	Sought string `json:"sought,omitempty"`
	Pinned bool   `json:"pinned"`
	// Certificate is the certificate STARTTLS presents; nil when none.
	Certificate *certs.Info `json:"certificate,omitempty"`
	// SelectionWarning is what Exchange would log (events 12014, 12016).
	SelectionWarning string `json:"selection_warning,omitempty"`
	// Candidates are the certificates that were eligible, ranked.
	Candidates []certs.Info `json:"candidates,omitempty"`
	// ExchangeVersion is set when the certificate is the prediction for an
	// Exchange server of that version; SelectionNote says how its rules
	// shaped the choice.
	ExchangeVersion string `json:"exchange_version,omitempty"`
	SelectionNote   string `json:"selection_note,omitempty"`

	Policy   tlscheck.Level  `json:"policy"`
	Expect   string          `json:"expect,omitempty"`
	Verdict  probe.Verdict   `json:"verdict"`
	Findings []probe.Finding `json:"findings"`
	Fix      *probe.Fix      `json:"fix,omitempty"`
	// ProbeCommand checks the prediction live.
	ProbeCommand string `json:"probe_command"`
}

// ReceiveElsewhere is a remote range taken by another connector.
type ReceiveElsewhere struct {
	Range     string `json:"range"`
	Local     string `json:"local,omitempty"` // the local endpoint, when that decides
	Connector string `json:"connector"`
}

func findReceive(rt *node.Runtime, name string) *receive.Connector {
	if rt.Recv == nil {
		return nil
	}
	for _, c := range rt.Recv.Connectors {
		if strings.EqualFold(c.Name(), name) || strings.EqualFold(c.ID, name) {
			return c
		}
	}
	return nil
}

// validateReceive judges a receive connector offline.
func validateReceive(rt *node.Runtime, rc *receive.Connector, opts Options, now time.Time) *Report {
	v := &Report{Connector: rc.Name(), Kind: "receive", Time: now}
	cfg := rc.Config
	fqdn := or(cfg.FQDN, rt.Cfg.Server.FQDN)
	expect := or(opts.Expect, fqdn)
	roots := opts.Roots
	if roots == nil {
		roots = rt.Roots
	}
	store := opts.Certificates
	if store == nil {
		store = rt.Store
	}
	sel, offers := rc.Selection, rc.OffersTLS()
	if opts.Version != certs.VersionMailflow && cfg.HasAuth("Tls") {
		sel = rt.Store.Select(certs.Request{CertificateName: cfg.TLSCertificateName, ConnectorFQDN: cfg.FQDN, ServerFQDN: rt.Cfg.Server.FQDN,
			Connector: rc.ID, Now: now, Version: opts.Version})
		offers = sel.Cert != nil
	}
	rv := &ReceiveReport{
		ID: rc.ID, FQDN: fqdn, OffersSTARTTLS: offers, RequireTLS: cfg.RequireTLS, DomainSecure: cfg.DomainSecureEnabled,
		Sought: sel.Sought, Pinned: sel.Pinned, SelectionWarning: sel.Warning, ExchangeVersion: string(opts.Version), SelectionNote: sel.Note,
		Policy: opts.Level, Findings: []probe.Finding{},
	}
	if opts.Level == tlscheck.DomainValidation {
		rv.Expect = expect
	}
	for _, b := range rc.Bindings {
		rv.Bindings = append(rv.Bindings, b.String())
	}
	for _, r := range rc.Ranges {
		rv.RemoteIPRanges = append(rv.RemoteIPRanges, r.String())
	}
	rv.Elsewhere = elsewhere(rt.Recv, rc)
	for _, c := range sel.Candidates {
		rv.Candidates = append(rv.Candidates, c.Describe(now))
	}
	if c := sel.Cert; c != nil {
		info := c.Describe(now)
		rv.Certificate = &info
	}

	// The same report shape as a probe, so the verdict and the fix read
	// the same.
	r := &probe.Report{
		Target: receiveProbeTarget(rc, fqdn), Host: fqdn, Port: receivePort(rc), Policy: opts.Level, Expect: rv.Expect,
		Time: now, Extensions: []string{}, Findings: []probe.Finding{}, StartTLSOffered: rv.OffersSTARTTLS,
	}
	if src := receiveSource(rc); src != "" {
		r.Source, r.SourceAsked = src, true
	}
	run := probe.Runner{Sender: &send.Sender{Roots: roots}, Connector: send.Connector{Level: opts.Level}, Now: now, Cloud: true,
		Certificates: store, ConnectorName: rc.Name()}
	tgt := send.Target{Host: fqdn, Port: r.Port}
	switch c := sel.Cert; {
	case !rv.OffersSTARTTLS:
		why := sel.Warning
		if !cfg.HasAuth("Tls") {
			why = "Tls is not in the connector's auth_mechanism, so EHLO does not advertise STARTTLS"
		}
		r.Stage = send.StageStartTLS
		run.Failed(r, &send.Failure{Status: send.StatusCannotConnect, Reason: send.ReasonStartTLSAbsent, Message: why, Stage: send.StageStartTLS}, tgt)
		r.Verdict.Message = why
	default:
		r.Stage = send.StageReady
		chain := probe.Chain(c)
		res := tlscheck.Verify(chain, tlscheck.Policy{Level: opts.Level, ExpectedName: expect, Roots: roots, Now: now, Usage: x509.ExtKeyUsageServerAuth})
		r.TLS = &probe.TLS{Chain: []certs.Info{}}
		for _, x := range chain {
			r.TLS.Chain = append(r.TLS.Chain, certs.FromX509(x).Describe(now))
		}
		check := res
		check.Chain = nil
		r.Verdict.Check = &check
		if res.OK {
			r.Verdict.Result = probe.Pass
			r.Verdict.Summary = fmt.Sprintf("A sender with %s accepts the certificate this connector presents, %s (thumbprint %s).",
				probe.PolicyText(opts.Level, rv.Expect), c.Subject, c.Thumbprint)
		} else {
			run.Failed(r, &send.Failure{Status: send.StatusCertificate, Reason: string(res.Reason), Message: res.Message(), Stage: send.StageTLS,
				LastError: send.LastError(send.StatusCertificate, string(res.Reason), res.Message(), send.Target{Host: fqdn}, now)}, tgt)
		}
		if sel.Expired {
			r.Findings = append(r.Findings, probe.Finding{Severity: "warning", Text: sel.Warning})
		}
	}
	if sel.Note != "" {
		r.Findings = append(r.Findings, probe.Finding{Severity: "info", Text: sel.Note})
	}
	for _, w := range receiveFindings(rt, rc, sel, rv) {
		r.Findings = append(r.Findings, w)
	}
	run.Finish(r)
	if !opts.Version.HasCertificateName() {
		fqdnFix(r.Fix, rt, rc, opts.Version, expect)
	}
	rv.Verdict, rv.Findings, rv.Fix = r.Verdict, r.Findings, r.Fix
	rv.ProbeCommand = probe.Command(r, "", "")
	v.Receive = rv
	v.Result = r.Verdict.Result
	return v
}

// receiveFindings notes connector settings that change how senders fare.
func receiveFindings(rt *node.Runtime, rc *receive.Connector, sel certs.Selection, rv *ReceiveReport) []probe.Finding {
	var out []probe.Finding
	if sel.Cert != nil && sel.Cert.SelfSigned && !sel.Pinned {
		out = append(out, probe.Finding{Severity: "info", Text: fmt.Sprintf(
			"The certificate was chosen automatically by the name %s and is self-signed: no CA-issued certificate with its private key holds that name. Validating senders refuse self-signed certificates unless they trust them explicitly.", sel.Sought)})
	}
	if rv.DomainSecure {
		out = append(out, probe.Finding{Severity: "info", Text: "Domain security (mutual TLS) is enabled: senders must present a client certificate this server trusts (tls_sender_certificate_name " +
			or(rc.Config.TLSSenderCertificateName, "(none)") + ")."})
	}
	out = append(out, authFindings(rt, rc)...)
	for _, e := range rv.Elsewhere {
		where := ""
		if e.Local != "" {
			where = " on " + e.Local
		}
		out = append(out, probe.Finding{Severity: "info", Text: fmt.Sprintf("Senders from %s%s land on connector %q, not this one, and see its certificate.", e.Range, where, e.Connector)})
	}
	return out
}

// elsewhere finds the remote ranges within rc's reach that another
// connector takes, by asking the server's own selection (Settings.Select)
// about a representative address of each overlap.
func elsewhere(st *receive.Settings, rc *receive.Connector) []ReceiveElsewhere {
	if st == nil {
		return nil
	}
	var out []ReceiveElsewhere
	seen := map[string]bool{}
	for _, b := range rc.Bindings {
		for _, local := range representativeLocals(st, rc, b) {
			for _, r1 := range rc.Ranges {
				// r1 itself, and every range of another connector that
				// overlaps it.
				probes := []netrange.Range{r1}
				for _, other := range st.Connectors {
					if other == rc {
						continue
					}
					for _, r2 := range other.Ranges {
						if r1.Overlaps(r2) && r1.ContainsRange(r2) {
							probes = append(probes, r2)
						}
					}
				}
				for _, pr := range probes {
					got := st.ConnectorFor(local.addr, netip.AddrPortFrom(pr.First, 25000))
					if got == nil || got == rc {
						continue
					}
					e := ReceiveElsewhere{Range: pr.String(), Connector: got.Name()}
					if !local.own {
						e.Local = local.addr.String()
					}
					key := e.Range + "|" + e.Local + "|" + e.Connector
					if !seen[key] {
						seen[key] = true
						out = append(out, e)
					}
				}
			}
		}
	}
	return out
}

// localEndpoint is a local address a connection may arrive on; own marks
// the binding's own address (a wildcard binding stands for any address).
type localEndpoint struct {
	addr netip.AddrPort
	own  bool
}

// representativeLocals are local endpoints a connection to binding b may
// arrive on: the binding's own address, and the specific addresses other
// connectors bind on the same port (where they win).
func representativeLocals(st *receive.Settings, rc *receive.Connector, b netrange.Binding) []localEndpoint {
	var out []localEndpoint
	switch {
	case b.Specific():
		return []localEndpoint{{netip.AddrPortFrom(b.Addr, b.Port), true}}
	case b.Addr.IsValid(): // 0.0.0.0 or [::]
		out = append(out, localEndpoint{netip.AddrPortFrom(b.Addr, b.Port), true})
	default: // ":port", both families
		out = append(out, localEndpoint{netip.AddrPortFrom(netip.IPv4Unspecified(), b.Port), true},
			localEndpoint{netip.AddrPortFrom(netip.IPv6Unspecified(), b.Port), true})
	}
	for _, other := range st.Connectors {
		if other == rc {
			continue
		}
		for _, ob := range other.Bindings {
			if ob.Port == b.Port && ob.Specific() && b.Matches(netip.AddrPortFrom(ob.Addr, ob.Port)) {
				out = append(out, localEndpoint{netip.AddrPortFrom(ob.Addr, ob.Port), false})
			}
		}
	}
	return out
}

// receivePort is the port of the connector's first binding.
func receivePort(rc *receive.Connector) int {
	if len(rc.Bindings) > 0 {
		return int(rc.Bindings[0].Port)
	}
	return send.DefaultPort
}

// receiveProbeTarget is where to probe the connector live: its specific
// address, else its FQDN.
func receiveProbeTarget(rc *receive.Connector, fqdn string) string {
	host := fqdn
	if len(rc.Bindings) > 0 && rc.Bindings[0].Specific() {
		host = rc.Bindings[0].Addr.String()
		if rc.Bindings[0].Addr.Is6() {
			host = "[" + host + "]"
		}
	}
	return host + ":" + strconv.Itoa(receivePort(rc))
}

// receiveSource is a source address that lands on the connector when its
// ranges do not take everyone: the first address of its most specific range.
func receiveSource(rc *receive.Connector) string {
	var best *netrange.Range
	for i := range rc.Ranges {
		r := rc.Ranges[i]
		if r.SameAddresses(netrange.All4) || r.SameAddresses(netrange.All6) {
			continue
		}
		if best == nil || r.MoreSpecificThan(*best) {
			best = &r
		}
	}
	if best == nil {
		return ""
	}
	// A prefix's first address is its network address, not a host.
	if best.First != best.Last {
		return best.First.Next().String()
	}
	return best.First.String()
}

// authFindings describes client submission on the connector: when AUTH is
// offered, what it grants, and how many users could use it.
func authFindings(rt *node.Runtime, rc *receive.Connector) []probe.Finding {
	cfg := &rc.Config
	basic := cfg.HasAuth(config.AuthBasic)
	if !basic {
		if cfg.HasPermission(config.PermExchangeUsers) {
			return []probe.Finding{{Severity: "warning", Text: "Permission group ExchangeUsers is granted only after SMTP AUTH, and BasicAuth is not in auth_mechanism: no client can authenticate on this connector. Add BasicAuth (with Tls and BasicAuthRequireTLS)."}}
		}
		return nil
	}
	var out []probe.Finding
	when := "before and after STARTTLS (BasicAuth without BasicAuthRequireTLS: passwords may cross the network in clear text)"
	if cfg.HasAuth(config.AuthBasicRequireTLS) {
		when = "only after STARTTLS (BasicAuthRequireTLS); AUTH before it gets 530 5.7.0 Must issue a STARTTLS command first"
		if !rc.OffersTLS() {
			out = append(out, probe.Finding{Severity: "warning", Text: "AUTH needs TLS (BasicAuthRequireTLS) but the connector cannot offer STARTTLS (no certificate for " +
				rc.Selection.Sought + "): every AUTH gets 538 5.7.11 and no device can submit. Add a certificate for that name or pin one with tls_certificate_name."})
		}
	}
	grant := "AUTH grants nothing extra (no ExchangeUsers permission group)"
	if cfg.HasPermission(config.PermExchangeUsers) {
		grant = "after AUTH the ExchangeUsers group grants submit and relay to any recipient"
		if !cfg.HasPermission(config.PermAnonymousUsers) {
			grant += "; nothing is allowed before AUTH"
		}
	}
	n := "the users file cannot be read"
	if st, err := users.Open(users.Path(rt.Cfg)); err == nil {
		n = fmt.Sprintf("%d user(s) in %s (mailflow user add NAME --password-file F --config FILE)", st.Len(), st.Path())
	} else {
		n += ": " + err.Error()
	}
	out = append(out, probe.Finding{Severity: "info", Text: "SMTP AUTH (PLAIN, LOGIN) is offered " + when + "; " + grant + "; " + n + "."})
	return out
}

// fqdnFix rewrites a pinning fix for an Exchange version without
// TlsCertificateName (2010): the connector FQDN must be a name of the
// recommended certificate — the name the sender expects — so that the
// version's selection by name finds it.
func fqdnFix(fix *probe.Fix, rt *node.Runtime, rc *receive.Connector, v certs.Version, expect string) {
	if fix == nil || fix.Recommended == nil {
		return
	}
	name := expect
	if name == "" || strings.HasPrefix(name, "*") {
		name = fix.NeededName
	}
	fix.Steps = append([]string{fmt.Sprintf("%s has no TlsCertificateName: set the connector FQDN to %s, a name on %s (thumbprint %s); %s then finds it by that name (a valid CA-issued certificate first, then the longest validity)",
		v, name, fix.Recommended.Subject, fix.Recommended.Thumbprint, v)}, fix.Steps...)
	fix.Exchange = fmt.Sprintf("Set-ReceiveConnector %q -Fqdn %s", rc.Name(), name)
	cmd := fmt.Sprintf("mailflow connector set %q", rc.Name())
	if rt.Cfg != nil && rt.Cfg.Path != "" {
		cmd += " --config " + rt.Cfg.Path
	}
	fix.Mailflow = cmd + " --fqdn " + name
}
