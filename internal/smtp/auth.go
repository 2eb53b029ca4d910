package smtp

import (
	"encoding/base64"
	"errors"
	"strings"
)

// MaxAuthLine is RFC 4954 §4's limit for an AUTH command or a SASL response
// line: 12288 octets, CRLF included.
const MaxAuthLine = 12288

// Errors of the SASL exchange framing (RFC 4954). Sessions map them to
// replies: ErrAuthCancelled → 501 5.0.0, ErrAuthBadBase64 → 501 5.5.2.
var (
	ErrAuthCancelled = errors.New("smtp: authentication cancelled by the client")
	ErrAuthBadBase64 = errors.New("smtp: authentication response is not valid base64")
)

// AuthCommand is a parsed "AUTH mechanism [initial-response]".
type AuthCommand struct {
	Mechanism string // upper-case
	// Initial is the decoded initial response; nil when the client sent
	// none, empty when it sent "=" (an empty response).
	Initial []byte
}

// ParseAuth parses the argument of AUTH. A malformed initial response gives
// ErrAuthBadBase64, "*" as initial response ErrAuthCancelled; a missing or
// malformed mechanism a *SyntaxError (501 5.5.4).
func ParseAuth(arg string) (AuthCommand, error) {
	mech, ir, hasIR := strings.Cut(arg, " ")
	if !validMechanism(mech) {
		return AuthCommand{}, &SyntaxError{Code: 501, Enhanced: "5.5.4", Msg: "Syntax: AUTH mechanism [initial-response]"}
	}
	ac := AuthCommand{Mechanism: strings.ToUpper(mech)}
	if !hasIR {
		return ac, nil
	}
	resp, err := DecodeAuthResponse(ir)
	if err != nil {
		return AuthCommand{}, err
	}
	ac.Initial = resp
	return ac, nil
}

// validMechanism: RFC 4422 §3.1 sasl-mech, 1–20 of A–Z 0–9 - _ (case is
// folded here; clients send upper case).
func validMechanism(m string) bool {
	if m == "" || len(m) > 20 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// DecodeAuthResponse decodes one client response line of a SASL exchange:
// "*" cancels, "=" is an empty response (RFC 4954 §4), anything else must be
// padded standard base64 without spaces. The result is never nil.
func DecodeAuthResponse(line string) ([]byte, error) {
	switch line {
	case "*":
		return nil, ErrAuthCancelled
	case "=":
		return []byte{}, nil
	}
	if line == "" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.Strict().DecodeString(line)
	if err != nil {
		return nil, ErrAuthBadBase64
	}
	return b, nil
}

// AuthChallenge encodes a server challenge for a "334 " line.
func AuthChallenge(c []byte) string { return base64.StdEncoding.EncodeToString(c) }

// RedactAuth returns line with anything after the AUTH mechanism removed, so
// that a log never holds a SASL initial response (credentials, base64): the
// line "AUTH PLAIN AHVzZXIAcGFzcw==" becomes "AUTH PLAIN". Exchange logs AUTH
// the same way: the command and the mechanism. Other lines are returned as
// they are. A "mechanism" that is not a valid SASL name is dropped too: it
// may be a response sent where a command was expected.
//
// Spaces and control characters before AUTH do not hide it: the session
// refuses such a line as a syntax error, but it is logged all the same.
func RedactAuth(line string) string {
	orig := line
	line = strings.TrimLeftFunc(line, isBlankOrControl)
	if len(line) < 4 || !strings.EqualFold(line[:4], "AUTH") {
		return orig
	}
	if len(line) == 4 {
		return line
	}
	if isVerbChar(line[4]) {
		return orig // another verb such as AUTHX: not an AUTH command
	}
	// Any other byte separates (a space, a tab, a control character a
	// hostile client put there): keep the mechanism only.
	rest := strings.TrimLeftFunc(line[5:], func(r rune) bool { return r == ' ' || r == '\t' })
	end := 0
	for end < len(rest) && isMechChar(rest[end]) {
		end++
	}
	mech := rest[:end]
	if !validMechanism(mech) || (end < len(rest) && rest[end] != ' ' && rest[end] != '\t') {
		return line[:4] + " <redacted>"
	}
	return line[:4] + " " + mech
}

func isVerbChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
}

func isBlankOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func isMechChar(c byte) bool { return isVerbChar(c) || c == '_' }
