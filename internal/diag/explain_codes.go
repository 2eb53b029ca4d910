package diag

import (
	"fmt"
	"net"
	"strings"
)

// The code table. Each entry recognises one condition and writes its cause,
// evidence and fix with the values parsed from the input. Entries are tried
// in order, most specific first: a certificate reason beats the code it came
// under (2017 traces report SubjectMismatch under 4.7.320, 2025 ones under
// 4.4.317), and the failover wrapper comes last so the reply it quotes is
// explained whenever it is known.

// explainEntry is one row of the table.
type explainEntry struct {
	topic string
	match func(in *explainInput) bool
	build func(c explainCtx, e *Explanation)
	// transient is the retry answer when the input carries no reply code
	// (events and protocol-log lines).
	transient bool
}

const explainWrapperTopic = "smtp.4.4.0.failover"

// Where Exchange writes the protocol logs explain points at.
const (
	explainRecvLogs = `%ExchangeInstallPath%TransportRoles\Logs\FrontEnd\ProtocolLog\SmtpReceive`
	explainSendLogs = `%ExchangeInstallPath%TransportRoles\Logs\Hub\ProtocolLog\SmtpSend`
)

func matchExplainEntry(in *explainInput) *explainEntry {
	for i := range explainTable {
		if explainTable[i].match(in) {
			return &explainTable[i]
		}
	}
	return nil
}

// explainCtx hands the parsed values to the entries, with fallbacks so that
// every sentence names the most specific value the input gave.
type explainCtx struct{ in *explainInput }

func (c explainCtx) f(k string) string { return c.in.fields[k] }

// expectedName is the name a validating sender checks the certificate
// against: the stated Expected Subject, else the host it connected to.
func (c explainCtx) expectedName() string {
	if v := c.f("ExpectedSubject"); v != "" {
		if len(v) > 3 && strings.EqualFold(v[:3], "CN=") {
			v = v[3:]
		}
		return v
	}
	return c.hostName()
}

// hostName is the host name the sender connected to, if the input says.
func (c explainCtx) hostName() string {
	for _, k := range []string{"LastAttemptedServerName", "FQDN", "OutboundProxyTargetHostName"} {
		if v := c.f(k); v != "" && net.ParseIP(v) == nil {
			return v
		}
	}
	return ""
}

func (c explainCtx) nameOr(placeholder string) string {
	if n := c.expectedName(); n != "" {
		return n
	}
	return placeholder
}

func (c explainCtx) hostOr(placeholder string) string {
	if n := c.hostName(); n != "" {
		return n
	}
	return placeholder
}

// ip is the target address the sender connected to.
func (c explainCtx) ip() string {
	if v := c.f("IP"); v != "" {
		return v
	}
	for _, k := range []string{"LastAttemptedIP", "LastEndpoint"} {
		if host, _, err := net.SplitHostPort(c.f(k)); err == nil {
			return host
		}
	}
	return c.f("OutboundProxyTargetIP")
}

// endpoint is what to probe: the exact address:port that failed when known.
func (c explainCtx) endpoint() string {
	for _, k := range []string{"LastAttemptedIP", "LastEndpoint"} {
		if _, _, err := net.SplitHostPort(c.f(k)); err == nil {
			return c.f(k)
		}
	}
	if ip := c.ip(); ip != "" {
		return net.JoinHostPort(ip, "25")
	}
	if h := c.hostName(); h != "" {
		return h + ":25"
	}
	return "HOST:25"
}

// target describes the receiving server for prose.
func (c explainCtx) target() string {
	host, ip := c.hostName(), c.ip()
	switch {
	case host != "" && ip != "":
		return fmt.Sprintf("the receiving server %s (%s)", host, ip)
	case host != "":
		return "the receiving server " + host
	case ip != "":
		return "the receiving server at " + ip
	}
	return "the receiving server"
}

// wildcard phrases a match requirement: wildcards name a set of hosts.
func matchPhrase(name string) string {
	if strings.HasPrefix(name, "*.") {
		return fmt.Sprintf("a name matching %s (one host label under %s, or the wildcard %s itself)", name, name[2:], name)
	}
	return name
}

func (c explainCtx) probe() string {
	return fmt.Sprintf("mailflow probe %s --policy DomainValidation --expect %s", c.endpoint(), c.nameOr("NAME"))
}

func (c explainCtx) probeEvidence() string {
	return fmt.Sprintf("Reproduce what the validating sender sees: %s (add --source ADDR to connect from an address inside the receive connector's RemoteIPRanges, as the sender does).", c.probe())
}

func (c explainCtx) receiveLogEvidence() string {
	who := "the sending organisation's addresses"
	if ip := c.ip(); ip != "" {
		who = "the sender, on the server at " + ip
	}
	return fmt.Sprintf("SmtpReceive protocol log lines 'Sending certificate' / 'Certificate subject' / 'Certificate thumbprint' / 'Certificate alternate names' "+
		"(Exchange 2019 writes them as one 'Sending certificate Subject Issuer name …' line) of the sessions from %s: they show which certificate went out "+
		"(Exchange: %s, with ProtocolLoggingLevel Verbose on the connector; mailflow: <log_dir>/ProtocolLog/SmtpReceive).", who, explainRecvLogs)
}

func (c explainCtx) logsAnalyze() string {
	return "mailflow logs analyze <SmtpReceive log folder> --expect " + c.nameOr("NAME")
}

func certListEvidence() string {
	return "Installed certificates: Get-ExchangeCertificate | fl Thumbprint,Subject,Issuer,CertificateDomains,Services,NotBefore,NotAfter,HasPrivateKey / mailflow cert list."
}

func receiveConnectorEvidence() string {
	return "Which receive connector takes the sender and what it presents: Get-ReceiveConnector | fl Identity,Bindings,RemoteIPRanges,Fqdn,TlsCertificateName,AuthMechanism (the most specific RemoteIPRanges match wins)."
}

// pinFix is the fix for a receive connector presenting the wrong certificate.
func pinFix(name string) string {
	return fmt.Sprintf("Pin a certificate whose CN or SAN contains %s to the receive connector: Set-ReceiveConnector \"<connector>\" -TlsCertificateName \"<I>issuer<S>subject\" "+
		"(mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\"); find it with Get-ExchangeCertificate | fl Thumbprint,Subject,CertificateDomains / mailflow cert list, "+
		"and build the value with $c = Get-ExchangeCertificate -Thumbprint <thumbprint>; \"<I>$($c.Issuer)<S>$($c.Subject)\" (issuer and subject are matched, not the thumbprint, so a renewal with the same issuer and subject is picked up by itself).",
		matchPhrase(name))
}

func (c explainCtx) restartAndVerify() string {
	return fmt.Sprintf("Restart the Front End Transport service so the connector reloads its certificate (Restart-Service MSExchangeFrontEndTransport; mailflow applies connector changes live), then verify: %s must show the new certificate and a name match.", c.probe())
}

func cnOf(subject string) string {
	for _, part := range strings.Split(subject, ",") {
		part = strings.TrimSpace(part)
		if len(part) > 3 && strings.EqualFold(part[:3], "CN=") {
			return part[3:]
		}
	}
	return ""
}

// certReason builds a match on a validation reason.
func certReason(reason string) func(in *explainInput) bool {
	return func(in *explainInput) bool { return canonicalCertReason(in.reason) == reason }
}

func enhanced(subjectDetail string) func(in *explainInput) bool {
	return func(in *explainInput) bool { return in.is(subjectDetail) }
}

// explainSeeAlsoCert lists the commands that diagnose a receiving
// certificate problem.
func (c explainCtx) seeAlsoCert() []string {
	return []string{c.probe(), c.logsAnalyze(), "mailflow cert list"}
}

// certValidationSender describes who validates, for the cause text.
const certValidationSender = "A validating sender (Exchange Online's outbound connector with TlsSettings CertificateValidation or DomainValidation, an Exchange send connector with TlsAuthLevel set, or a mailflow send connector with tls_auth_level) refuses the session, keeps the message queued and retries; after 24 hours it returns a non-delivery report."

