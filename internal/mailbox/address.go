package mailbox

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidAddress marks a recipient that cannot name a mailbox directory
// safely. It wraps the precise reason.
var ErrInvalidAddress = errors.New("invalid mailbox address")

// ErrInvalidID marks a message id that cannot be a file name.
var ErrInvalidID = errors.New("invalid message id")

// SplitRecipient returns the lower-cased local part and domain of rcpt as
// they name directories in the store. Mailboxes are case-insensitive (the
// local part is lower-cased too, as Exchange does), a quoted local part is
// unquoted, and a "+tag" is kept (no sub-addressing). Anything that could
// step outside the mailbox directory or hide a file is refused: "/", "\",
// NUL and other control characters, "..", a leading ".", and invalid UTF-8.
// A recipient without a domain is refused: the receiver qualifies bare
// "postmaster" before it gets here.
func SplitRecipient(rcpt string) (local, domain string, err error) {
	addr := strings.TrimSpace(rcpt)
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", "", fmt.Errorf("%w %q: no domain", ErrInvalidAddress, rcpt)
	}
	local, err = cleanLocal(addr[:at])
	if err != nil {
		return "", "", fmt.Errorf("%w %q: %w", ErrInvalidAddress, rcpt, err)
	}
	domain, err = cleanDomain(addr[at+1:])
	if err != nil {
		return "", "", fmt.Errorf("%w %q: %w", ErrInvalidAddress, rcpt, err)
	}
	return local, domain, nil
}

func cleanLocal(s string) (string, error) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = unquote(s[1 : len(s)-1])
	}
	if s == "" {
		return "", errors.New("empty local part")
	}
	if len(s) > 64 {
		return "", errors.New("local part longer than 64 octets")
	}
	if err := checkName(s); err != nil {
		return "", fmt.Errorf("local part: %w", err)
	}
	return strings.ToLower(s), nil
}

// unquote resolves RFC 5321 quoted-pair escapes ("\x" → "x").
func unquote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func cleanDomain(s string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(s), ".")
	if d == "" {
		return "", errors.New("empty domain")
	}
	if len(d) > 255 {
		return "", errors.New("domain longer than 255 octets")
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" {
			return "", fmt.Errorf("domain %q has an empty label", d)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("domain %q contains %q (only letters, digits, '-' and '_' are allowed)", d, c)
			}
		}
	}
	return d, nil
}

// checkName refuses what could escape a directory or hide a file.
func checkName(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	if strings.HasPrefix(s, ".") {
		return errors.New(`starts with "."`)
	}
	if strings.Contains(s, "..") {
		return errors.New(`contains ".."`)
	}
	for _, r := range s {
		switch {
		case r == '/' || r == '\\':
			return fmt.Errorf("contains %q", r)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("contains control character %U", r)
		}
	}
	return nil
}

// checkID accepts the ids the queue makes (16 upper-case hex) and other
// plain tokens: letters, digits, '.', '-', '_', up to 128 characters, not
// starting with '.'.
func checkID(id string) error {
	if id == "" || len(id) > 128 || id[0] == '.' || strings.Contains(id, "..") {
		return fmt.Errorf("%w %q", ErrInvalidID, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("%w %q: contains %q", ErrInvalidID, id, c)
		}
	}
	return nil
}
