// Package smtp owns mailflow's SMTP protocol engine: the strict server-side
// primitives (command line reader, DATA reader, command and path parsers,
// reply writer) and the client used by the send connectors and the probe.
//
// Why not github.com/emersion/go-smtp: its server trace is one writer shared by
// all sessions (Exchange-format protocol logs need a session id and a sequence
// number per line), its DATA reader passes bare LF through, and its client
// refuses opportunistic STARTTLS and says "EHLO localhost" before STARTTLS.
// Closing those gaps would mean forking most of it, so we own a small engine
// whose rules are written down here and tested:
//
//   - Command lines must end in CRLF. A bare LF or a CR not followed by LF is an
//     error, never silently accepted (ReadLine).
//   - DATA ends only on <CRLF>.<CRLF>. Every bare CR or LF anywhere in the body
//     is an error, reported only after the real end of data so that the session
//     stays in step with the client (ReadData). This closes SMTP smuggling
//     (CVE-2023-51764/5/6). net/textproto's DotReader is deliberately not used:
//     it ends DATA on a bare-LF dot line.
//   - Limits follow RFC 5321 §4.5.3: a command line of 512 octets, a text line
//     of 1000, a local part of 64, a domain of 255, a path of 256.
//   - Replies are written without flushing (WriteReply) so a session can batch
//     the replies to a PIPELINING group (RFC 2920) and flush once.
//   - The client (Client) always sends the caller's host name in EHLO, uses
//     STARTTLS whenever the caller asks (opportunistic or required), refuses to
//     continue when the server sent bytes after its 220 to STARTTLS (response
//     injection), uses PIPELINING for the envelope when offered, and exposes
//     every line sent and received for the SmtpSend protocol log.
//   - SMTP AUTH (RFC 4954) framing is here, the mechanisms are go-sasl's:
//     ParseAuth and DecodeAuthResponse ("*" cancels, "=" is empty, strict
//     padded base64), AuthChallenge, Client.Auth. RedactAuth cuts an AUTH
//     line after its mechanism; every log writer uses it, and Client.Auth
//     never shows a SASL response to OnSend.
package smtp