var explainTable = []explainEntry{
	{
		topic: "event.12014",
		match: func(in *explainInput) bool { return in.fields["EventID"] == "12014" },
		build: buildEvent12014,
	},
	{
		topic: "event.12016",
		match: func(in *explainInput) bool { return in.fields["EventID"] == "12016" },
		build: buildEvent12016,
	},
	{
		topic:     "tls.NoCredentials",
		match:     func(in *explainInput) bool { return strings.EqualFold(in.fields["TLSError"], "NoCredentials") },
		build:     buildNoCredentials,
		transient: true,
	},
	{
		topic:     "tls.UnknownCredentials",
		match:     func(in *explainInput) bool { return strings.EqualFold(in.fields["TLSError"], "UnknownCredentials") },
		build:     buildUnknownCredentials,
		transient: true,
	},
	{topic: "cert.SubjectMismatch", match: certReason("SubjectMismatch"), build: buildSubjectMismatch, transient: true},
	{topic: "cert.CertificateExpired", match: certReason("CertificateExpired"), build: buildCertificateExpired, transient: true},
	{topic: "cert.CertificateNotYetValid", match: certReason("CertificateNotYetValid"), build: buildCertificateNotYetValid, transient: true},
	{topic: "cert.UntrustedRoot", match: certReason("UntrustedRoot"), build: buildUntrustedRoot, transient: true},
	{topic: "cert.IncompleteChain", match: certReason("IncompleteChain"), build: buildIncompleteChain, transient: true},
	{topic: "cert.WeakKey", match: certReason("WeakKey"), build: buildWeakKey, transient: true},
	{topic: "cert.WeakSignature", match: certReason("WeakSignature"), build: buildWeakSignature, transient: true},
	{topic: "cert.NoCertificate", match: certReason("NoCertificate"), build: buildNoCertificate, transient: true},
	{topic: "smtp.4.7.320", match: enhanced("7.320"), build: buildCertValidationGeneric},
	{topic: "dane.4.7.321", match: enhanced("7.321"), build: buildDANE321},
	{topic: "dane.4.7.322", match: enhanced("7.322"), build: buildDANE322},
	{topic: "dane.4.7.323", match: enhanced("7.323"), build: buildDANE323},
	{topic: "dane.4.7.324", match: enhanced("7.324"), build: buildDANE324},
	{topic: "dane.4.7.325", match: enhanced("7.325"), build: buildDANE325},
	{
		topic: "mtasts.4.7.5",
		match: func(in *explainInput) bool { return in.is("7.5") && in.has("MTA-STS") },
		build: buildMTASTSCert,
	},
	{
		topic: "send.4.7.5.TlsCertificateName",
		match: func(in *explainInput) bool { return in.has("TlsCertificateName") && in.has("could not be found") },
		build: buildSendCertNotFound,
	},
	{
		topic: "mtasts.4.4.8",
		match: func(in *explainInput) bool {
			return in.is("4.8") || in.has("failed MTA-STS validation") && in.has("MX hosts")
		},
		build: buildMTASTSMX,
	},
	{
		topic: "smtp.5.7.3.starttls-required",
		match: func(in *explainInput) bool {
			return in.is("7.3") || in.has("STARTTLS is required to send mail")
		},
		build: buildStartTLSRequired,
	},
	{
		topic: "smtp.5.7.0.must-starttls",
		match: func(in *explainInput) bool { return in.has("Must issue a STARTTLS command first") },
		build: buildMustStartTLS,
	},
	{
		topic: "eop.5.7.64.TenantAttribution",
		match: func(in *explainInput) bool { return in.is("7.64") || in.has("TenantAttribution; Relay Access Denied") },
		build: buildTenantAttribution,
	},
	{
		topic: "eop.5.7.51.TenantInboundAttribution",
		match: func(in *explainInput) bool { return in.is("7.51") || in.has("TenantInboundAttribution") },
		build: buildTenantInboundAttribution,
	},
	{
		topic: "smtp.5.7.54.relay",
		match: func(in *explainInput) bool {
			return in.is("7.54") || in.has("Unable to relay recipient in non-accepted domain")
		},
		build: buildUnableToRelayNonAccepted,
	},
	{topic: "smtp.4.4.312", match: enhanced("4.312"), build: buildDNSFailed},
	{topic: "smtp.4.4.315", match: enhanced("4.315"), build: buildConnectTimeout},
	{topic: "smtp.4.4.316", match: enhanced("4.316"), build: buildConnectRefused},
	{topic: "smtp.4.4.317", match: enhanced("4.317"), build: buildCannotConnect},
	{topic: "smtp.4.4.318", match: enhanced("4.318"), build: buildClosedAbruptly},
	{
		topic: "smtp.4.4.7.expired",
		match: func(in *explainInput) bool { return in.is("4.7") || in.has("QUEUE.Expired") },
		build: buildQueueExpired,
	},
	{
		topic: "smtp.5.4.4.route",
		match: func(in *explainInput) bool { return in.is("4.4") || in.has("unable to route") },
		build: buildUnableToRoute,
	},
	{topic: "smtp.4.3.1.resources", match: enhanced("3.1"), build: buildInsufficientResources},
	{topic: "smtp.4.3.2.unavailable", match: enhanced("3.2"), build: buildServiceUnavailable},
	{
		topic: "smtp.5.6.11.bare-lf",
		match: func(in *explainInput) bool { return in.is("6.11") || in.has("BareLinefeedsAreIllegal") },
		build: buildBareLinefeeds,
	},
	{
		topic: "smtp.5.7.1.not-authenticated",
		match: func(in *explainInput) bool { return in.is("7.1") && in.textHas("not authenticated") },
		build: buildNotAuthenticated,
	},
	{
		topic: "smtp.5.7.1.relay",
		match: func(in *explainInput) bool { return in.is("7.1") && in.textHas("relay") },
		build: buildUnableToRelay,
	},
	{topic: "smtp.5.7.1.refused", match: enhanced("7.1"), build: buildRefused71},
	{topic: "smtp.4.7.0.security", match: enhanced("7.0"), build: buildSecurity70},
	{topic: "smtp.4.7.5.crypto", match: enhanced("7.5"), build: buildCrypto75},
	{
		topic: explainWrapperTopic,
		match: func(in *explainInput) bool { return in.wrapped || in.is("4.0") && in.has("failover") },
		build: buildFailover,
	},
}

// ---- application-log events ----

func buildEvent12014(c explainCtx, e *Explanation) {
	domain := c.f("CertificateDomain")
	conn := c.f("Connector")
	fqdn := c.f("ConnectorFQDN")
	pinned := strings.HasPrefix(strings.ToLower(domain), "<i>")
	connRef := conn
	if connRef == "" {
		connRef = "<connector>"
	}
	name := fqdn
	if name == "" || strings.HasPrefix(strings.ToLower(name), "<i>") {
		name = "<connector FQDN>"
	}
	e.Title = "Event 12014: no certificate for the receive connector's name, so STARTTLS is not offered"
	sought := "the connector's name"
	if domain != "" {
		sought = domain
	}
	if pinned {
		e.Cause = fmt.Sprintf("The receive connector %s pins TlsCertificateName %s, and no installed certificate has that issuer and subject "+
			"(typically the certificate was renewed by a CA whose issuer name changed, or removed). ", connRef, domain)
	} else {
		e.Cause = fmt.Sprintf("No installed certificate with a private key holds %s in its CN or a SAN (the receive connector %s asks for it through its Fqdn %s). ",
			sought, connRef, nonBlank(fqdn, "(not given)"))
	}
	e.Cause += "The server therefore does not advertise STARTTLS on that connector. Senders that require TLS (Exchange Online's outbound connector to " +
		"on-premises, send connectors with RequireTLS) fail with 451 5.7.3 STARTTLS is required to send mail; opportunistic senders deliver in clear text."
	e.Evidence = []string{
		certListEvidence() + fmt.Sprintf(" Look for %s in Subject or CertificateDomains, a private key, and SMTP in Services.", sought),
		fmt.Sprintf("Get-ReceiveConnector \"%s\" | fl Fqdn,TlsCertificateName,AuthMechanism.", connRef),
		fmt.Sprintf("The EHLO reply of the connector lacks STARTTLS: mailflow probe HOST:25 --expect %s shows the advertised extensions and the certificate, if any.", nonBlank(fqdn, "NAME")),
	}
	if pinned {
		e.Fix = []string{
			fmt.Sprintf("Point the connector at the certificate that is installed now: $c = Get-ExchangeCertificate -Thumbprint <thumbprint>; Set-ReceiveConnector \"%s\" -TlsCertificateName \"<I>$($c.Issuer)<S>$($c.Subject)\" "+
				"(mailflow: mailflow connector set \"%s\" --tls-certificate-name \"<I>issuer<S>subject\"); list candidates with mailflow cert list.", connRef, connRef),
		}
	} else {
		e.Fix = []string{
			fmt.Sprintf("Install a certificate whose CN or SAN contains %s, with its private key (Import-ExchangeCertificate from the .pfx; mailflow: add it under certificates: in mailflow.yaml), "+
				"and enable it for SMTP: Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services SMTP (this also gives the transport service access to the key).", nonBlank(domain, name)),
			fmt.Sprintf("Or point the connector at a name an installed certificate already holds: Set-ReceiveConnector \"%s\" -Fqdn <name on the certificate> "+
				"or -TlsCertificateName \"<I>issuer<S>subject\" (mailflow: mailflow connector set \"%s\" --tls-certificate-name \"<I>issuer<S>subject\").", connRef, connRef),
		}
	}
	e.Fix = append(e.Fix, fmt.Sprintf("Restart the transport service (Restart-Service MSExchangeFrontEndTransport) and check that EHLO advertises STARTTLS again: mailflow probe HOST:25 --policy DomainValidation --expect %s.", nonBlank(fqdn, "NAME")))
	e.SeeAlso = []string{"mailflow cert list", fmt.Sprintf("mailflow probe HOST:25 --policy DomainValidation --expect %s", nonBlank(fqdn, "NAME"))}
}

func buildEvent12016(c explainCtx, e *Explanation) {
	fqdn := nonBlank(c.f("ConnectorFQDN"), "the connector's FQDN")
	e.Title = "Event 12016: the STARTTLS certificate for " + fqdn + " has expired"
	e.Cause = fmt.Sprintf("The only certificate that holds %s has expired. Exchange keeps advertising STARTTLS and presents it anyway (it prefers a valid certificate "+
		"only when one with the name exists), so opportunistic senders carry on, but validating senders refuse it: 450 4.7.320 Certificate validation failed "+
		"with CertificateExpired, retried for 24 hours, then a non-delivery report.", fqdn)
	e.Evidence = []string{
		certListEvidence() + " Compare NotAfter with today for every certificate holding " + fqdn + ".",
		"SmtpReceive protocol log 'Certificate thumbprint' lines confirm the expired certificate is the one sent (" + explainRecvLogs + ").",
		fmt.Sprintf("mailflow probe HOST:25 --policy CertificateValidation --expect %s reports the NotAfter of the certificate presented.", nonBlank(c.f("ConnectorFQDN"), "NAME")),
	}
	e.Fix = []string{
		fmt.Sprintf("Renew the certificate for %s (New-ExchangeCertificate -GenerateRequest for a CA, then Import-ExchangeCertificate the issued one; mailflow: add the new file under certificates: in mailflow.yaml) "+
			"and enable it for SMTP: Enable-ExchangeCertificate -Thumbprint <new thumbprint> -Services SMTP.", fqdn),
		"Remove the expired certificate so it cannot be selected again: Remove-ExchangeCertificate -Thumbprint <old thumbprint>.",
		"If a connector pins TlsCertificateName and the renewal changed the issuer or subject, update it: Set-ReceiveConnector \"<connector>\" -TlsCertificateName \"<I>issuer<S>subject\" " +
			"(mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\"); do the same for a send connector and Exchange Online's inbound connector TlsSenderCertificateName.",
	}
	e.SeeAlso = []string{"mailflow cert list", fmt.Sprintf("mailflow probe HOST:25 --policy CertificateValidation --expect %s", nonBlank(c.f("ConnectorFQDN"), "NAME"))}
}

