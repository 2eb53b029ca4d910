package smtp

import (
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RFC 5321 §4.5.3.1 size limits, in octets.
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxPath      = 256 // including the angle brackets
	maxLabel     = 63
)

// Path is a reverse-path (MAIL FROM) or forward-path (RCPT TO).
type Path struct {
	// Local is the local part in its simplest form: unquoted when it is a
	// valid dot-string, otherwise quoted ("user@foreign").
	Local string
	// Domain is as the client wrote it (compare case-insensitively), an
	// address literal keeps its brackets: "[127.0.0.1]", "[IPv6:::1]". Empty
	// for the null path and for RCPT TO:<postmaster>.
	Domain string
	// Null is the null reverse-path <>.
	Null bool
	// SourceRoute: the client gave an obsolete source route (@a,@b:u@c). It
	// was stripped, as RFC 5321 §4.1.1.3 says, but a relay check may want to
	// know.
	SourceRoute bool
	// UTF8: the path holds non-ASCII characters, so it needs SMTPUTF8.
	UTF8 bool
	// Raw is the text between the angle brackets as received.
	Raw string
}

// String is local@domain, the bare local part when there is no domain, or ""
// for the null path.
func (p Path) String() string {
	switch {
	case p.Null:
		return ""
	case p.Domain == "":
		return p.Local
	}
	return p.Local + "@" + p.Domain
}

// AddressLiteral returns the IP address when Domain is an address literal.
func (p Path) AddressLiteral() (netip.Addr, bool) {
	if !strings.HasPrefix(p.Domain, "[") {
		return netip.Addr{}, false
	}
	return parseAddressLiteral(p.Domain)
}

// IsPostmaster reports whether the path is the domain-less <postmaster>
// (case-insensitive) that RFC 5321 §4.5.1 says every server must accept.
func (p Path) IsPostmaster() bool {
	return p.Domain == "" && !p.Null && strings.EqualFold(p.Local, "postmaster")
}

// pathKind tells the two commands apart for syntax and enhanced codes.
type pathKind struct {
	keyword  string // "FROM:" or "TO:"
	usage    string
	enhanced string // address syntax code: 5.1.7 sender, 5.1.3 recipient
	rcpt     bool
}

var (
	mailKind = pathKind{keyword: "FROM:", usage: "Syntax: MAIL FROM:<address> [parameters]", enhanced: "5.1.7"}
	rcptKind = pathKind{keyword: "TO:", usage: "Syntax: RCPT TO:<address> [parameters]", enhanced: "5.1.3", rcpt: true}
)

func (k pathKind) usageError() error {
	return &SyntaxError{Code: 501, Enhanced: "5.5.4", Msg: k.usage}
}

func (k pathKind) addressError(why string) error {
	return &SyntaxError{Code: 501, Enhanced: k.enhanced, Msg: "Invalid address: " + why}
}

// ParseMailFrom parses the argument of MAIL ("FROM:<a@b> SIZE=10"). It returns
// the reverse-path (Null for <>) and the ESMTP parameters with upper-case keys
// (a keyword without a value maps to ""). Errors are *SyntaxError: 501 5.5.4
// for command syntax, 501 5.1.7 for the address.
func ParseMailFrom(arg string) (Path, map[string]string, error) {
	return parsePathArg(arg, mailKind)
}

// ParseRcptTo parses the argument of RCPT ("TO:<u@d> NOTIFY=NEVER"). The null
// path is refused; <postmaster> without a domain is allowed (Domain "").
// Errors are *SyntaxError: 501 5.5.4 for command syntax, 501 5.1.3 for the
// address.
func ParseRcptTo(arg string) (Path, map[string]string, error) {
	return parsePathArg(arg, rcptKind)
}

