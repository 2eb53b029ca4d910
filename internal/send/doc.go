// Package send owns mailflow's send connectors: delivering one message to
// the next hop the way an Exchange send connector does (Set-SendConnector:
// RequireTLS, TlsAuthLevel, TlsDomain, TlsCertificateName), with the
// statuses Exchange records for each failure.
//
// Sender.Send resolves the next hops (the connector's smart hosts in order,
// or the recipient domain's MX records by preference), dials them in turn
// (from the connector's source IP when set), greets with the connector FQDN
// (else the server FQDN, never "localhost"), uses STARTTLS whenever it is
// offered and insists on it when the connector requires TLS, presents the
// client certificate the certificate store selects (mutual TLS) and judges
// the server's certificate with tlscheck.Verify, the same judgement the probe
// reports. Crypto/tls's own verification is switched off
// (InsecureSkipVerify) precisely so that this one judgement, with Exchange's
// reasons, decides.
//
// The connection stage — dial, banner, EHLO, STARTTLS, certificate verdict,
// client certificate, EHLO under TLS — is exported as Sender.Connect, and
// the next-hop resolution as Sender.Targets, so the diagnostics (mailflow
// probe, connector validation) run the very code a delivery runs; a probe
// only adds observation (ConnectOptions: finish the handshake after a
// rejected certificate, accept legacy TLS versions) and never a different
// judgement.
//
// Before connecting to each target, one policy step (Sender.Policy,
// policy.go) decides what TLS the target requires and how its certificate
// is judged: DNSSEC-authentic TLSA records (DANE, RFC 7672; dane.go) win,
// then other DNS policy sources (Sender.Policies: MTA-STS), then the
// connector's own require_tls / tls_auth_level / tls_domain. A bogus DNSSEC
// answer refuses the target before any connection (450 4.7.324); DANE
// failures carry Exchange Online's 4.7.321–4.7.325 statuses and the TLSA
// records seen. Every policy outcome goes to Sender.Observer (TLS
// reporting). The TLSA matching itself is tlscheck's, like every other
// certificate judgement.
//
// Every failure becomes a per-recipient Result with the status an Exchange
// server would record (450 4.4.312 DNS query failed … 450 4.7.320
// Certificate validation failed) and a lasterror.Record with the fields of
// Exchange's LastError and message-trace reason, so the queue, the tracking
// log and the diagnostics show what an Exchange admin expects to read.
//
// Design choices that differ from a literal reading of Exchange:
//   - A TlsAuthLevel above EncryptionOnly implies RequireTLS, as both
//     Exchange (the cmdlet refuses otherwise) and Exchange Online (TlsSettings
//     on a connector) enforce it.
//   - With opportunistic TLS a failed handshake is retried once in plaintext
//     on the same host, as Postfix does at security level "may"; a rejected
//     certificate at a required level never falls back.
//   - Other hosts are tried only for failures before the envelope (DNS,
//     connect, greeting, EHLO, TLS, certificate). Once the next hop has
//     answered MAIL, its replies are final for this delivery: 5xx fails the
//     recipient, 4xx defers it to the queue's next retry.
//   - The connection-level failure reported is that of the last host tried
//     (LastAttemptedServerName), and Result.Attempts lists every host tried
//     with its own failure, so the primary host's 4.7.320 is not hidden by a
//     secondary's refusal.
package send
