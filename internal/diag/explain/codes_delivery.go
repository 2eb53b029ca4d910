package explain

// Entries for delivery: connection failures, queue, routing and resources,
// generic security replies and the failover wrapper. The table itself is in
// codes.go.

import (
	"fmt"
	"strings"
)

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