func parsePathArg(arg string, k pathKind) (Path, map[string]string, error) {
	if len(arg) < len(k.keyword) || !strings.EqualFold(arg[:len(k.keyword)], k.keyword) {
		return Path{}, nil, k.usageError()
	}
	// Many clients write "FROM: <a@b>"; the space carries no meaning, so it
	// is tolerated rather than refused.
	rest := strings.TrimLeft(arg[len(k.keyword):], " ")
	if !strings.HasPrefix(rest, "<") {
		return Path{}, nil, k.usageError()
	}
	end := closingBracket(rest)
	if end < 0 {
		return Path{}, nil, k.usageError()
	}
	inner, tail := rest[1:end], rest[end+1:]
	if tail != "" && tail[0] != ' ' {
		return Path{}, nil, k.usageError()
	}
	params, err := parseParams(tail)
	if err != nil {
		return Path{}, nil, err
	}
	if inner == "" {
		if k.rcpt {
			return Path{}, nil, k.addressError("the null path is not a recipient")
		}
		return Path{Null: true}, params, nil
	}
	if len(inner)+2 > maxPath {
		return Path{}, nil, k.addressError("path too long")
	}
	p, why := parsePath(inner, k.rcpt)
	if why != "" {
		return Path{}, nil, k.addressError(why)
	}
	return p, params, nil
}

// closingBracket finds the '>' that closes the path starting at s[0] == '<',
// skipping quoted strings (a quoted local part may hold '>').
func closingBracket(s string) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '>':
			return i
		}
	}
	return -1
}

// parsePath parses the text between the brackets. It returns a reason instead
// of an error so the caller can pick the enhanced code.
func parsePath(s string, rcpt bool) (Path, string) {
	if !utf8.ValidString(s) {
		return Path{}, "not valid UTF-8"
	}
	p := Path{Raw: s}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return Path{}, "control character"
		}
		if c >= 0x80 {
			p.UTF8 = true
		}
	}
	if s[0] == '@' {
		rest, why := skipSourceRoute(s)
		if why != "" {
			return Path{}, why
		}
		p.SourceRoute = true
		s = rest
	}
	local, rest, why := splitLocalPart(s)
	if why != "" {
		return Path{}, why
	}
	if len(local) > maxLocalPart {
		return Path{}, "local part longer than 64 octets"
	}
	p.Local = canonicalLocal(local)
	if rest == "" {
		// RFC 5321 §4.1.1.3: "postmaster" without a domain must be accepted
		// as a recipient; any other unqualified address is refused.
		if rcpt && !p.SourceRoute && strings.EqualFold(local, "postmaster") {
			return p, ""
		}
		return Path{}, "no domain"
	}
	if rest[0] != '@' {
		return Path{}, "unexpected character after the local part"
	}
	domain := rest[1:]
	if why := checkDomain(domain); why != "" {
		return Path{}, why
	}
	p.Domain = domain
	return p, ""
}

// skipSourceRoute removes "@a,@b:" and returns what follows the colon.
func skipSourceRoute(s string) (string, string) {
	for {
		if s == "" || s[0] != '@' {
			return "", "bad source route"
		}
		s = s[1:]
		end := domainEnd(s)
		if why := checkDomain(s[:end]); why != "" {
			return "", "bad source route: " + why
		}
		if end == len(s) {
			return "", "bad source route"
		}
		sep := s[end]
		s = s[end+1:]
		if sep == ':' {
			return s, ""
		}
		// sep == ','
	}
}

// domainEnd is the index of the ',' or ':' ending a route domain.
func domainEnd(s string) int {
	inLiteral := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			inLiteral = true
		case ']':
			inLiteral = false
		case ',', ':':
			if !inLiteral {
				return i
			}
		}
	}
	return len(s)
}

// splitLocalPart returns the local part as written (quotes kept) and the
// rest, which is empty or starts with '@'.
func splitLocalPart(s string) (string, string, string) {
	if s == "" {
		return "", "", "empty address"
	}
	if s[0] == '"' {
		for i := 1; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\':
				if i+1 >= len(s) || s[i+1] < 0x20 || s[i+1] > 0x7e {
					return "", "", "bad quoted pair"
				}
				i++
			case c == '"':
				return s[:i+1], s[i+1:], ""
			case c < 0x20 || c == 0x7f:
				return "", "", "control character in quoted string"
			}
		}
		return "", "", "unterminated quoted string"
	}
	at := strings.IndexByte(s, '@')
	local, rest := s, ""
	if at >= 0 {
		local, rest = s[:at], s[at:]
	}
	if !isDotString(local) {
		return "", "", "invalid local part"
	}
	return local, rest, ""
}

