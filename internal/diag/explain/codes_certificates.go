package explain

// Entries for TLS and certificate conditions: the application-log events
// 12014/12016, send-side TLS negotiation failures and the certificate
// validation reasons (4.7.320, 4.4.317). The table itself is in codes.go.

import (
	"fmt"
	"strings"
)

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