// ---- send-side TLS negotiation failures ----

func buildNoCredentials(c explainCtx, e *Explanation) {
	e.Title = "TLS negotiation failed with error NoCredentials: the certificate to present has no usable private key"
	e.Cause = "The sending server found the certificate it must present for STARTTLS (on a send connector: its TlsCertificateName, the client certificate " +
		"Exchange Online uses to attribute hybrid mail; on a receive connector: the selected server certificate) but cannot use its private key: the certificate " +
		"was imported without the key (a .cer, or a .pfx exported without it), or the transport service (NETWORK SERVICE) may not read the key. The handshake " +
		"aborts and the message stays queued, typically with 451 4.4.0 Primary target IP address responded with: \"421 4.2.1 Unable to connect.\""
	e.Evidence = []string{
		"SmtpSend protocol log of the connector: '*,,TLS negotiation failed with error NoCredentials' right after STARTTLS (" + explainSendLogs + "; Set-SendConnector \"<connector>\" -ProtocolLoggingLevel Verbose).",
		"Get-SendConnector | fl Identity,TlsCertificateName,Fqdn,SmartHosts: which certificate the connector presents.",
		"Get-ExchangeCertificate -Thumbprint <thumbprint> | fl Subject,HasPrivateKey,PrivateKeyExportable,Services,NotAfter / mailflow cert list (shows whether a private key is loaded).",
	}
	e.Fix = []string{
		"Re-import the certificate with its private key from the .pfx: Import-ExchangeCertificate -FileData ([System.IO.File]::ReadAllBytes('C:\\cert.pfx')) -Password (Read-Host -AsSecureString) " +
			"(mailflow: certificates: - file: cert.pfx with password_file:, or a PEM with key_file:; mailflow cert list must show the key).",
		"Enable it for SMTP, which also grants the transport service read access to the key: Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services SMTP; then Restart-Service MSExchangeTransport.",
		"Make the connector name that certificate: Set-SendConnector \"<connector>\" -TlsCertificateName \"<I>issuer<S>subject\" (mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\"), then retry the queue: Retry-Queue -Identity <queue>.",
	}
	e.SeeAlso = []string{"mailflow cert list", "mailflow connector validate \"<connector>\"", "mailflow logs analyze <SmtpSend log folder>"}
}

func buildUnknownCredentials(c explainCtx, e *Explanation) {
	e.Title = "TLS negotiation failed with error UnknownCredentials: the certificate cannot be used for SMTP TLS"
	e.Cause = "The certificate and its key were found, but Windows' TLS stack (Schannel) refused to use them for the handshake. Most often the private key " +
		"lives in a CNG key storage provider (certificates requested from a CNG template or imported that way), which the Exchange transport cannot use " +
		"for SMTP TLS; other causes are a certificate not enabled for SMTP, an Enhanced Key Usage without Server/Client Authentication, or a key type Schannel " +
		"does not accept. The handshake aborts and the message stays queued (451 4.4.0 … \"421 4.2.1 Unable to connect.\")."
	e.Evidence = []string{
		"SmtpSend protocol log: '*,,TLS negotiation failed with error UnknownCredentials' after the 'Sending certificate' lines (" + explainSendLogs + ").",
		"certutil -store my <thumbprint>: the 'Provider' line names the key's provider (a CNG provider such as 'Microsoft Software Key Storage Provider' is the usual culprit).",
		"Get-ExchangeCertificate -Thumbprint <thumbprint> | fl Services,EnhancedKeyUsageList,PublicKeySize / mailflow cert list.",
	}
	e.Fix = []string{
		"Re-import the certificate with a legacy CryptoAPI key: certutil -csp \"Microsoft RSA SChannel Cryptographic Provider\" -importpfx C:\\cert.pfx, " +
			"or request it again from a template using a legacy CSP.",
		"Enable it for SMTP: Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services SMTP, update the connector if the issuer or subject changed: " +
			"Set-SendConnector \"<connector>\" -TlsCertificateName \"<I>issuer<S>subject\" (mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\"), then Restart-Service MSExchangeTransport.",
	}
	e.SeeAlso = []string{"mailflow cert list", "mailflow connector validate \"<connector>\"", "mailflow logs analyze <SmtpSend log folder>"}
}

// ---- certificate validation reasons (4.7.320, 4.4.317) ----

func (c explainCtx) certEvidence(extra ...string) []string {
	ev := []string{c.receiveLogEvidence(), c.logsAnalyze(), c.probeEvidence()}
	if tp := c.f("Thumbprint"); tp != "" {
		ev = append(ev, fmt.Sprintf("The certificate that was presented: Get-ExchangeCertificate -Thumbprint %s | fl Subject,Issuer,CertificateDomains,NotBefore,NotAfter,Services (mailflow cert list shows thumbprints too).", tp))
	}
	return append(ev, extra...)
}

func buildSubjectMismatch(c explainCtx, e *Explanation) {
	expected := c.nameOr("<expected name>")
	presented := c.f("PresentedSubject")
	e.Title = "Certificate name mismatch (SubjectMismatch): the receiving server's certificate does not hold the name the sender validates"
	var cause strings.Builder
	switch {
	case presented != "" && c.f("ExpectedSubject") != "":
		fmt.Fprintf(&cause, "%s presented %s but the sender expects %s: neither the certificate's CN nor any SAN matches it. ",
			capitalise(c.target()), presented, matchPhrase(expected))
	case c.hostName() != "":
		fmt.Fprintf(&cause, "The sender connected to %s and validated the certificate against the name it expects (its TlsDomain, usually %s); the name is in neither the CN nor a SAN. "+
			"The trace does not say which certificate was presented: the receiving server's protocol log does. ", c.target(), c.hostName())
	default:
		fmt.Fprintf(&cause, "The sender validated the certificate presented by %s against the name it expects (the TlsDomain of its connector, or the smart host name) and found the name "+
			"in neither the CN nor a SAN. The trace does not name the expected host (FQDN is empty) nor the certificate: the sender's connector and the receiving server's protocol log do. ", c.target())
	}
	cause.WriteString("The sender uses DomainValidation (Exchange Online outbound connector TlsSettings DomainValidation, Exchange send connector TlsAuthLevel DomainValidation, mailflow tls_auth_level DomainValidation): it refuses the session and retries; after 24 hours it returns a non-delivery report.")
	if cn := cnOf(presented); cn != "" && !strings.Contains(cn, ".") {
		fmt.Fprintf(&cause, " CN=%s is a bare server name, the mark of Exchange's self-signed default certificate: the receive connector fell back to it because its TlsCertificateName is empty (selection by Fqdn found only the server's own certificate) or names a certificate that is not installed.", cn)
	}
	e.Cause = cause.String()
	e.Evidence = c.certEvidence(
		receiveConnectorEvidence(),
		"The sender's expectation: Get-OutboundConnector | fl Name,SmartHosts,TlsSettings,TlsDomain (Exchange Online) or Get-SendConnector | fl Identity,SmartHosts,TlsAuthLevel,TlsDomain (Exchange).",
	)
	first := ""
	switch {
	case presented != "":
		first = fmt.Sprintf("The server presented %s but the sender expects %s. ", presented, expected)
	case c.expectedName() == "":
		first = "Find the expected name first: it is the sender's TlsDomain, else the smart host it connects to (Get-OutboundConnector | fl SmartHosts,TlsDomain; mailflow: the send connector's tls_domain and smart_hosts). "
	}
	e.Fix = []string{
		first + pinFix(expected),
		fmt.Sprintf("If no installed certificate holds %s, obtain one from a public CA with %s as CN or SAN, import it with its private key and enable it for SMTP: Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services SMTP.", expected, expected),
		c.restartAndVerify(),
		"Only if the presented certificate is the right one and the sender's expectation is wrong, change the expected name on the sending side instead: Set-OutboundConnector \"<connector>\" -TlsDomain <name on the certificate> (Exchange Online), " +
			"Set-SendConnector \"<connector>\" -TlsDomain <name on the certificate> (Exchange), mailflow connector set \"<connector>\" --tls-domain <name on the certificate> (mailflow).",
	}
	e.SeeAlso = c.seeAlsoCert()
}

