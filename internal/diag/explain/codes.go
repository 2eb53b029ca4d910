package explain

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
	return []string{certCheck, c.probe(), c.logsAnalyze(), "mailflow cert list"}
}

// certCheck runs, on the receiving server, the checks the sender makes
// (name, pin, chain, key usage, expiry) for every certificate a connector
// presents: the way to find these failures before a sender does.
const certCheck = "mailflow cert check --config mailflow.yaml (on the receiving server: name, pinned tls_certificate_name, chain, key usage and expiry of every certificate a connector presents)"

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
		topic: "mtasts.mx",
		match: func(in *explainInput) bool {
			return in.has("MtaStsMxMismatch") || in.has("not allowed by the domain's MTA-STS policy")
		},
		build: buildMTASTSMX,
	},
	{topic: "requiretls.5.7.30", match: enhanced("7.30"), build: buildRequireTLS},
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
		topic: "auth.5.7.8.failed",
		match: func(in *explainInput) bool { return in.is("7.8") || in.has("Authentication unsuccessful") },
		build: buildAuthFailed,
	},
	{
		topic: "auth.4.7.0.locked-out",
		match: func(in *explainInput) bool { return in.has("Temporary authentication failure") },
		build: buildAuthLockedOut,
	},
	{
		topic: "auth.5.7.60.SendAs",
		match: func(in *explainInput) bool {
			return in.is("7.60") || in.has("does not have permissions to send as this sender")
		},
		build: buildSendAsDenied,
	},
	{
		topic: "auth.4.5.3.rate",
		match: func(in *explainInput) bool { return in.has("Message rate limit exceeded") },
		build: buildUserRateLimit,
	},
	{
		topic: "auth.5.7.11.encryption-required",
		match: func(in *explainInput) bool {
			return in.is("7.11") || in.has("Encryption required for requested authentication mechanism")
		},
		build: buildAuthNeedsEncryption,
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
