// Package diag owns mailflow's diagnostics: probing live servers as a
// validating sender would, explaining error strings, analysing protocol and
// tracking logs and validating connectors, with text and JSON reports.
//
// The explain part (files explain*.go) turns the strings an administrator
// actually has in hand — an Exchange Online message-trace reason, an
// on-premises queue LastError, a message-tracking recipient-status, an
// application-log event text or a bare SMTP reply — into a cause, the evidence
// to collect and a fix that names the values parsed from the string. It is a
// pure function of its input: no network, no configuration, so it can run on
// any machine an administrator pastes an error into.
//
// The probe (probe*.go) connects to a live server exactly as a sending
// connector would — it calls internal/send's Connect stage and the one
// tlscheck.Verify — and reports the chain, the verdict with the status a
// validating cloud sender would produce, and which certificate to pin
// (RecommendCertificate, shared with the lab). Connector validation
// (validate*.go) runs the same probe with a send connector's own policy, or
// predicts offline which certificate a receive connector presents to whom.
//
// Log analysis (logs*.go) streams Exchange-format protocol and tracking logs
// through the protolog and tracking readers — the same code that reads
// mailflow's own logs — in bounded memory, and turns them into per-connector
// summaries and findings.
package diag