func buildCertificateExpired(c explainCtx, e *Explanation) {
	name := c.nameOr("<host name>")
	e.Title = "Certificate expired (CertificateExpired): the receiving server presented a certificate past its NotAfter"
	e.Cause = fmt.Sprintf("%s presented a certificate whose validity ended. Exchange keeps presenting an expired certificate when no valid one holds the name "+
		"(event 12016 on the receiving server) instead of falling back. %s", capitalise(c.target()), certValidationSender)
	e.Evidence = c.certEvidence(certListEvidence()+" Compare NotAfter with today.", "Event 12016 (MSExchangeTransport) in the receiving server's Application log.")
	e.Fix = []string{
		fmt.Sprintf("Renew the certificate for %s (CN or SAN %s), import it with its private key and enable it for SMTP: Enable-ExchangeCertificate -Thumbprint <new thumbprint> -Services SMTP "+
			"(mailflow: add the renewed file under certificates: in mailflow.yaml; mailflow cert list shows NotAfter).", name, name),
		"Remove the expired certificate so it cannot be selected: Remove-ExchangeCertificate -Thumbprint <old thumbprint>.",
		"If the receive connector pins TlsCertificateName and the renewal changed the issuer (a new intermediate CA name) or the subject, update it: " + pinFix(name),
		c.restartAndVerify(),
	}
	e.SeeAlso = c.seeAlsoCert()
}

func buildCertificateNotYetValid(c explainCtx, e *Explanation) {
	e.Title = "Certificate not yet valid (CertificateNotYetValid): its NotBefore is in the future"
	e.Cause = fmt.Sprintf("%s presented a certificate whose validity has not started: a certificate installed and selected before its start date "+
		"(selection prefers the newest NotBefore), or a clock that is wrong on the sender or the receiver. %s", capitalise(c.target()), certValidationSender)
	e.Evidence = c.certEvidence(certListEvidence()+" Compare NotBefore with the current UTC time.",
		"The clocks of both servers: w32tm /query /status (Windows), timedatectl (Linux).")
	e.Fix = []string{
		"If a clock is wrong, fix time synchronisation on that server (w32tm /resync, or NTP on Linux) and retry the queue.",
		"If the clocks are right, keep the previous, still valid certificate in use until the new one's NotBefore: " + pinFix(c.nameOr("<host name>")) +
			" Pin the old certificate now and switch to the new one once it is valid.",
		c.restartAndVerify(),
	}
	e.SeeAlso = c.seeAlsoCert()
}

func buildUntrustedRoot(c explainCtx, e *Explanation) {
	name := c.nameOr("<host name>")
	e.Title = "Untrusted root (UntrustedRoot): the certificate chain does not end at a root the sender trusts"
	e.Cause = fmt.Sprintf("%s presented a certificate whose chain ends at a root the sender does not trust: a self-signed certificate (such as Exchange's default one), "+
		"a private or internal CA, or a root missing from the sender's store. %s", capitalise(c.target()), certValidationSender)
	e.Evidence = c.certEvidence("The issuer of the presented certificate: the 'Certificate issuer name' protocol-log line, or openssl s_client -starttls smtp -connect " + c.endpoint() + " -showcerts.")
	e.Fix = []string{
		fmt.Sprintf("Present a certificate for %s from a public CA the sender trusts (Exchange Online trusts only public CAs), import it with its private key and enable it for SMTP, then %s", name, pinFixShort(name)),
		"For a sender you run yourself (Exchange or mailflow) and a private CA you trust: add the CA's root to the sender's trust instead (Windows: Trusted Root Certification Authorities of the computer account; mailflow: trust: ca_files: in mailflow.yaml).",
		c.restartAndVerify(),
	}
	e.SeeAlso = c.seeAlsoCert()
}

// pinFixShort is the pinning command without the search advice.
func pinFixShort(name string) string {
	return fmt.Sprintf("pin it to the receive connector so it is presented for %s: Set-ReceiveConnector \"<connector>\" -TlsCertificateName \"<I>issuer<S>subject\" "+
		"(mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\").", name)
}

func buildIncompleteChain(c explainCtx, e *Explanation) {
	e.Title = "Incomplete chain (IncompleteChain): the server did not send the intermediate CA certificates"
	e.Cause = fmt.Sprintf("%s sent its certificate without the intermediate CA certificate(s) between it and the root, and the sender could not complete the chain "+
		"(senders are not obliged to fetch missing intermediates). %s", capitalise(c.target()), certValidationSender)
	e.Evidence = c.certEvidence("The chain actually sent: openssl s_client -starttls smtp -connect " + c.endpoint() + " -showcerts (count the certificates: the leaf alone means the intermediates are missing).")
	e.Fix = []string{
		"Install the issuing CA's intermediate certificate(s) on the receiving server (Windows: Intermediate Certification Authorities store of the computer account, usually by importing the full-chain .pfx from the CA); " +
			"mailflow: put the leaf first and then the intermediates in the PEM file, or use a .pfx that contains them.",
		c.restartAndVerify(),
	}
	e.SeeAlso = c.seeAlsoCert()
}

func buildWeakKey(c explainCtx, e *Explanation) {
	name := c.nameOr("<host name>")
	e.Title = "Weak key (WeakKey): the certificate's public key is too small or of a refused type"
	e.Cause = fmt.Sprintf("%s presented a certificate with a key the sender refuses: RSA below 2048 bits, or an unsupported curve. %s", capitalise(c.target()), certValidationSender)
	e.Evidence = c.certEvidence("Key size of the presented certificate: Get-ExchangeCertificate -Thumbprint <thumbprint> | fl PublicKeySize, or openssl s_client -starttls smtp -connect " + c.endpoint() + " (\"Server public key is N bit\").")
	e.Fix = []string{
		fmt.Sprintf("Reissue the certificate for %s with an RSA 2048-bit (or larger) key or ECDSA P-256/P-384, import it with its private key and enable it for SMTP, then %s", name, pinFixShort(name)),
		c.restartAndVerify(),
	}
	e.SeeAlso = c.seeAlsoCert()
}

func buildWeakSignature(c explainCtx, e *Explanation) {
	name := c.nameOr("<host name>")
	e.Title = "Weak signature (WeakSignature): the certificate or its chain is signed with SHA-1 or MD5"
	e.Cause = fmt.Sprintf("%s presented a certificate (or an intermediate) signed with a hash the sender no longer accepts (SHA-1, MD5). %s", capitalise(c.target()), certValidationSender)
	e.Evidence = c.certEvidence("Signature algorithm of each certificate sent: openssl s_client -starttls smtp -connect " + c.endpoint() + " -showcerts | openssl x509 -noout -text (\"Signature Algorithm\").")
	e.Fix = []string{
		fmt.Sprintf("Reissue the certificate for %s with a SHA-256 (or stronger) signature, and replace any SHA-1 intermediate with the CA's current one; then %s", name, pinFixShort(name)),
		c.restartAndVerify(),
	}
	e.SeeAlso = c.seeAlsoCert()
}

func buildNoCertificate(c explainCtx, e *Explanation) {
	e.Title = "No certificate (NoCertificate): the peer presented no certificate to validate"
	e.Cause = fmt.Sprintf("No certificate reached the validating side. Sending to %s: the server did not offer STARTTLS (see event 12014 and 451 5.7.3) or ended the handshake "+
		"before sending one. Receiving with mutual TLS: the sending server presented no client certificate (protocol log: Client certificate chain validation status: 'EmptyCertificate', "+
		"TlsDomainCapabilities='None'; Status='NoRemoteCertificate'), so it cannot be attributed (Exchange Online then answers 550 5.7.64 TenantAttribution).", c.target())
	e.Evidence = []string{
		c.probeEvidence(),
		"Receiving side: SmtpReceive protocol log lines 'Client certificate chain validation status' and 'TlsDomainCapabilities=… Status=…' for the sender's sessions (" + explainRecvLogs + ").",
		"Sending side: Get-SendConnector | fl Identity,TlsCertificateName (empty means no client certificate is offered) / the SmtpSend protocol log 'Sending certificate' lines (" + explainSendLogs + ").",
	}
	e.Fix = []string{
		"If the server offered no STARTTLS: give the receive connector a certificate for its name and Tls in AuthMechanism: " + pinFix(c.nameOr("<host name>")),
		"If the client presented none: set the send connector's client certificate: Set-SendConnector \"<connector>\" -TlsCertificateName \"<I>issuer<S>subject\" (mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\"), with a certificate whose CN or SAN the receiver expects (Exchange Online: the inbound connector's TlsSenderCertificateName).",
		"Verify: " + c.probe() + ".",
	}
	e.SeeAlso = c.seeAlsoCert()
}

func buildCertValidationGeneric(c explainCtx, e *Explanation) {
	e.Title = "Certificate validation failed: the sender refused the receiving server's certificate"
	reason := "The input does not carry the reason (no MSG= or [Message=…])"
	if c.in.reason != "" {
		reason = "The reason " + c.in.reason + " is not one mailflow knows in detail"
	}
	e.Cause = fmt.Sprintf("%s presented a certificate the sender's policy rejects: a name mismatch, an expired or not yet valid certificate, or an untrusted or incomplete chain. %s. %s",
		capitalise(c.target()), reason, certValidationSender)
	e.Evidence = c.certEvidence("The full message-trace detail (Exchange Online: Get-MessageTraceDetail -MessageTraceId <id> -RecipientAddress <rcpt> | fl Data) carries {MSG=<reason>}; explain that string for the precise fix.")
	e.Fix = []string{
		"Run " + c.probe() + ": it names the exact reason (SubjectMismatch, CertificateExpired, UntrustedRoot, IncompleteChain, …); then run mailflow explain on its reason line for the precise fix.",
		pinFix(c.nameOr("<host name>")),
		c.restartAndVerify(),
	}
	e.SeeAlso = c.seeAlsoCert()
}

// ---- DANE (Exchange Online outbound) ----

func (c explainCtx) mx() string { return c.hostOr("<MX host>") }

