// Package explain turns the strings an administrator actually has in hand —
// an Exchange Online message-trace reason, an on-premises queue LastError, a
// message-tracking recipient-status, an application-log event text or a bare
// SMTP reply — into a cause, the evidence to collect and a fix that names the
// values parsed from the string.
//
// It is a pure function of its input (Text): no network, no configuration,
// so it can run on any machine an administrator pastes an error into. The
// parser is in parse.go; the code table (which condition gives which
// explanation) is in codes.go, with its entries grouped by family in
// codes_*.go.
package explain
