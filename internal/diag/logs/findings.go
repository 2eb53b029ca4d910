package logs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/diag/explain"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// logMaxInconsistentGroups bounds the "different certificates" findings;
// each groups every address that saw the same set of certificates.
const logMaxInconsistentGroups = 50

// logFindingOrder ranks finding kinds for the report: the likeliest cause of
// a mail-flow failure first.
var logFindingOrder = []string{
	"certificate-name-mismatch",
	"inconsistent-certificates",
	"self-signed-certificate",
	"starttls-not-offered",
	"tls-credentials",
	"certificate-expired",
	"certificate-not-yet-valid",
	"certificate-expiring",
	"tracking-failed",
	"tracking-deferred",
	"auth-failures",
}

func (a *Analyzer) findings(conns []*logConn) []Finding {
	var out []Finding
	for _, c := range conns {
		out = append(out, a.nameFindings(c)...)
		out = append(out, a.selfSignedFindings(c)...)
		out = append(out, startTLSFindings(c)...)
		out = append(out, credentialFindings(c)...)
		out = append(out, a.expiryFindings(c)...)
		out = append(out, authFindings(c)...)
	}
	out = append(out, a.inconsistentFindings()...)
	out = append(out, trackingFindings(a.track)...)
	slices.SortStableFunc(out, func(x, y Finding) int {
		if x.Severity != y.Severity {
			if x.Severity == SeverityError {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(slices.Index(logFindingOrder, x.Kind), slices.Index(logFindingOrder, y.Kind)); c != 0 {
			return c
		}
		if c := strings.Compare(x.Connector, y.Connector); c != 0 {
			return c
		}
		return strings.Compare(x.Summary, y.Summary)
	})
	return out
}

// ---- certificate names ----

// logCertNames returns the host names a logged certificate holds: the
// subject CN and the SANs.
func logCertNames(ci *logCert) []string {
	var names []string
	if ci.subject != "" {
		if dn, err := certs.ParseDN(ci.subject); err == nil {
			for _, rdn := range dn {
				for _, at := range rdn {
					if at.Type == "CN" && !at.Hex && at.Value != "" {
						names = appendName(names, at.Value)
					}
				}
			}
		} else if !strings.Contains(ci.subject, "=") {
			names = appendName(names, strings.TrimSpace(ci.subject)) // a bare name
		}
	}
	for _, san := range ci.sans {
		// Some tools write "DNS Name=host"; Exchange writes the bare name.
		if _, v, ok := strings.Cut(san, "="); ok {
			san = v
		}
		names = appendName(names, strings.TrimSpace(san))
	}
	return names
}

// appendName adds a host name unless empty or already listed (any case).
func appendName(names []string, n string) []string {
	if n == "" || slices.ContainsFunc(names, func(x string) bool { return strings.EqualFold(x, n) }) {
		return names
	}
	return append(names, n)
}

// logCertHasName reports whether a logged certificate satisfies name the
// way a validating sender matches it (certs.MatchesName semantics over the
// logged CN and SANs): a wildcard in the certificate covers one left-most
// label; a wildcard name is satisfied by the same wildcard or one host
// directly under it.
func logCertHasName(ci *logCert, name string) bool {
	name = strings.TrimSuffix(strings.TrimSpace(name), ".")
	if name == "" {
		return true
	}
	return certs.HostNamesMatch(logCertNames(ci), name)
}

func certLabel(ci *logCert) string {
	subject := nonBlankText(ci.subject, "a certificate (subject not logged)")
	return fmt.Sprintf("%s (thumbprint %s)", subject, nonBlankText(ci.thumbprint, "not logged"))
}

func certNamesText(ci *logCert) string {
	names := logCertNames(ci)
	if len(names) == 0 {
		return "no names logged"
	}
	return strings.Join(names, ", ")
}

func connectorCmdlet(c *logConn) string {
	if c.send {
		return "Set-SendConnector"
	}
	return "Set-ReceiveConnector"
}

// pinFix names how a connector comes to present a certificate holding
// name, by the rules of the Exchange version that wrote the logs: pin it
// with TlsCertificateName (2013 and later), or — Exchange 2010 has none —
// set the connector FQDN to the name.
func (a *Analyzer) pinFix(c *logConn, good *logCert, name string) string {
	if v := a.version(); !v.HasCertificateName() {
		return fqdnFix(v, c, good, name)
	}
	return tlsCertificateNameFix(c, good, name)
}

// fqdnFix is pinFix for Exchange 2010.
func fqdnFix(v certs.Version, c *logConn, good *logCert, name string) string {
	which := fmt.Sprintf("a certificate whose CN or SAN holds %s (Get-ExchangeCertificate | fl Thumbprint,Subject,CertificateDomains,Services)", name)
	if good != nil {
		which = fmt.Sprintf("the certificate that holds %s, %s", name, certLabel(good))
	}
	return fmt.Sprintf("%s has no TlsCertificateName: it chooses the certificate by the connector FQDN among certificates enabled for SMTP (a valid CA-issued one first, then the longest validity). "+
		"Set the FQDN to %s so that it finds %s: %s \"%s\" -Fqdn %s (mailflow: mailflow connector set \"%s\" --fqdn %s), and make sure it is enabled for SMTP: Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services SMTP.",
		v, name, which, connectorCmdlet(c), c.name, name, c.name, name)
}

// tlsCertificateNameFix is the pinning command for one connector and one
// certificate (or placeholders when the right one is not in the logs).
func tlsCertificateNameFix(c *logConn, good *logCert, name string) string {
	value := `<I>issuer<S>subject`
	which := fmt.Sprintf("a certificate whose CN or SAN holds %s (Get-ExchangeCertificate | fl Thumbprint,Subject,Issuer,CertificateDomains / mailflow cert list)", name)
	if good != nil && good.issuer != "" && good.subject != "" {
		value = "<I>" + good.issuer + "<S>" + good.subject
		which = fmt.Sprintf("the certificate that holds %s, %s", name, certLabel(good))
	}
	return fmt.Sprintf("Pin %s to the connector: %s \"%s\" -TlsCertificateName \"%s\" (mailflow: mailflow connector set \"%s\" --tls-certificate-name \"%s\"). "+
		"Exchange matches issuer and subject, not the thumbprint, so a renewal with the same names is picked up by itself.",
		which, connectorCmdlet(c), c.name, value, c.name, value)
}

func restartFix(c *logConn, name string) string {
	service := "MSExchangeFrontEndTransport"
	if c.send {
		service = "MSExchangeTransport"
	}
	return fmt.Sprintf("Restart-Service %s so the connector reloads its certificate (mailflow applies connector changes live), then verify with mailflow probe <host>:25 --policy DomainValidation --expect %s.", service, name)
}

// goodCert finds a certificate seen anywhere in the logs that holds name,
// preferring one presented by a connector (installed here) and not
// self-signed.
func (a *Analyzer) goodCert(name string) (*logCert, *logConn) {
	var best *logCert
	var bestConn *logConn
	for _, c := range a.proto.connectorList() {
		for _, u := range sortedUses(c.sent) {
			if !logCertHasName(u.cert, name) {
				continue
			}
			if best == nil || best.selfSigned && !u.cert.selfSigned {
				best, bestConn = u.cert, c
			}
		}
	}
	return best, bestConn
}

func (a *Analyzer) nameFindings(c *logConn) []Finding {
	var out []Finding
	for _, name := range a.opts.Expect {
		for _, u := range sortedUses(c.sent) {
			ci := u.cert
			if len(logCertNames(ci)) == 0 || logCertHasName(ci, name) {
				continue // without names the logs cannot tell
			}
			f := Finding{
				Kind:       "certificate-name-mismatch",
				Severity:   SeverityError,
				Connector:  c.name,
				Thumbprint: ci.thumbprint,
				Summary:    fmt.Sprintf("connector %s presented %s which lacks %s", c.name, certLabel(ci), name),
				Count:      u.count,
				FirstSeen:  u.first,
				LastSeen:   u.last,
			}
			who := "A validating sender that expects " + name + " (an Exchange Online outbound connector with TlsSettings DomainValidation and TlsDomain " + name +
				", or any sender validating the smart host name) refuses it: 450 4.7.320 Certificate validation failed (SubjectMismatch), retried for 24 hours, then a non-delivery report."
			if c.send {
				who = "This is the client certificate the send connector presents. A receiver that attributes mail by it (an Exchange Online inbound connector with TlsSenderCertificateName " +
					name + ") does not find " + name + " and rejects or misroutes the mail (550 5.7.64 TenantAttribution; Relay Access Denied)."
			}
			f.Detail = fmt.Sprintf("Presented %d time(s), %s. The certificate's names: %s. %s", u.count, fmtSpan(u.first, u.last), certNamesText(ci), who)
			good, goodConn := a.goodCert(name)
			if good != nil && goodConn != nil && goodConn != c {
				f.Detail += fmt.Sprintf(" The logs show %s holding %s, presented by connector %s.", certLabel(good), name, goodConn.name)
			}
			if ci.selfSigned && !strings.Contains(certNamesText(ci), ".") {
				f.Detail += " A self-signed certificate named after the bare server is Exchange's default certificate: the connector fell back to it because its TlsCertificateName is empty or names a certificate that is not installed."
			}
			f.Fix = []string{a.pinFix(c, good, name), restartFix(c, name)}
			out = append(out, f)
		}
	}
	return out
}

// ---- self-signed certificates to validating senders ----

func (a *Analyzer) selfSignedFindings(c *logConn) []Finding {
	if c.send {
		return nil
	}
	publicName := "the name the senders connect to"
	if len(a.opts.Expect) > 0 {
		publicName = a.opts.Expect[0]
	}
	var out []Finding
	for _, u := range sortedUses(c.sent) {
		if !u.cert.selfSigned || u.validatingAny == 0 {
			continue
		}
		var signs []string
		if u.validatingEOP > 0 {
			signs = append(signs, fmt.Sprintf("%d session(s) came from Exchange Online (EHLO …outlook.com), which validates the certificate when its connector uses TlsSettings CertificateValidation or DomainValidation (hybrid mail flow does)", u.validatingEOP))
		}
		if u.validatingDrop > 0 {
			signs = append(signs, fmt.Sprintf("in %d session(s) the sender hung up right after the TLS handshake without sending a command, or the handshake failed, which is what a validating sender does with a certificate it does not trust", u.validatingDrop))
		}
		out = append(out, Finding{
			Kind:       "self-signed-certificate",
			Severity:   SeverityError,
			Connector:  c.name,
			Thumbprint: u.cert.thumbprint,
			Summary:    fmt.Sprintf("connector %s presented the self-signed certificate %s to senders that validate (%d session(s))", c.name, certLabel(u.cert), u.validatingAny),
			Detail: "Signs that the senders validate: " + strings.Join(signs, "; ") + ". A self-signed certificate never chains to a trusted root, " +
				"so such a sender defers the mail (450 4.7.320 Certificate validation failed) however the names match.",
			Fix: []string{
				"Install a certificate from a public CA whose CN or SAN holds the name the senders connect to, with its private key, and enable it for SMTP: Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services SMTP (mailflow: add it under certificates: in the configuration).",
				a.pinFix(c, nil, publicName),
			},
			Count:     u.validatingAny,
			FirstSeen: u.first,
			LastSeen:  u.last,
		})
	}
	return out
}

// ---- STARTTLS not offered ----

func startTLSFindings(c *logConn) []Finding {
	missing := c.ehlo - c.offered
	if missing <= 0 {
		return nil
	}
	remotes := make([]string, 0, len(c.notOfferedRemotes))
	for _, r := range c.notOfferedRemotes {
		remotes = append(remotes, r.String())
	}
	f := Finding{
		Kind:      "starttls-not-offered",
		Severity:  SeverityError,
		Connector: c.name,
		Count:     missing,
		FirstSeen: c.notOffered.first,
		LastSeen:  c.notOffered.last,
	}
	if !c.send {
		f.Summary = fmt.Sprintf("connector %s did not offer STARTTLS in %d of %d EHLO replies", c.name, missing, c.ehlo)
		f.Detail = fmt.Sprintf("EHLO replies without STARTTLS, %s", fmtSpan(f.FirstSeen, f.LastSeen))
		if len(remotes) > 0 {
			f.Detail += " (to " + strings.Join(remotes, ", ") + ")"
		}
		f.Detail += ". A sender that requires TLS (Exchange Online connectors, hybrid, RequireTLS) fails with 451 5.7.3 STARTTLS is required to send mail. " +
			"Exchange advertises STARTTLS only when the connector's AuthMechanism includes Tls and a certificate holding its FQDN (or its TlsCertificateName) is installed; otherwise the Application log has event 12014."
		f.Fix = []string{
			fmt.Sprintf("Check the connector: Get-ReceiveConnector \"%s\" | fl AuthMechanism,Fqdn,TlsCertificateName; add Tls if missing: Set-ReceiveConnector \"%s\" -AuthMechanism @{Add='Tls'} (mailflow: auth_mechanism includes Tls on the receive connector).", c.name, c.name),
			"Install and enable for SMTP a certificate whose CN or SAN holds the connector's FQDN, or pin one with -TlsCertificateName; look for event 12014 (mailflow explain \"Event ID: 12014 …\" explains its text).",
		}
		return []Finding{f}
	}
	f.Summary = fmt.Sprintf("remote servers did not offer STARTTLS to send connector %s in %d of %d EHLO replies", c.name, missing, c.ehlo)
	f.Detail = fmt.Sprintf("EHLO replies without STARTTLS, %s", fmtSpan(f.FirstSeen, f.LastSeen))
	if len(remotes) > 0 {
		f.Detail += " (from " + strings.Join(remotes, ", ") + ")"
	}
	f.Detail += ". A connector with RequireTLS queues such mail (450 4.4.317 Cannot connect to remote server); without it the mail goes in plain text."
	f.Fix = []string{
		"Ask the remote administrator to enable STARTTLS (on Exchange: Tls in the receive connector's AuthMechanism and a certificate for its FQDN); see what the server offers with mailflow probe <remote>:25.",
	}
	return []Finding{f}
}

// ---- NoCredentials / UnknownCredentials ----

func credentialFindings(c *logConn) []Finding {
	var out []Finding
	words := make([]string, 0, len(c.failures))
	for w := range c.failures {
		words = append(words, w)
	}
	slices.Sort(words)
	for _, word := range words {
		if !strings.EqualFold(word, "NoCredentials") && !strings.EqualFold(word, "UnknownCredentials") {
			continue
		}
		fl := c.failures[word]
		e := explain.Text("TLS negotiation failed with error " + word)
		f := Finding{
			Kind:      "tls-credentials",
			Severity:  SeverityError,
			Connector: c.name,
			Summary:   fmt.Sprintf("connector %s: TLS negotiation failed with error %s %d time(s)", c.name, word, fl.count),
			Count:     fl.count,
			FirstSeen: fl.first,
			LastSeen:  fl.last,
		}
		thumb, name := "<thumbprint>", "<I>issuer<S>subject"
		if fl.cert != nil {
			if fl.cert.issuer != "" && fl.cert.subject != "" {
				name = "<I>" + fl.cert.issuer + "<S>" + fl.cert.subject
			}
			f.Summary += " presenting " + certLabel(fl.cert)
			if fl.cert.thumbprint != "" {
				f.Thumbprint = fl.cert.thumbprint
				thumb = fl.cert.thumbprint
			}
		}
		f.Detail = fmt.Sprintf("%s, %s.", strings.TrimSuffix(e.Title, "."), fmtSpan(fl.first, fl.last))
		if e.Cause != "" {
			f.Detail += " " + e.Cause
		}
		for _, fix := range e.Fix {
			fix = strings.ReplaceAll(fix, "<connector>", c.name)
			fix = strings.ReplaceAll(fix, "<thumbprint>", thumb)
			fix = strings.ReplaceAll(fix, "<I>issuer<S>subject", name)
			if !c.send {
				fix = strings.ReplaceAll(fix, "Set-SendConnector", "Set-ReceiveConnector")
			}
			f.Fix = append(f.Fix, fix)
		}
		out = append(out, f)
	}
	return out
}

// ---- expiry ----

func (a *Analyzer) expiryFindings(c *logConn) []Finding {
	var out []Finding
	for _, peer := range []bool{false, true} {
		m := c.sent
		if peer {
			m = c.peer
		}
		uses := sortedUses(m)
		for i, u := range uses {
			ci := u.cert
			if ci.notAfter.IsZero() {
				continue
			}
			verb := "presented"
			if peer {
				verb = "received"
			}
			if u.expired.count > 0 {
				out = append(out, Finding{
					Kind: "certificate-expired", Severity: SeverityError, Connector: c.name, Thumbprint: ci.thumbprint,
					Summary: fmt.Sprintf("connector %s %s the expired certificate %s %d time(s); it expired %s",
						c.name, verb, certLabel(ci), u.expired.count, fmtLogTime(ci.notAfter)),
					Detail: fmt.Sprintf("Used after its NotAfter %s. Validating peers refuse an expired certificate (450 4.7.320 Certificate validation failed, CertificateExpired). %s",
						fmtSpan(u.expired.first, u.expired.last), expiredCause(peer)),
					Fix:   a.expiryFix(c, peer),
					Count: u.expired.count, FirstSeen: u.expired.first, LastSeen: u.expired.last,
				})
			}
			if u.notYetValidUses > 0 {
				out = append(out, Finding{
					Kind: "certificate-not-yet-valid", Severity: SeverityError, Connector: c.name, Thumbprint: ci.thumbprint,
					Summary: fmt.Sprintf("connector %s %s the certificate %s before its NotBefore %s (%d time(s))",
						c.name, verb, certLabel(ci), fmtLogTime(ci.notBefore), u.notYetValidUses),
					Detail: "Validating peers refuse a certificate that is not yet valid; check the server's clock and the certificate's dates.",
					Count:  u.notYetValidUses, FirstSeen: u.first, LastSeen: u.last,
				})
			}
			// Judged against now: only the certificate still in use (the
			// latest one presented); earlier ones were replaced.
			if peer || i > 0 || u.expired.count > 0 {
				continue
			}
			left := ci.notAfter.Sub(a.now)
			switch {
			case left < 0:
				out = append(out, Finding{
					Kind: "certificate-expired", Severity: SeverityWarning, Connector: c.name, Thumbprint: ci.thumbprint,
					Summary: fmt.Sprintf("connector %s's latest certificate %s expired %s, after the logs end", c.name, certLabel(ci), fmtLogTime(ci.notAfter)),
					Detail:  fmt.Sprintf("Last presented %s. If the connector still presents it, validating senders now refuse it.", fmtLogTime(u.last)),
					Fix:     a.expiryFix(c, false),
					Count:   u.count, FirstSeen: u.first, LastSeen: u.last,
				})
			case left < a.opts.ExpiryWarning:
				out = append(out, Finding{
					Kind: "certificate-expiring", Severity: SeverityWarning, Connector: c.name, Thumbprint: ci.thumbprint,
					Summary: fmt.Sprintf("connector %s presents %s which expires %s (in %d day(s))", c.name, certLabel(ci), fmtLogTime(ci.notAfter), int(left/(24*time.Hour))),
					Detail:  "Renew it before then; with the same issuer and subject a connector pinned by TlsCertificateName picks the renewal up by itself.",
					Fix:     a.expiryFix(c, false),
					Count:   u.count, FirstSeen: u.first, LastSeen: u.last,
				})
			}
		}
	}
	return out
}

func expiredCause(peer bool) string {
	if peer {
		return "The remote side presented it: its administrator must renew it."
	}
	return "Exchange keeps presenting an expired certificate when no valid one holds the name (event 12016)."
}

func (a *Analyzer) expiryFix(c *logConn, peer bool) []string {
	if peer {
		return []string{"Ask the remote administrator to renew the certificate; mailflow probe <remote>:25 shows the dates a server presents."}
	}
	return []string{
		"Renew the certificate (same issuer and subject keeps a TlsCertificateName pin valid), import it with its private key and enable it for SMTP: Enable-ExchangeCertificate -Thumbprint <new thumbprint> -Services SMTP; remove the expired one.",
		a.pinFix(c, nil, "the connector's public name"),
	}
}

// ---- tracking ----

func trackingFindings(t *trackState) []Finding {
	s := t.summary()
	if s == nil {
		return nil
	}
	var out []Finding
	for _, r := range s.Reasons {
		kind, sev, verb := "tracking-deferred", SeverityWarning, "deferred"
		if r.Event == tracking.EventFail {
			kind, sev, verb = "tracking-failed", SeverityError, "failed"
		}
		f := Finding{
			Kind:      kind,
			Severity:  sev,
			Summary:   fmt.Sprintf("%d recipient(s) %s: %s", r.Recipients, verb, r.Reason),
			Count:     r.Recipients,
			FirstSeen: r.FirstSeen,
			LastSeen:  r.LastSeen,
		}
		if len(r.Targets) > 0 {
			f.Summary += " (to " + strings.Join(r.Targets, ", ") + ")"
		}
		detail := []string{fmt.Sprintf("%d tracking event(s), %s.", r.Events, fmtSpan(r.FirstSeen, r.LastSeen))}
		if r.Title != "" {
			detail = append(detail, r.Title+".")
		}
		if len(r.ExampleMessageIDs) > 0 {
			detail = append(detail, "Messages such as "+strings.Join(r.ExampleMessageIDs, ", ")+".")
		}
		f.Detail = strings.Join(detail, " ")
		if len(r.fix) > 0 {
			f.Fix = r.fix[:min(2, len(r.fix))]
		} else {
			f.Fix = []string{"mailflow explain \"" + r.Reason + "\" tells what the reason means."}
		}
		out = append(out, f)
	}
	return out
}

// ---- SMTP AUTH ----

// logAuthFailuresWorthNoting is where failed logins on one connector stop
// being a typo and start being a device with a stale password or a guesser.
const logAuthFailuresWorthNoting = 10

func authFindings(c *logConn) []Finding {
	if c.send || c.authFailed < logAuthFailuresWorthNoting {
		return nil
	}
	s := c.summary()
	f := Finding{
		Kind: "auth-failures", Severity: SeverityWarning, Connector: c.name, Count: c.authFailed,
		Summary: fmt.Sprintf("%d failed SMTP AUTH attempts on connector %s (%d succeeded)", c.authFailed, c.name, c.authOK),
		Detail: "Failed logins come from a device or application with a stale password, or from someone guessing passwords. " +
			"Failures by address: " + authAddressesText(s.AuthFailuresFrom) + ". The logs hold the AUTH command and mechanism only, never the credentials.",
		Fix: []string{
			"For your own device: set its password again on both sides (mailflow user passwd NAME --password-file F --config FILE).",
			"For addresses you do not know: block them; mailflow's fail2ban filter is examples/fail2ban/mailflow-auth.conf. mailflow's own tarpit and lock-out are limits.auth_tarpit, auth_failures_per_ip, auth_failures_per_user, auth_lockout.",
		},
	}
	return []Finding{f}
}
