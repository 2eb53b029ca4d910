package probe

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// probeExpiringSoonDays is when a presented certificate's remaining life becomes
// a finding.
const probeExpiringSoonDays = 30

// probeFindings lists what is worth knowing beside the verdict.
func probeFindings(r *Report) []Finding {
	var out []Finding
	warn := func(format string, a ...any) {
		out = append(out, Finding{Severity: "warning", Text: fmt.Sprintf(format, a...)})
	}
	info := func(format string, a ...any) {
		out = append(out, Finding{Severity: "info", Text: fmt.Sprintf(format, a...)})
	}
	if t := r.TLS; t != nil {
		if t.Legacy {
			warn("The server negotiated %s, older than TLS 1.2: Exchange Online and current senders refuse it, so their handshake fails before any certificate check. "+
				"The probe accepts it only to judge the server. Enable TLS 1.2 on the server (Exchange: the TLS 1.2 SChannel and .NET strong-crypto settings) and restart it.", t.Version)
		}
		if len(t.Chain) > 0 {
			leaf := t.Chain[0]
			switch {
			case leaf.DaysLeft >= 0 && leaf.DaysLeft < probeExpiringSoonDays && leaf.Status != "expired":
				warn("The certificate %s expires in %d days (%s): renew it now; a connector pinned by issuer and subject picks up a renewal with the same names without a change.",
					leaf.Subject, leaf.DaysLeft, leaf.NotAfter.Format("2006-01-02"))
			}
			if leaf.SelfSigned && r.Verdict.Result == Pass && r.Policy == tlscheck.EncryptionOnly {
				info("The certificate %s is self-signed: accepted at EncryptionOnly, refused by senders with CertificateValidation or DomainValidation (Exchange Online hybrid connectors use DomainValidation).", leaf.Subject)
			}
		}
		switch {
		case t.Version == "":
			// No handshake was observed (an offline judgement, or one that
			// failed): nothing to say about the certificate request.
		case t.ClientCertificateRequested && t.ClientCertificate != nil:
			info("The server asked for a client certificate (mutual TLS / domain security); the probe presented %s.", t.ClientCertificate.Subject)
		case t.ClientCertificateRequested:
			cas := "any issuer"
			if len(t.AcceptableCAs) > 0 {
				cas = strings.Join(t.AcceptableCAs, "; ")
			}
			info("The server asked for a client certificate (mutual TLS / domain security; acceptable issuers: %s) and none was presented: give --client-cert FILE to present the sender's certificate.", cas)
		default:
			info("The server did not ask for a client certificate.")
		}
	}
	if len(r.Addresses) > 1 {
		others := r.Addresses[1:]
		info("%s has %d addresses; the probe tested the first (%s), the one a sender tries first. Test the others too, e.g. %s.",
			r.Host, len(r.Addresses), r.Addresses[0], Command(r, "["+others[0]+"]:"+strconv.Itoa(r.Port), "--sni "+r.Host))
	}
	return out
}

