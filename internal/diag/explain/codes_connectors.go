package explain

// Entries for connector configuration: a send connector's certificate,
// STARTTLS required, Exchange Online connector attribution and relay or
// permission refusals. The table itself is in codes.go.

import (
	"fmt"
	"strings"
)

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