func daneEvidence(c explainCtx) []string {
	return []string{
		fmt.Sprintf("The TLSA records and their DNSSEC status: dig +dnssec _25._tcp.%s TLSA (or delv for a validated answer).", c.mx()),
		fmt.Sprintf("What the MX presents: %s, and openssl s_client -starttls smtp -connect %s:25 -showcerts.", c.probe(), c.mx()),
	}
}

func buildDANE321(c explainCtx, e *Explanation) {
	e.Title = "DANE: starttls-not-supported — the MX must offer TLS because the domain publishes TLSA records"
	e.Cause = fmt.Sprintf("The recipient domain's MX %s has DNSSEC-authenticated TLSA records (DANE), which makes authenticated TLS mandatory, but the server did not offer STARTTLS or the TLS handshake failed. Exchange Online will not fall back to clear text.", c.mx())
	e.Evidence = append(daneEvidence(c), "On an Exchange receiver: event 12014 (no certificate for the connector's name disables STARTTLS).")
	e.Fix = []string{
		"Restore STARTTLS on the MX: give the receive connector a certificate for its name and Tls in AuthMechanism: " + pinFix(c.mx()),
		fmt.Sprintf("If the domain no longer runs DANE, remove the TLSA records at _25._tcp.%s (and wait for their TTL) rather than leaving them unserved.", c.mx()),
	}
	e.SeeAlso = []string{c.probe()}
}

func buildDANE322(c explainCtx, e *Explanation) {
	e.Title = "DANE: certificate-expired — the MX's certificate has expired"
	e.Cause = fmt.Sprintf("The domain passed DNSSEC checks, but the MX %s presented an expired certificate.", c.mx())
	e.Evidence = daneEvidence(c)
	e.Fix = []string{
		fmt.Sprintf("Renew the certificate for %s and enable it for SMTP; if a TLSA record pins the key (usage 3, selector 1) and the renewal changes the key, publish the new TLSA record alongside the old one first, wait two TTLs, then switch the certificate.", c.mx()),
		c.restartAndVerify(),
	}
	e.SeeAlso = []string{c.probe()}
}

func buildDANE323(c explainCtx, e *Explanation) {
	e.Title = "DANE: tlsa-invalid — the certificate does not match the domain's TLSA records"
	e.Cause = fmt.Sprintf("The TLSA records at _25._tcp.%s are DNSSEC-authentic, but the certificate the MX presented matches none of them, or the records are malformed (this also covers a certificate whose start date is in the future). Typical after a certificate renewal with a new key without updating TLSA.", c.mx())
	e.Evidence = append(daneEvidence(c), "The SHA-256 of the presented key, to compare with a '3 1 1' record: openssl x509 -in cert.pem -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256.")
	e.Fix = []string{
		fmt.Sprintf("Publish a TLSA record that matches the certificate in use: _25._tcp.%s IN TLSA 3 1 1 <sha256 of the public key> (or 2 1 1 for the issuing CA's key); keep old and new records during a rollover.", c.mx()),
		"Verify after the TTL: " + c.probe() + ".",
	}
	e.SeeAlso = []string{c.probe()}
}

func buildDANE324(c explainCtx, e *Explanation) {
	e.Title = "DANE: dnssec-invalid — the domain's DNSSEC records do not validate"
	e.Cause = "The destination domain claims to be DNSSEC-signed (DS records at the parent), but its answers do not validate: a DS that no longer matches the DNSKEY after a key rollover, expired RRSIG signatures, or a broken chain of trust. Exchange Online refuses to deliver rather than ignore DANE."
	e.Evidence = []string{
		fmt.Sprintf("delv %s MX and dig +dnssec %s DNSKEY: a validation failure names the broken link.", c.mx(), c.mx()),
		"The DS records at the registrar against the zone's current DNSKEY.",
	}
	e.Fix = []string{
		"Repair the signing: re-sign the zone (fresh RRSIGs) and make the DS at the registrar match the current key-signing key.",
		"If the zone cannot be repaired quickly, remove the DS records at the registrar (the domain becomes unsigned and DANE no longer applies), then fix and re-enable DNSSEC.",
	}
	e.SeeAlso = []string{c.probe()}
}

func buildDANE325(c explainCtx, e *Explanation) {
	e.Title = "DANE: certificate-host-mismatch — the certificate names do not match the MX host"
	e.Cause = fmt.Sprintf("The certificate the MX %s presented has no CN or SAN matching the MX host name or the recipient domain.", c.mx())
	e.Evidence = daneEvidence(c)
	e.Fix = []string{
		fmt.Sprintf("Present a certificate whose SAN contains %s: %s", c.mx(), pinFix(c.mx())),
		c.restartAndVerify(),
	}
	e.SeeAlso = []string{c.probe()}
}

// ---- MTA-STS ----

func buildMTASTSCert(c explainCtx, e *Explanation) {
	why := nonBlank(c.f("MTASTSReason"), "(not given)")
	domain := nonBlank(c.f("Domain"), "<recipient domain>")
	e.Title = "MTA-STS: the MX certificate failed the domain's MTA-STS policy"
	e.Cause = fmt.Sprintf("The recipient domain publishes an MTA-STS policy in enforce mode, so the sender requires a certificate that is valid under public CAs and names the MX host; the MX %s failed that check (reason: %s). The sender will not deliver in clear text or to an unvalidated host.", c.mx(), why)
	e.Evidence = []string{
		fmt.Sprintf("The policy: curl https://mta-sts.%s/.well-known/mta-sts.txt (mode, mx: lines, max_age) and dig TXT _mta-sts.%s (the id).", domain, domain),
		fmt.Sprintf("The certificate as a PKIX validator sees it: %s (it must be publicly trusted and hold the MX name).", c.probe()),
	}
	e.Fix = []string{
		fmt.Sprintf("Present a publicly trusted certificate whose SAN contains the MX host %s: %s", c.mx(), pinFix(c.mx())),
		fmt.Sprintf("While fixing, set the policy to mode: testing (and change the id in the _mta-sts.%s TXT record) so senders deliver and report instead of deferring.", domain),
	}
	e.SeeAlso = []string{c.probe()}
}

func buildMTASTSMX(c explainCtx, e *Explanation) {
	domain := nonBlank(c.f("Domain"), "<recipient domain>")
	e.Title = "MTA-STS: no MX host of the domain is allowed by its MTA-STS policy"
	e.Cause = fmt.Sprintf("The MTA-STS policy of %s (enforce mode) lists mx: patterns, and none of the domain's MX hosts matches them, or none of them presented a valid certificate for its name; the sender refuses them all.", domain)
	e.Evidence = []string{
		fmt.Sprintf("The MX records: dig MX %s; the policy's mx: lines: curl https://mta-sts.%s/.well-known/mta-sts.txt.", domain, domain),
		"Each MX's certificate: mailflow probe <mx>:25 --policy DomainValidation --expect <mx>.",
	}
	e.Fix = []string{
		fmt.Sprintf("Make the policy of %s list every MX host (mx: lines; a leading *. matches one label), or point the MX records at hosts the policy lists; then change the id in the _mta-sts TXT record so senders fetch the policy again.", domain),
		"Give each MX a publicly trusted certificate holding its own name.",
	}
	e.SeeAlso = []string{"mailflow probe <mx>:25 --policy DomainValidation --expect <mx>"}
}

// ---- send connector certificate ----

func buildSendCertNotFound(c explainCtx, e *Explanation) {
	e.Title = "454 4.7.5: the send connector's TlsCertificateName names no installed certificate"
	e.Cause = "The send connector's TlsCertificateName (<I>issuer<S>subject) matches no certificate in the server's personal store by issuer and subject: usually the certificate " +
		"was renewed by a CA whose issuer name changed, or the old one was removed. The connector cannot present its client certificate, so the session to the smart host " +
		"(typically Exchange Online, which needs it for mutual TLS and tenant attribution) fails and mail queues."
	e.Evidence = []string{
		"Get-SendConnector | fl Identity,TlsCertificateName,SmartHosts,RequireTLS,TlsAuthLevel.",
		certListEvidence() + " Compare Issuer and Subject with the <I>…<S>… value character for character.",
	}
	e.Fix = []string{
		"$c = Get-ExchangeCertificate -Thumbprint <thumbprint of the current certificate>; Set-SendConnector \"<connector>\" -TlsCertificateName \"<I>$($c.Issuer)<S>$($c.Subject)\" " +
			"(mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\").",
		"Update the receive connector that takes mail from Exchange Online the same way if it pins the old value, and Exchange Online's inbound connector TlsSenderCertificateName if the subject changed; re-running the Hybrid Configuration Wizard with the new certificate sets all three.",
		"Retry the queue (Retry-Queue -Identity <queue>) and check the SmtpSend protocol log for 'Sending certificate' with the new subject.",
	}
	e.SeeAlso = []string{"mailflow cert list", "mailflow connector validate \"<connector>\""}
}

// ---- STARTTLS required ----