// fix says what to change for a report that did not pass.
func (p Runner) fix(r *Report) *Fix {
	v := r.Verdict
	if v.Result == Pass {
		return nil
	}
	if isDANEStatus(v.Status) || v.Reason == send.ReasonDANERequired {
		return p.daneFix(r)
	}
	f := &Fix{}
	add := func(format string, a ...any) { f.Steps = append(f.Steps, fmt.Sprintf(format, a...)) }
	where := net.JoinHostPort(probeOr(r.IP, r.Host), strconv.Itoa(r.Port))
	expect := probeOr(r.Expect, r.Host)
	needsCertificate := false

	switch {
	case v.Result == Error:
		switch v.Reason {
		case send.ReasonDNS, send.ReasonNullMX:
			add("%s does not resolve from here: check the name (the smart host or MX record), and that the A/AAAA record exists (nslookup %s).", r.Host, r.Host)
		case send.ReasonRefused:
			add("Nothing accepts connections on %s: check that the SMTP service runs and binds that address and port (Exchange: Get-ReceiveConnector | fl Identity,Bindings), and the firewall's port forward.", where)
		case send.ReasonTimedOut:
			add("No answer from %s: a firewall drops the packets, the host is down, or the server stalls. Check that the port is open from the sender's network (Test-NetConnection %s -Port %d).", where, r.Host, r.Port)
		default:
			add("The server at %s took the connection but ended or refused the session (%s): check the receive connector that takes this source address (RemoteIPRanges, connection limits) and its protocol log.", where, v.Message)
		}
	case v.Status == send.StatusCertificate:
		needsCertificate = true
		subject := probeLeafSubject(r)
		switch tlscheck.Reason(v.Reason) {
		case tlscheck.SubjectMismatch:
			f.NeededName = expect
			add("The certificate presented (%s, names %s) does not hold %s: the receive connector must present a certificate with %s in its subject CN or a SAN.",
				subject, probeLeafNames(r), expect, expect)
		case tlscheck.CertificateExpired, tlscheck.CertificateNotYetValid:
			add("The certificate %s is outside its validity period: renew it (same subject and names) and install it with its private key; a connector pinned by issuer and subject uses the renewal without a change.", subject)
		case tlscheck.UntrustedRoot:
			add("The sender does not trust the issuer of %s. Exchange Online trusts public CAs only: present a certificate from a public CA. A private sender can add the CA to its trust instead (mailflow: trust.ca_files; this probe: --ca FILE).", subject)
		case tlscheck.IncompleteChain:
			add("The issuer of %s was neither sent by the server nor known to the sender: install the intermediate CA certificates on the server so it sends the whole chain, or add the CA to the sender's trust (mailflow: trust.ca_files; this probe: --ca FILE).", subject)
		case tlscheck.NoCertificate:
			add("The server presented no certificate: give the receive connector a certificate with its private key.")
		default:
			add("Reissue the certificate %s: %s.", subject, strings.TrimSuffix(probeCheckDetail(v), "."))
		}
	case v.Reason == send.ReasonStartTLSAbsent || v.Reason == send.ReasonStartTLS:
		needsCertificate = true
		if r.Policy == tlscheck.DomainValidation {
			f.NeededName = expect
		}
		add("The receive connector does not offer STARTTLS: Tls is missing from its AuthMechanism, or it has no certificate with its private key for its FQDN (Exchange event 12014). " +
			"Add Tls (Set-ReceiveConnector -AuthMechanism Tls,…) and give it a certificate; pinning one with TlsCertificateName makes the choice explicit.")
	case r.TLS != nil && r.TLS.Version != "" && strings.Contains(v.Message, "RemoteAlert"):
		add("The server ended the session after the handshake (%s): it refused the client certificate, or requires one. Present a certificate it trusts (--client-cert FILE; Exchange: the send connector's TlsCertificateName), issued by a CA in its trust.", v.Message)
	default:
		add("The TLS handshake with %s failed (%s). Check the server's TLS configuration: TLS 1.2 enabled, common cipher suites, and a certificate whose private key the service can use (Exchange logs NoCredentials otherwise).", where, v.Message)
	}

	if needsCertificate {
		p.recommend(r, f, expect)
	}
	if tlscheck.Reason(v.Reason) == tlscheck.SubjectMismatch {
		add("Or, if this server is right and the expectation is wrong, change the name the sender expects (Exchange Online: Set-OutboundConnector -TlsDomain; Exchange: Set-SendConnector -TlsDomain; mailflow: the send connector's tls_domain).")
	}
	verify := p.Verify
	if verify == "" {
		verify = Command(r, "", "")
	}
	add("Verify: %s.", verify)
	return f
}