// isDotString: Atom *("." Atom), atext plus UTF-8 (RFC 6531).
func isDotString(s string) bool {
	if s == "" {
		return false
	}
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if !isAtext(atom[i]) {
				return false
			}
		}
	}
	return true
}

// isAtext is RFC 5322 atext; bytes >= 0x80 are parts of UTF-8 characters that
// RFC 6531 allows (validity is checked on the whole path).
func isAtext(c byte) bool {
	if isAlpha(c) || isDigit(c) || c >= 0x80 {
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// canonicalLocal turns a quoted local part into its simplest form: the
// unquoted text when that is a dot-string ("user" → user), else the quoted
// string with minimal escaping.
func canonicalLocal(local string) string {
	if local == "" || local[0] != '"' {
		return local
	}
	var b strings.Builder
	body := local[1 : len(local)-1]
	for i := 0; i < len(body); i++ {
		if body[i] == '\\' {
			i++
		}
		b.WriteByte(body[i])
	}
	text := b.String()
	if isDotString(text) {
		return text
	}
	b.Reset()
	b.WriteByte('"')
	for i := 0; i < len(text); i++ {
		if text[i] == '"' || text[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(text[i])
	}
	b.WriteByte('"')
	return b.String()
}

// checkDomain validates a domain or address literal and returns why not.
func checkDomain(d string) string {
	if d == "" {
		return "empty domain"
	}
	if len(d) > maxDomain {
		return "domain longer than 255 octets"
	}
	if d[0] == '[' {
		if _, ok := parseAddressLiteral(d); !ok {
			return "invalid address literal"
		}
		return ""
	}
	for _, label := range strings.Split(d, ".") {
		if why := checkLabel(label); why != "" {
			return why
		}
	}
	return ""
}

// checkLabel accepts an LDH label or, for SMTPUTF8, a U-label of letters,
// digits, marks and hyphens.
func checkLabel(label string) string {
	if label == "" {
		return "empty domain label"
	}
	if len(label) > maxLabel {
		return "domain label longer than 63 octets"
	}
	if label[0] == '-' || label[len(label)-1] == '-' {
		return "domain label starts or ends with '-'"
	}
	for _, r := range label {
		switch {
		case r < utf8.RuneSelf:
			if c := byte(r); !isAlpha(c) && !isDigit(c) && c != '-' {
				return "invalid character in domain"
			}
		case !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r):
			return "invalid character in domain"
		}
	}
	return ""
}

// parseAddressLiteral accepts [a.b.c.d] and [IPv6:…] (RFC 5321 §4.1.3).
// General address literals have no registered tags and are refused.
func parseAddressLiteral(d string) (netip.Addr, bool) {
	if len(d) < 3 || d[0] != '[' || d[len(d)-1] != ']' {
		return netip.Addr{}, false
	}
	inner := d[1 : len(d)-1]
	if len(inner) > 5 && strings.EqualFold(inner[:5], "IPv6:") {
		a, err := netip.ParseAddr(inner[5:])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a, true
	}
	a, err := netip.ParseAddr(inner)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// parseParams parses " KEY=VALUE KEY2" after the path.
func parseParams(s string) (map[string]string, error) {
	params := map[string]string{}
	for _, field := range strings.Split(s, " ") {
		if field == "" {
			continue
		}
		key, value, hasValue := strings.Cut(field, "=")
		if !isParamKeyword(key) || hasValue && !isParamValue(value) {
			return nil, &SyntaxError{Code: 501, Enhanced: "5.5.4", Msg: "Invalid parameter syntax: " + field}
		}
		key = strings.ToUpper(key)
		if _, dup := params[key]; dup {
			return nil, &SyntaxError{Code: 501, Enhanced: "5.5.4", Msg: "Duplicate parameter: " + key}
		}
		params[key] = value
	}
	return params, nil
}

// isParamKeyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
func isParamKeyword(s string) bool {
	if s == "" || !isAlpha(s[0]) && !isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

// isParamValue: 1*(%d33-60 / %d62-126), plus UTF-8 for SMTPUTF8.
func isParamValue(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '=' || c == 0x7f {
			return false
		}
	}
	return true
}
