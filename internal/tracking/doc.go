// Package tracking owns the message tracking log in Exchange's format
// (MSGTRK*.LOG): a writer for the transport stages, a streaming reader that
// reads mailflow's files and real Exchange files alike, and Search, the
// Get-MessageTrackingLog equivalent the trace and diagnostics commands use.
//
// Files are named MSGTRKyyyymmddhh-n.LOG after the UTC hour of writing, like
// the protocol logs (Exchange 2013+ also writes hourly-or-by-size files;
// 2010 used MSGTRKyyyymmdd-n.LOG; the MSGTRKMD/MS/MA variants hold mailbox
// delivery, submission and agent events). The reader and Search accept all
// of these names. Buffering, rotation and retention are internal/logfile's,
// shared with internal/protolog; logs observe and never block mail flow.
//
// Multi-value fields (recipient-address, recipient-status) are ';'-separated
// as in Exchange. A recipient status may itself contain ';' — the send
// detail {LED=…};{MSG=…};{FQDN=…};{IP=…};{LRT=…} does — so the reader splits
// recipient-status only at ';' outside [] and {}, and the writer wraps a
// status that would otherwise split in [ ], the form Exchange itself logs
// ([{LRT=};{LED=…};{FQDN=};{IP=}]). Reading removes one such wrapper, so a
// status round-trips unchanged. Statuses with unbalanced brackets cannot be
// delimited reliably and may merge with their neighbours when read back.
//
// The #Log-type header is written as Exchange writes it ("#Log-type:
// Message Tracking Log"); header keys are read case-insensitively.
package tracking
