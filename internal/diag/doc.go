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
package diag