// recommend adds the certificate to pin, from the server's certificates.
func (p Runner) recommend(r *Report, f *Fix, expect string) {
	connector := probeOr(p.ConnectorName, DefaultConnector)
	add := func(format string, a ...any) { f.Steps = append(f.Steps, fmt.Sprintf(format, a...)) }
	if p.Certificates == nil {
		add("To be told which of the server's certificates to pin, give them to the probe: %s (DIR holds the server's certificates as PEM or PFX files; on Exchange, Get-ExchangeCertificate | fl Thumbprint,Subject,Issuer,CertificateDomains lists them). Then pin it: Set-ReceiveConnector %s -TlsCertificateName \"<I>issuer<S>subject\" (mailflow: mailflow connector set %s --tls-certificate-name \"<I>issuer<S>subject\").",
			Command(r, "", "--certs DIR"), probePSQuote(connector), ShellQuote(connector))
		return
	}
	f.Candidates = EvaluateCertificates(p.Certificates, expect, r.Policy, p.Sender.Roots, p.Now)
	best, notes := probePickRecommended(p.Certificates, f.Candidates, p.Now)
	for _, n := range notes {
		add("Note: %s.", n)
	}
	if best == nil {
		add("None of the %d certificates given with --certs is accepted by a sender with %s%s (see the candidates). Get one issued that holds %s by a CA the sender trusts: New-ExchangeCertificate -SubjectName \"CN=%s\" -DomainName %s -GenerateRequest … (mailflow: mailflow cert new --subject \"CN=%s\" --san %s --issuer-cert CA.pem --out FILE), then pin it.",
			len(f.Candidates), r.Policy, probeExpecting(r), expect, expect, expect, expect, expect)
		return
	}
	info := best.Describe(p.Now)
	f.Recommended = &info
	if r.TLS != nil && len(r.TLS.Chain) > 0 && r.TLS.Chain[0].Thumbprint == best.Thumbprint {
		add("The server already presents the right certificate, %s (thumbprint %s); what fails is the chain it sends with it: install the intermediate CA certificates on the server.", best.Subject, best.Thumbprint)
		return
	}
	name := best.Name()
	f.Exchange = "Set-ReceiveConnector " + probePSQuote(connector) + " -TlsCertificateName " + probePSQuote(name)
	f.Mailflow = "mailflow connector set " + ShellQuote(connector) + " --tls-certificate-name " + ShellQuote(name)
	add("Pin %s (thumbprint %s, issued by %s, %d days left) on the receive connector:", best.Subject, best.Thumbprint, best.Issuer, info.DaysLeft)
	add("Exchange: %s", f.Exchange)
	add("mailflow: %s", f.Mailflow)
	add("On Exchange restart the Front End Transport service (Restart-Service MSExchangeFrontEndTransport) so the connector loads it; mailflow applies the change live.")
}

func probeExpecting(r *Report) string {
	if r.Policy == tlscheck.DomainValidation && r.Expect != "" {
		return " expecting " + r.Expect
	}
	return ""
}

// Command is the command that repeats this probe; target "" = the
// report's own, extra is added before the policy.
func Command(r *Report, target, extra string) string {
	if target == "" {
		target = r.Target
		if _, _, err := net.SplitHostPort(target); err != nil {
			target = net.JoinHostPort(r.Host, strconv.Itoa(r.Port))
		}
	}
	var b strings.Builder
	b.WriteString("mailflow probe " + target)
	if extra != "" {
		b.WriteString(" " + extra)
	}
	b.WriteString(" --policy " + r.Policy.String())
	if r.Policy == tlscheck.DomainValidation && r.Expect != "" {
		b.WriteString(" --expect " + r.Expect)
	}
	if r.Source != "" && r.SourceAsked {
		b.WriteString(" --source " + r.Source)
	}
	return b.String()
}

func probeLeafNames(r *Report) string {
	if r.TLS == nil || len(r.TLS.Chain) == 0 || len(r.TLS.Chain[0].SANs) == 0 {
		return "no SANs"
	}
	return strings.Join(r.TLS.Chain[0].SANs, "; ")
}

func probeCheckDetail(v Verdict) string {
	if v.Check != nil && v.Check.Detail != "" {
		return v.Check.Detail
	}
	return v.Message
}

// probePSQuote quotes a PowerShell argument: double quotes unless the value
// holds characters PowerShell expands or ends there ($ ` "), then single
// quotes with embedded single quotes doubled.
func probePSQuote(s string) string {
	if !strings.ContainsAny(s, "$`\"") {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ShellQuote quotes a POSIX shell argument the same way: inside double
// quotes a backslash is literal unless it precedes $ ` " or \.
func ShellQuote(s string) string {
	safe := !strings.ContainsAny(s, "$`\"!")
	for i := 0; safe && i < len(s); i++ {
		if s[i] == '\\' && (i+1 == len(s) || strings.IndexByte("$`\"\\\n", s[i+1]) >= 0) {
			safe = false
		}
	}
	if safe {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func probeOr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
