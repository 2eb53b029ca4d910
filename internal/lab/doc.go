// Package lab owns `mailflow lab`: two failures administrators reported in
// published articles (scenario 1: Exchange Online deferring mail with 450
// 4.7.320 SubjectMismatch because an on-premises receive connector with no
// pinned certificate presents its self-signed CN=SERVER1; scenario 2: an
// Exchange 2010 hybrid connector's certificate and SAN questions) and the
// device relay administrators are asked to build (scenario 3: SMTP AUTH on
// Client Frontend, relay through the tenant attributed by certificate, 550
// 5.7.64 with the wrong one), scenario 1's failure in its DANE form
// (scenario 4: a renewal with a new key against a published TLSA record)
// and a renewal from a new intermediate CA that would break a pin plus an
// ACME certificate renewing live (scenario 5), with their fixes,
// reproduced end to end on loopback — a lab PKI, a "tenant" and an
// "on-premises" mailflow, the failing delivery, the evidence in the logs,
// the diagnosis and the live fix — built only from mailflow's public
// pieces (config, node, admin API, diag), nothing private.
//
// How it is built, and why:
//   - Each scenario gets its own tenant and on-premises server (a "world",
//     world.go) started with node.Start from configuration files written
//     to disk (configs.go), so each begins in its field report's initial
//     state: scenario 2's Default Frontend still presents the self-signed
//     certificate that scenario 1 replaced, which is what makes "127.0.0.1
//     gets Default Frontend's certificate, 127.0.0.2 the hybrid connector's"
//     visible by thumbprint.
//   - Mail enters over SMTP from a chosen loopback address with mailflow's
//     SMTP client (client.go) on a relay connector (ExternalAuthoritative +
//     ExchangeServers for 127.0.0.1/32); nothing is put into a queue behind
//     a server's back. Every live change — a connector field, a certificate
//     import, a queue retry, a reload after editing the file — goes through
//     the admin API client, as an administrator's CLI would.
//   - Evidence is read where an administrator reads it (evidence.go): the
//     message trace through the admin API (tracking.Search), the protocol
//     log files with protolog's reader (the code that reads real Exchange
//     logs), diag/explain.Text for the error string and diag/probe.RecommendCertificate
//     for the certificate to pin.
//   - Nothing waits blindly: the queue never retries by itself (retry
//     interval 1h) and every wait polls an observable state (the trace) with
//     a short ticker under an overall deadline.
//   - A step is OK when the software behaved as the field report says — a
//     450 4.7.320 deferral is the expected outcome of a step — and the steps
//     of a scenario after one that was not are recorded as not run, since
//     each builds on the state the previous one left.
package lab