func buildStartTLSRequired(c explainCtx, e *Explanation) {
	host := c.hostOr("the receiving server")
	e.Title = "STARTTLS is required to send mail: the sender requires TLS and the receiver did not offer it"
	e.Cause = fmt.Sprintf("The sender requires TLS (Exchange Online's outbound connector to on-premises, a send connector with RequireTLS, a mailflow send connector with require_tls) but %s did not advertise STARTTLS in its EHLO reply. "+
		"Exchange stops advertising STARTTLS when the receive connector finds no certificate for its name (event 12014: TlsCertificateName set to a certificate that is not installed, "+
		"or an Fqdn no certificate holds) or when Tls is not in its AuthMechanism; an SMTP-inspecting firewall can also strip STARTTLS from the EHLO reply.", host)
	e.Evidence = []string{
		fmt.Sprintf("The EHLO reply as the sender sees it: %s (STARTTLS missing from the extensions).", c.probe()),
		"Event 12014 (MSExchangeFrontEndTransport / MSExchangeTransport) in the receiving server's Application log: it names the connector and the name it could not find.",
		receiveConnectorEvidence(),
		"The SmtpReceive protocol log's EHLO reply line ('250 … Hello …' without STARTTLS) for the sender's sessions (" + explainRecvLogs + ").",
	}
	e.Fix = []string{
		"Make sure the connector offers TLS: Set-ReceiveConnector \"<connector>\" -AuthMechanism Tls,<the mechanisms it already has> (mailflow: mailflow connector set \"<connector>\" --auth-mechanism Tls).",
		pinFix(c.nameOr("<host name>")),
		"If a firewall inspects SMTP (e.g. ESMTP inspection), disable that inspection for port 25 so STARTTLS reaches the sender.",
		c.restartAndVerify(),
	}
	e.SeeAlso = []string{c.probe(), "mailflow cert list"}
}

func buildMustStartTLS(c explainCtx, e *Explanation) {
	e.Title = "Must issue a STARTTLS command first: the receiver requires TLS and the sender did not start it"
	e.Cause = "The receiving connector requires TLS (RequireTLS, or a connector for authenticated or domain-secured mail) and the sending server sent MAIL FROM in clear text, either because it does not use TLS to this host or because it did not see STARTTLS advertised."
	e.Evidence = []string{
		"The sending server's SmtpSend protocol log for this host: does it send STARTTLS after EHLO? (" + explainSendLogs + ")",
		"Receiving side: Get-ReceiveConnector | fl Identity,RequireTLS,AuthMechanism,RemoteIPRanges, and " + c.probe() + " to see what is advertised.",
	}
	e.Fix = []string{
		"Make the sender use TLS to this host: Set-SendConnector \"<connector>\" -RequireTLS $true (mailflow: mailflow connector set \"<connector>\" --require-tls), or for Exchange Online Set-OutboundConnector \"<connector>\" -TlsSettings EncryptionOnly (or a validating level).",
		"If the sender should not need TLS, drop the requirement on the receive connector that catches it: Set-ReceiveConnector \"<connector>\" -RequireTLS $false (mailflow: mailflow connector set \"<connector>\" --require-tls=false).",
	}
	e.SeeAlso = []string{c.probe()}
}

// ---- Exchange Online attribution ----

func buildTenantAttribution(c explainCtx, e *Explanation) {
	e.Title = "550 5.7.64 TenantAttribution; Relay Access Denied: Exchange Online could not tie the connection to your tenant"
	e.Cause = "Mail from your on-premises servers (or a relay) reached Exchange Online, and no inbound connector of type OnPremises matched it: neither by certificate (the sending " +
		"server's client certificate must carry, in its CN or a SAN, the connector's TlsSenderCertificateName — a domain of your tenant) nor by source IP (SenderIPAddresses). " +
		"Without attribution the message is an anonymous relay attempt and is refused. Typical after an on-premises certificate renewal with a different name, when the send " +
		"connector stopped presenting a certificate (TlsCertificateName empty or stale), or after the public sending IP changed."
	e.Evidence = []string{
		"Exchange Online: Get-InboundConnector | fl Name,ConnectorType,TlsSenderCertificateName,SenderIPAddresses,RequireTls,RestrictDomainsToCertificate,RestrictDomainsToIPAddresses.",
		"On-premises: Get-SendConnector \"Outbound to Office 365*\" | fl TlsCertificateName,Fqdn,SmartHosts and the SmtpSend protocol log 'Sending certificate' / 'Certificate subject' lines (" + explainSendLogs + "): which certificate went out, if any.",
		"The public IP the on-premises server sends from, against SenderIPAddresses.",
	}
	e.Fix = []string{
		"Make the presented certificate and the inbound connector agree: Set-InboundConnector \"<connector>\" -TlsSenderCertificateName <a name in the certificate's CN or SAN that is an accepted domain of the tenant, e.g. mail.contoso.com or *.contoso.com>.",
		"Make the send connector present that certificate: Set-SendConnector \"<connector>\" -TlsCertificateName \"<I>issuer<S>subject\" (mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\").",
		"Or attribute by address: Set-InboundConnector \"<connector>\" -SenderIPAddresses <current public IP>. Re-running the Hybrid Configuration Wizard with the current certificate sets connector and send side together.",
	}
	e.SeeAlso = []string{"mailflow connector validate \"<connector>\"", "mailflow cert list"}
}

func buildTenantInboundAttribution(c explainCtx, e *Explanation) {
	e.Title = "550 5.7.51 TenantInboundAttribution: an inbound connector restricts this sender domain to other IPs or another certificate"
	e.Cause = "An Exchange Online inbound connector with RestrictDomainsToIPAddresses or RestrictDomainsToCertificate matched the sender's domain, and the connection came from an IP " +
		"outside its SenderIPAddresses or with a certificate that does not match its TlsSenderCertificateName; Exchange Online rejects it rather than accept spoofable mail."
	e.Evidence = []string{
		"Get-InboundConnector | fl Name,ConnectorType,SenderDomains,SenderIPAddresses,TlsSenderCertificateName,RestrictDomainsToIPAddresses,RestrictDomainsToCertificate.",
		"The sending server's public IP and the certificate it presents (SmtpSend protocol log 'Sending certificate' lines; mailflow cert list).",
	}
	e.Fix = []string{
		"Bring the connector in line with the real sender: Set-InboundConnector \"<connector>\" -SenderIPAddresses <sending IPs> or -TlsSenderCertificateName <name in the sender's certificate>.",
		"Make the sender present a certificate with that name: Set-SendConnector \"<connector>\" -TlsCertificateName \"<I>issuer<S>subject\" (mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\").",
		"Only if the restriction is no longer wanted: Set-InboundConnector \"<connector>\" -RestrictDomainsToIPAddresses $false -RestrictDomainsToCertificate $false.",
	}
	e.SeeAlso = []string{"mailflow connector validate \"<connector>\""}
}

// ---- relay and permission refusals ----

func buildUnableToRelayNonAccepted(c explainCtx, e *Explanation) {
	e.Title = "550 5.7.54 Unable to relay recipient in non-accepted domain: an anonymous session asked to relay"
	e.Cause = "The receiving server accepted the session without relay rights (anonymous) and got a RCPT TO for a domain that is not one of its accepted domains. " +
		"In a hybrid setup this means the cloud's mail landed on a connector without the AcceptCloudServicesMail capability (the cloud's certificate did not match " +
		"TlsDomainCapabilities, or its IP matched another connector), or the recipient domain is not an accepted domain on-premises."
	e.Evidence = []string{
		"The SmtpReceive protocol log session: which connector took it and the 'TlsDomainCapabilities=…; Status=…' line (" + explainRecvLogs + ").",
		"Get-AcceptedDomain (mailflow: accepted_domains in mailflow.yaml), and Get-ReceiveConnector | fl Identity,Bindings,RemoteIPRanges,PermissionGroups,TlsDomainCapabilities.",
	}
	e.Fix = []string{
		"If the recipient domain should be delivered here: New-AcceptedDomain -Name <domain> -DomainName <domain> -DomainType Authoritative (mailflow: add it to accepted_domains).",
		"If the sender is your cloud tenant relaying out through on-premises: give its connector the capability: Set-ReceiveConnector \"<connector>\" -TlsDomainCapabilities mail.protection.outlook.com:AcceptCloudServicesMail, with a certificate the cloud validates.",
		"For an application server that must relay: a dedicated receive connector with its IP in RemoteIPRanges and relay permission (Add-ADPermission \"<connector>\" -User 'NT AUTHORITY\\ANONYMOUS LOGON' -ExtendedRights Ms-Exch-SMTP-Accept-Any-Recipient; mailflow: remote_ip_ranges plus anonymous_relay: true). Never allow relay from 0.0.0.0/0.",
	}
	e.SeeAlso = []string{"mailflow logs analyze <SmtpReceive log folder>", "mailflow connector validate \"<connector>\""}
}

func buildNotAuthenticated(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + " Client was not authenticated: the receive connector refuses anonymous senders"
	e.Cause = "The connector that took the session does not allow anonymous mail (AnonymousUsers missing from PermissionGroups), or the sender's IP matched a more specific connector meant for authenticated clients or relay (the most specific RemoteIPRanges wins)."
	e.Evidence = []string{
		receiveConnectorEvidence() + " Add PermissionGroups to the list.",
		"The SmtpReceive protocol log session for the sender's IP: the connector id in its lines names the connector that was chosen (" + explainRecvLogs + ").",
	}
	e.Fix = []string{
		"Allow anonymous mail on the connector that should receive internet or partner mail: Set-ReceiveConnector \"<connector>\" -PermissionGroups AnonymousUsers,ExchangeServers,ExchangeLegacyServers (mailflow: mailflow connector set \"<connector>\" --permission-groups AnonymousUsers,ExchangeServers).",
		"Or narrow the RemoteIPRanges of the connector that caught the sender so it no longer matches that IP.",
	}
	e.SeeAlso = []string{"mailflow logs analyze <SmtpReceive log folder>"}
}

