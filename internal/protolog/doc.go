// Package protolog owns the SMTP protocol log in Exchange's format
// (SmtpReceive RECV*.LOG and SmtpSend SEND*.LOG): a writer that sessions call
// on the hot path, and a streaming reader that reads mailflow's own files and
// real Exchange files alike, plus parsers for the two certificate line forms
// Exchange writes (certline.go) so that diagnostics reuse them.
//
// Logs observe, they never steer: a Session appends one formatted line to an
// in-memory buffer and returns; files are written by a background flusher
// (see internal/logfile), and lines are dropped and counted rather than ever
// blocking a session on a slow disk. A nil *Writer and a nil *Session are
// valid and log nothing, so callers with logging switched off need no ifs.
//
// Format choices:
//   - Lines end in CRLF, as on Windows. The reader accepts CRLF or LF.
//   - A field holding ',' or '"' is quoted with embedded quotes doubled. CR
//     and LF inside data or context are written as one space each so that a
//     record is always one line (Exchange joins multi-line replies with spaces
//     too); escaping them reversibly would make the literal backslashes of
//     real Exchange logs ambiguous to the same reader.
//   - Session ids follow Exchange: 16 upper-case hex digits counting up from
//     the .NET tick count (100 ns since 0001-01-01) at writer start, so ids
//     are unique within a process and increase across restarts.
package protolog
