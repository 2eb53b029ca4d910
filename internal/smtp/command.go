package smtp

import (
	"strings"
	"unicode/utf8"
)

// maxVerbLen bounds a command verb; the longest in use ("X-ANONYMOUSTLS") is 14.
const maxVerbLen = 32

// Command is one parsed command line.
type Command struct {
	Verb string // upper-case: "EHLO", "MAIL", …
	Arg  string // everything after the first space, trailing spaces removed
}

// errCommandSyntax is the reply for a line that is not a command at all.
var errCommandSyntax = &SyntaxError{Code: 500, Enhanced: "5.5.2", Msg: "Syntax error, command unrecognized"}

// ParseCommand splits a command line (without CRLF) into verb and argument:
// "MAIL FROM:<a@b> SIZE=10" gives Verb "MAIL", Arg "FROM:<a@b> SIZE=10".
//
// The verb is letters, digits and '-', starting with a letter. The line must
// be valid UTF-8 without control characters (NUL, CR, LF, TAB, DEL …): such
// bytes have no place in a command and are a favourite of protocol-confusion
// attacks. Errors are *SyntaxError (500 5.5.2).
func ParseCommand(line string) (Command, error) {
	if line == "" || !utf8.ValidString(line) {
		return Command{}, errCommandSyntax
	}
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 || c == 0x7f {
			return Command{}, errCommandSyntax
		}
	}
	verb, arg, _ := strings.Cut(line, " ")
	if verb == "" || len(verb) > maxVerbLen || !isAlpha(verb[0]) {
		return Command{}, errCommandSyntax
	}
	for i := 0; i < len(verb); i++ {
		if c := verb[i]; !isAlpha(c) && !isDigit(c) && c != '-' {
			return Command{}, errCommandSyntax
		}
	}
	return Command{Verb: strings.ToUpper(verb), Arg: strings.TrimRight(arg, " ")}, nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