func buildUnableToRelay(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + " Unable to relay: the receiver does not accept mail for this recipient domain from this sender"
	e.Cause = "The receiving server is not the destination of the recipient's domain and the sender has no relay permission there: an MX or smart host pointing at a server where the domain is not accepted, or a client that should relay but lacks the permission."
	e.Evidence = []string{
		"The recipient domain's MX (dig MX <domain>) and the receiver's accepted domains (Get-AcceptedDomain; mailflow: accepted_domains).",
		receiveConnectorEvidence() + " Add PermissionGroups to the list.",
	}
	e.Fix = []string{
		"If the receiver should host the domain: add it as an accepted domain (New-AcceptedDomain …; mailflow: accepted_domains).",
		"If the sender should relay: a dedicated receive connector for its IP with relay permission (mailflow: remote_ip_ranges plus anonymous_relay: true), never relay for everyone.",
		"If the MX or smart host is wrong: point it at the server that hosts the domain.",
	}
	e.SeeAlso = []string{"mailflow logs analyze <SmtpReceive log folder>"}
}

func buildRefused71(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + ": delivery not authorised — refused by permission or policy"
	e.Cause = fmt.Sprintf("The receiver refused the message for a security or policy reason (X.7.1): %q. Typical causes are a connector without AnonymousUsers, a recipient or group that only accepts authenticated or listed senders, or a transport rule.", nonBlank(c.in.status.text, "no text"))
	e.Evidence = []string{
		"The receiving server's SmtpReceive protocol log for the session: the command the refusal answered (MAIL FROM, RCPT TO or end of DATA) narrows the cause.",
		receiveConnectorEvidence() + " Add PermissionGroups to the list.",
	}
	e.Fix = []string{
		"At RCPT TO for an internal recipient: allow the sender on the recipient (Exchange: Set-DistributionGroup <group> -RequireSenderAuthenticationEnabled $false, or add it to AcceptMessagesOnlyFrom).",
		"At MAIL FROM or for every recipient: give the connector AnonymousUsers: Set-ReceiveConnector \"<connector>\" -PermissionGroups AnonymousUsers,… (mailflow: mailflow connector set \"<connector>\" --permission-groups AnonymousUsers,ExchangeServers).",
		"After DATA: find the transport rule that rejected it (Get-TransportRule | fl Name,RejectMessageReasonText,RejectMessageEnhancedStatusCode).",
	}
	e.SeeAlso = []string{"mailflow logs analyze <SmtpReceive log folder>"}
}

// ---- connection failures (Exchange Online outbound) ----

func buildDNSFailed(c explainCtx, e *Explanation) {
	host := c.hostOr("<smart host>")
	e.Title = "4.4.312 DNS query failed: the smart host or MX name does not resolve"
	e.Cause = fmt.Sprintf("The sender could not resolve %s: no A/AAAA record, or the DNS query failed (SERVFAIL, timeout, a broken delegation).", host)
	e.Evidence = []string{
		fmt.Sprintf("Resolve-DnsName %s -Type A (or dig +short %s A) from a public resolver and from the sender's side.", host, host),
		"The sending connector's target: Get-OutboundConnector | fl Name,SmartHosts,UseMXRecord (Exchange Online) or Get-SendConnector | fl SmartHosts,DNSRoutingEnabled.",
	}
	e.Fix = []string{
		fmt.Sprintf("Publish an A record for %s that points at the public address reaching your receive connector, or correct the connector's smart host: Set-OutboundConnector \"<connector>\" -SmartHosts <resolvable name> (mailflow: mailflow connector set \"<connector>\" --smart-hosts <name>).", host),
		fmt.Sprintf("Verify: mailflow probe %s:25 --policy DomainValidation --expect %s (it resolves the name as the sender does).", host, host),
	}
	e.SeeAlso = []string{fmt.Sprintf("mailflow probe %s:25 --policy DomainValidation --expect %s", host, host)}
}

func (c explainCtx) networkEvidence() []string {
	return []string{
		fmt.Sprintf("From outside your network: Test-NetConnection %s -Port 25 (or nc -vz %s 25), and %s.", c.hostOrIP(), c.hostOrIP(), c.probe()),
		"Firewall and NAT logs for TCP 25 from the sender's address ranges (Exchange Online: the published Exchange Online Protection ranges) to " + nonBlank(c.ip(), "the published address") + ".",
	}
}

func (c explainCtx) hostOrIP() string {
	if ip := c.ip(); ip != "" {
		return ip
	}
	return c.hostOr("<host>")
}

func buildConnectTimeout(c explainCtx, e *Explanation) {
	e.Title = "4.4.315 Connection timed out: no answer on TCP port 25"
	e.Cause = fmt.Sprintf("The sender's TCP connection to %s got no answer: a firewall dropping packets from the sender's ranges, a wrong public address or NAT rule, or the server is down.", c.endpoint())
	e.Evidence = c.networkEvidence()
	e.Fix = []string{
		fmt.Sprintf("Allow TCP 25 from the sender's address ranges to %s and forward it to the receive connector's binding; make sure the smart host name resolves to the address that actually forwards.", nonBlank(c.ip(), "the published address")),
		"Check the server and its transport service are running (Get-Service MSExchangeFrontEndTransport; mailflow: the serve process and its bindings).",
	}
	e.SeeAlso = []string{c.probe()}
}

func buildConnectRefused(c explainCtx, e *Explanation) {
	e.Title = "4.4.316 Connection refused: nothing accepts connections on port 25 at the target"
	e.Cause = fmt.Sprintf("The connection to %s was actively refused (TCP reset, socket error 10061): no service listens there — transport service stopped, wrong port forward, a receive connector bound to another address — or a firewall rejects it.", c.endpoint())
	e.Evidence = append(c.networkEvidence(), "Get-ReceiveConnector | fl Identity,Bindings,Enabled and netstat -ano | findstr :25 on the server (mailflow: the bindings: of its receive connectors).")
	e.Fix = []string{
		"Start the transport service (Start-Service MSExchangeFrontEndTransport) or mailflow serve, and make a receive connector listen on 0.0.0.0:25 or the NAT target address.",
		fmt.Sprintf("Point the firewall's port forward for 25 at that address; verify with %s.", c.probe()),
	}
	e.SeeAlso = []string{c.probe()}
}

func buildCannotConnect(c explainCtx, e *Explanation) {
	e.Title = "4.4.317 Cannot connect to remote server: the session failed right after connecting"
	e.Cause = fmt.Sprintf("The sender reached %s, but the session failed at once: the server answered with an error or closed, TLS was required and STARTTLS was not offered, "+
		"or the TLS handshake failed (no common protocol version or cipher — e.g. a server limited to TLS 1.0/1.1 — or a certificate the sender rejected; since 2025 Exchange Online reports certificate reasons under this code with [Message=<reason> …]).", c.target())
	e.Evidence = []string{
		c.probeEvidence() + " It shows the banner, the EHLO extensions, the TLS version negotiated and the certificate.",
		c.receiveLogEvidence(),
	}
	e.Fix = []string{
		"If STARTTLS is missing from EHLO: " + pinFix(c.nameOr("<host name>")),
		"If the handshake fails: enable TLS 1.2 on the receiving server (Windows: SCHANNEL\\Protocols\\TLS 1.2\\Server Enabled=1 and .NET SchUseStrongCrypto) and restart it.",
		"If the banner is an error: fix the service or connector that answers (the banner text names it).",
	}
	e.SeeAlso = []string{c.probe(), c.logsAnalyze()}
}

func buildClosedAbruptly(c explainCtx, e *Explanation) {
	e.Title = "4.4.318 Connection was closed abruptly: the session was cut mid-way"
	e.Cause = fmt.Sprintf("The connection to %s was closed during the session, typically right after STARTTLS: an SMTP-inspecting firewall or IPS that breaks TLS, a load balancer idle timeout, or the server dropping the handshake (no common TLS version or cipher).", c.target())
	e.Evidence = []string{
		c.probeEvidence(),
		"The receiving server's SmtpReceive log for the sender's sessions: a '-' disconnect line with Remote(SocketError) right after STARTTLS points at the network path (" + explainRecvLogs + ").",
	}
	e.Fix = []string{
		"Disable SMTP/ESMTP inspection for port 25 on the firewall in front of the server, and raise idle timeouts on load balancers to at least 10 minutes.",
		"Enable TLS 1.2 on the receiving server and restart it; verify with " + c.probe() + ".",
	}
	e.SeeAlso = []string{c.probe()}
}

// ---- queue, routing and resources ----

func buildQueueExpired(c explainCtx, e *Explanation) {
	e.Title = "4.4.7 message expired: every retry failed until the message's expiry"
	e.Cause = "The message stayed queued until its expiration time (Exchange Server: MessageExpirationTimeout, 2 days by default; Exchange Online: 24 hours; mailflow: queue.expiry, 24h by default) because every delivery attempt failed. This code is the consequence: the cause is the error of the earlier attempts."
	e.Evidence = []string{
		"The last retry error: Get-Queue | fl Identity,LastError,NextHopDomain (while messages are still queued), or Get-MessageTrackingLog -MessageId <id> -EventId DEFER | fl RecipientStatus; Exchange Online: the message trace detail.",
		"Then explain that string: mailflow explain '<LastError or RecipientStatus>'.",
	}
	e.Fix = []string{
		"Fix the cause the last retry error names (mailflow explain on it gives the steps), then ask the sender to resend: the expired message is gone.",
		"While a fix is under way, lengthen the expiry only if needed: Set-TransportService <server> -MessageExpirationTimeout 4.00:00:00 (mailflow: queue.expiry).",
	}
	e.SeeAlso = []string{"mailflow explain '<LastError>'"}
}

func buildUnableToRoute(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + ": unable to route — no next hop for the recipient domain"
	e.Cause = "The sender found no way to the recipient domain: the domain has no MX or A record (NonExistentDomain), or no send connector's address space covers it (NoNextHop) — for hybrid mail, the send connector for <tenant>.mail.onmicrosoft.com is missing or disabled."
	e.Evidence = []string{
		"Resolve-DnsName <domain> -Type MX (dig MX <domain>).",
		"Get-SendConnector | fl Identity,AddressSpaces,SmartHosts,Enabled (mailflow: send_connectors address_spaces).",
	}
	e.Fix = []string{
		"If DNS is missing: publish the domain's MX (or correct the recipient address).",
		"If no connector covers the domain: add its address space to a send connector: Set-SendConnector \"<connector>\" -AddressSpaces @{Add='<domain>'} (mailflow: mailflow connector set \"<connector>\" --address-spaces <domain>), and enable it.",
	}
	e.SeeAlso = []string{"mailflow connector validate \"<connector>\""}
}

func buildInsufficientResources(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + ": insufficient system resources — the receiver is in back pressure"
	e.Cause = "The receiving server refuses new mail until resources recover: Exchange back pressure (free disk on the queue database volume below its threshold, memory or version buckets high), or a full disk under mailflow's data_dir. The sender retries."
	e.Evidence = []string{
		"Exchange: events 15004/15006/15007 (MSExchangeTransport resource pressure) and Get-ExchangeDiagnosticInfo -Server <server> -Process EdgeTransport -Component ResourceThrottling.",
		"Free space on the queue volume (Get-PSDrive; mailflow: df -h <data_dir>).",
	}
	e.Fix = []string{
		"Free disk space on the queue database volume (or move the queue database to a larger volume), and look for what fills it (logs, a growing queue).",
		"If the queue itself is huge, find why delivery stalls (Get-Queue | fl Identity,MessageCount,LastError) and explain its LastError.",
	}
	e.SeeAlso = []string{"mailflow explain '<LastError>'"}
}

func buildServiceUnavailable(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + ": service not available — the receiver refuses more sessions"
	e.Cause = "The receiver refused or closed the session: too many connections from the sender's IP or in total (mailflow: limits.max_connections_per_ip, 50 by default, and limits.max_connections; Exchange: the receive connector's MaxInboundConnectionPerSource and MaxInboundConnection), or the transport component is inactive (server in maintenance mode)."
	e.Evidence = []string{
		"The SmtpReceive protocol log around the refusal: many concurrent sessions from one remote endpoint point at the connection limit (" + explainRecvLogs + ").",
		"Exchange: Get-ReceiveConnector | fl Identity,MaxInboundConnection*; Get-ServerComponentState <server> | where Component -like '*Transport*'.",
	}
	e.Fix = []string{
		"Raise the limit for a legitimate high-volume sender: Set-ReceiveConnector \"<connector>\" -MaxInboundConnectionPerSource <n> (mailflow: limits.max_connections_per_ip), or make the sender use fewer parallel sessions.",
		"If the server is in maintenance mode: Set-ServerComponentState <server> -Component HubTransport -State Active -Requester Maintenance.",
	}
	e.SeeAlso = []string{"mailflow logs analyze <SmtpReceive log folder>"}
}

func buildBareLinefeeds(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + ": bare line feeds — the message has LF line ends where SMTP requires CRLF"
	e.Cause = "The message contains line feeds not preceded by a carriage return. SMTP's DATA requires CRLF line ends, and since SMTP smuggling (CVE-2023-51764/51765/51766) receivers refuse bare LF instead of guessing; Exchange can send such content only with BDAT (CHUNKING), which this hop does not offer. mailflow refuses bare CR or LF in DATA too."
	e.Evidence = []string{
		"The raw message as submitted by the sending application: lines ending in \\n alone (od -c or a hex view of the .eml).",
		"Which hop refused it (the NDR's generating server / the SmtpSend or SmtpReceive protocol log line with the 550).",
	}
	e.Fix = []string{
		"Fix the sending application to write CRLF line ends (scripts that build MIME text with \\n are the usual source).",
		"If the next hop is yours, offer CHUNKING/BDAT on it so Exchange can pass binary content without DATA.",
	}
	e.SeeAlso = []string{"mailflow logs analyze <protocol log folder>"}
}

// ---- generic security replies ----

func buildSecurity70(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + ": security failure — TLS, certificate or proxy session"
	e.Cause = fmt.Sprintf("The receiver or the sender's own front-end proxy refused for a security reason (X.7.0): %q. On Exchange this is most often a TLS negotiation or certificate failure on the next hop, or a front-end proxy session that could not be set up.", nonBlank(c.in.status.text, "no text"))
	e.Evidence = []string{
		"The SmtpSend protocol log of the sending server for " + nonBlank(c.hostName(), "the target") + ": the last lines before the failure ('TLS negotiation failed with error …', certificate lines) name the step (" + explainSendLogs + ").",
		c.probeEvidence(),
	}
	e.Fix = []string{
		"Explain the precise protocol-log line: mailflow explain '<line>' (TLS negotiation failures and certificate reasons have exact fixes).",
		"If the probe shows a certificate problem: " + pinFix(c.nameOr("<host name>")),
	}
	e.SeeAlso = []string{c.probe(), "mailflow logs analyze <SmtpSend log folder>"}
}

func buildCrypto75(c explainCtx, e *Explanation) {
	e.Title = strings.TrimSpace(e.Code+" "+e.Enhanced) + ": cryptographic failure"
	e.Cause = fmt.Sprintf("X.7.5 is a cryptographic failure: %q. Exchange uses it when a connector's TlsCertificateName names no installed certificate (454 4.7.5) and Exchange Online when an MX fails MTA-STS validation.", nonBlank(c.in.status.text, "no text"))
	e.Evidence = []string{
		"Get-SendConnector | fl Identity,TlsCertificateName and " + certListEvidence(),
		c.probeEvidence(),
	}
	e.Fix = []string{
		"If a connector pins a certificate: $c = Get-ExchangeCertificate -Thumbprint <thumbprint>; Set-SendConnector \"<connector>\" -TlsCertificateName \"<I>$($c.Issuer)<S>$($c.Subject)\" (mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\").",
		"If the target's certificate fails validation: " + pinFix(c.nameOr("<host name>")),
	}
	e.SeeAlso = []string{c.probe(), "mailflow cert list"}
}

// ---- the failover wrapper ----

func buildFailover(c explainCtx, e *Explanation) {
	// The wrapper is what is explained here: report its code, keep the
	// quoted reply as a field.
	if !c.in.outer.empty() {
		e.Code, e.Enhanced, e.Text = c.in.outer.code, c.in.outer.enhanced, displayText(c.in.outer.text)
	}
	primary := nonBlank(c.f("PrimaryResponse"), "(not given)")
	e.Title = "451 4.4.0 failover failed: the primary target and every alternate host failed"
	var hint string
	lp := strings.ToLower(primary)
	switch {
	case strings.Contains(lp, "unable to connect") || strings.Contains(lp, "4.2.1"):
		hint = " \"421 4.2.1 Unable to connect\" is generated by the sending server itself when connection setup fails after TCP connected, most often the TLS handshake: TLS negotiation failed with error NoCredentials or UnknownCredentials, or the send connector's TlsCertificateName names no installed certificate."
	case strings.Contains(lp, "timed out") || strings.Contains(lp, "4.4.1"):
		hint = " \"421 4.4.1 Connection timed out\" means no TCP answer from the target: a firewall or wrong address."
	case strings.Contains(lp, "socketerror") || strings.Contains(lp, "4.4.2") || strings.Contains(lp, "dropped"):
		hint = " \"421 4.4.2 Connection dropped\" means the connection was reset mid-session, typically during STARTTLS: a firewall inspecting SMTP, or the target refusing the handshake or the client certificate."
	}
	e.Cause = fmt.Sprintf("The sender tried the primary target%s and found no working alternate host. The quoted reply is what it got from — or generated for — the primary target: %s.%s",
		endpointSuffix(c.f("LastEndpoint")), strings.TrimRight(primary, "."), hint)
	e.Evidence = []string{
		"The sending server's SmtpSend protocol log for the endpoint, with Set-SendConnector \"<connector>\" -ProtocolLoggingLevel Verbose (" + explainSendLogs + "): the last lines of the failed session name the step that failed.",
		"Get-Queue | fl Identity,NextHopDomain,LastError,MessageCount, and Get-SendConnector | fl Identity,SmartHosts,TlsCertificateName,RequireTLS,TlsAuthLevel.",
		fmt.Sprintf("mailflow probe %s --policy DomainValidation --expect NAME shows whether connection, EHLO and TLS work from here.", c.endpoint()),
	}
	e.Fix = []string{
		"Explain the failing protocol-log line (for example 'TLS negotiation failed with error NoCredentials'): mailflow explain '<line>' gives its exact fix.",
		"If the send connector presents a certificate: make sure TlsCertificateName names an installed certificate with its private key, enabled for SMTP: $c = Get-ExchangeCertificate -Thumbprint <thumbprint>; Set-SendConnector \"<connector>\" -TlsCertificateName \"<I>$($c.Issuer)<S>$($c.Subject)\"; Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services SMTP (mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\").",
		"If TCP itself fails: open TCP 25 outbound to the smart host and check the name resolves; then Retry-Queue -Identity <queue>.",
	}
	e.SeeAlso = []string{"mailflow logs analyze <SmtpSend log folder>", fmt.Sprintf("mailflow probe %s --policy DomainValidation --expect NAME", c.endpoint())}
}

func endpointSuffix(ep string) string {
	if ep == "" {
		return ""
	}
	return " (last endpoint attempted: " + ep + ")"
}

func nonBlank(s, fallback string) string {
	if strings.TrimSpace(s) == "" {
		return fallback
	}
	return s
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
