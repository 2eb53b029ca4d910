package protolog

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// CertEvent is a certificate Exchange (or mailflow) logged in a session:
// the one it sent, or the one the peer presented. Its strings are its own.
type CertEvent struct {
	DateTime    string // of the line that announced the certificate
	ConnectorID string
	SessionID   string
	Local       string
	Remote      string
	Event       string // "Sending certificate", "Remote certificate", "Received certificate"
	Subject     string // Windows form, most specific first: "CN=mail.contoso.com, O=Contoso, C=US"
	Issuer      string
	Serial      string
	Thumbprint  string
	NotBefore   time.Time // zero when the line form does not carry it
	NotAfter    time.Time
	SANs        []string
	OneLine     bool // parsed from the Exchange 2019 one-line form
}

// Contexts of the older per-field certificate lines.
const (
	ctxSubject    = "Certificate subject"
	ctxIssuer     = "Certificate issuer name"
	ctxSerial     = "Certificate serial number"
	ctxThumbprint = "Certificate thumbprint"
	ctxSANs       = "Certificate alternate names"
)

// oneLineMarker starts the field list in the context of the one-line form:
// "Sending certificate Subject Issuer name Serial number Thumbprint Not
// before Not after Subject alternate names".
const oneLineMarker = " Subject Issuer name"

// ParseCertificateLine parses the Exchange 2019 one-line certificate record:
//
//	*, <subject> <issuer> <serial> <thumbprint> <NotBefore> <NotAfter> <SAN;SAN>,Sending certificate Subject Issuer name …
//
// The values are joined by single spaces although subjects and issuers are
// Windows DN strings that contain spaces themselves, so the line is taken
// apart from its unambiguous pieces: the thumbprint is the 40-hex token
// (SHA-1) with a hex serial before it; after it come the two dates (ISO in
// the builds seen; US and dotted European date-times with spaces are also
// accepted) and, last, the ';'-separated SANs (absent when the token is a
// date). The text before the serial is split into subject and issuer at the
// first space that is not inside quotes, not part of a DN's ", " separator
// and followed by an attribute such as "CN=" (an issuer normally starts with
// CN=, so that boundary is preferred). When no token is 40-hex (anonymised
// logs), the token before the first date is taken as the thumbprint.
//
// It reports false for any other record.
func ParseCertificateLine(rec *Record) (CertEvent, bool) {
	if rec.Event != '*' {
		return CertEvent{}, false
	}
	i := strings.Index(rec.Context, oneLineMarker)
	if i <= 0 {
		return CertEvent{}, false
	}
	ev, ok := parseOneLine(rec.Data)
	if !ok {
		return CertEvent{}, false
	}
	ev.Event = strings.Clone(rec.Context[:i])
	ev.OneLine = true
	setOrigin(&ev, rec)
	return ev, true
}

func setOrigin(ev *CertEvent, rec *Record) {
	ev.DateTime = strings.Clone(rec.DateTime)
	ev.ConnectorID = strings.Clone(rec.ConnectorID)
	ev.SessionID = strings.Clone(rec.SessionID)
	ev.Local = strings.Clone(rec.Local)
	ev.Remote = strings.Clone(rec.Remote)
}

type token struct {
	s     string
	start int
}

// tokens splits s on runs of white space (as strings.Fields does: a tab
// or form feed in a hand-edited log separates tokens too), remembering
// where each token starts.
func tokens(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += n
		}
		if i == len(s) {
			break
		}
		j := i
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if unicode.IsSpace(r) {
				break
			}
			j += n
		}
		out = append(out, token{s[i:j], i})
		i = j
	}
	return out
}

func parseOneLine(data string) (CertEvent, bool) {
	toks := tokens(data)
	thumb := findThumbprint(toks)
	if thumb < 2 {
		return CertEvent{}, false
	}
	var ev CertEvent
	ev.Thumbprint = strings.Clone(toks[thumb].s)
	ev.Serial = strings.Clone(toks[thumb-1].s)
	names := strings.TrimSpace(data[:toks[thumb-1].start])
	subject, issuer := splitSubjectIssuer(names)
	ev.Subject, ev.Issuer = strings.Clone(subject), strings.Clone(issuer)

	rest := toks[thumb+1:]
	if n := len(rest); n > 0 && !dateLike(rest[n-1].s) {
		ev.SANs = splitSANs(rest[n-1].s)
		rest = rest[:n-1]
	}
	if n := len(rest); n >= 2 && n%2 == 0 {
		ev.NotBefore = parseCertDate(joinTokens(data, rest[:n/2]))
		ev.NotAfter = parseCertDate(joinTokens(data, rest[n/2:]))
	}
	return ev, true
}

// findThumbprint returns the index of the thumbprint token, or -1. It needs
// a hex serial before it and at least one name token before that.
func findThumbprint(toks []token) int {
	best := -1
	for i := len(toks) - 1; i >= 2; i-- {
		if len(toks[i].s) != 40 || !isHex(toks[i].s) || !isHex(toks[i-1].s) {
			continue
		}
		if i+1 < len(toks) && dateLike(toks[i+1].s) {
			return i
		}
		if best < 0 {
			best = i
		}
	}
	if best >= 0 {
		return best
	}
	for i := 3; i < len(toks); i++ {
		if dateLike(toks[i].s) {
			return i - 1
		}
	}
	return -1
}

func joinTokens(data string, toks []token) string {
	last := toks[len(toks)-1]
	return data[toks[0].start : last.start+len(last.s)]
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// dateLike reports whether a token is (part of) a date-time as .NET prints
// one: an ISO timestamp, d/m/y or d.m.yyyy, h:mm:ss, or AM/PM.
func dateLike(s string) bool {
	if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return true
	}
	if s == "AM" || s == "PM" {
		return true
	}
	for _, sep := range []string{"/", ":", "."} {
		parts := strings.Split(s, sep)
		if len(parts) != 3 {
			continue
		}
		digits := true
		for _, p := range parts {
			if p == "" || len(p) > 4 || !allDigits(p) {
				digits = false
			}
		}
		if digits && (sep != "." || len(parts[2]) == 4) {
			return true
		}
	}
	return false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

var certDateLayouts = []string{
	time.RFC3339Nano,
	"1/2/2006 3:04:05 PM",
	"1/2/2006 15:04:05",
	"2.1.2006 15:04:05",
	"2006-01-02 15:04:05",
}

// parseCertDate parses a certificate date; zero when no layout fits.
func parseCertDate(s string) time.Time {
	for _, layout := range certDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func splitSANs(s string) []string {
	var out []string
	for _, san := range strings.Split(s, ";") {
		if san = strings.TrimSpace(san); san != "" {
			out = append(out, strings.Clone(san))
		}
	}
	return out
}

// dnAttributes are the attribute names CertNameToStr and X500DistinguishedName
// print; a space followed by one of them and '=' may start the issuer.
var dnAttributes = map[string]bool{
	"CN": true, "OU": true, "O": true, "L": true, "S": true, "ST": true, "C": true,
	"E": true, "EMAIL": true, "DC": true, "SERIALNUMBER": true, "STREET": true,
	"T": true, "G": true, "SN": true, "I": true, "POSTALCODE": true, "PHONE": true,
	"UID": true, "DESCRIPTION": true,
}

// splitSubjectIssuer splits "<subject> <issuer>" (both Windows DN strings)
// at the most plausible boundary; with none, everything is the subject.
func splitSubjectIssuer(s string) (subject, issuer string) {
	first, firstCN := -1, -1
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			inQuote = !inQuote
		case c == ' ' && !inQuote && i > 0 && s[i-1] != ',' && s[i-1] != ' ':
			key, ok := attributeAt(s[i+1:])
			if !ok {
				continue
			}
			if first < 0 {
				first = i
			}
			if key == "CN" && firstCN < 0 {
				firstCN = i
			}
		}
	}
	cut := firstCN
	if cut < 0 {
		cut = first
	}
	if cut < 0 {
		return s, ""
	}
	return s[:cut], strings.TrimLeft(s[cut:], " ")
}

// attributeAt reports the DN attribute name s starts with ("CN" for
// "CN=…"), accepting known names and OIDs ("OID.2.5.4.97=", "2.5.4.97=").
func attributeAt(s string) (string, bool) {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 || eq > 40 {
		return "", false
	}
	key := strings.ToUpper(s[:eq])
	if dnAttributes[key] {
		return key, true
	}
	oid := strings.TrimPrefix(key, "OID.")
	if oid != "" && strings.Trim(oid, "0123456789.") == "" && strings.Contains(oid, ".") {
		return key, true
	}
	return "", false
}

// SessionCerts assembles the older per-field certificate lines into
// CertEvents, keyed by connector and session id (sessions interleave in a
// file). Feed it every record in file order; it also passes one-line records
// through ParseCertificateLine, so a caller handles both forms the same way.
//
// A block starts with "*,,Sending certificate" (or Remote/Received) and ends
// at "Certificate alternate names" (Exchange's last field) or at the
// session's next line of any other kind; "Received certificate" blocks carry
// only a thumbprint and end that way. Flush returns blocks still open at the
// end of input.
type SessionCerts struct {
	open map[sessionKey]*CertEvent
}

type sessionKey struct{ connector, session string }

// NewSessionCerts returns an empty accumulator.
func NewSessionCerts() *SessionCerts {
	return &SessionCerts{open: make(map[sessionKey]*CertEvent)}
}

// Add feeds one record and appends any certificate it completes to dst.
func (s *SessionCerts) Add(dst []CertEvent, rec *Record) []CertEvent {
	key := sessionKey{rec.ConnectorID, rec.SessionID}
	if ev, ok := ParseCertificateLine(rec); ok {
		dst = s.close(dst, key)
		return append(dst, ev)
	}
	if rec.Event == '*' && rec.Data == "" && isCertEvent(rec.Context) {
		dst = s.close(dst, key)
		ev := &CertEvent{Event: strings.Clone(rec.Context)}
		setOrigin(ev, rec)
		s.open[sessionKey{ev.ConnectorID, ev.SessionID}] = ev
		return dst
	}
	ev, ok := s.open[key]
	if !ok {
		return dst
	}
	if rec.Event != '*' {
		return s.close(dst, key)
	}
	switch rec.Context {
	case ctxSubject:
		ev.Subject = strings.Clone(rec.Data)
	case ctxIssuer:
		ev.Issuer = strings.Clone(rec.Data)
	case ctxSerial:
		ev.Serial = strings.Clone(rec.Data)
	case ctxThumbprint:
		ev.Thumbprint = strings.Clone(rec.Data)
	case ctxSANs:
		ev.SANs = splitSANs(rec.Data)
		return s.close(dst, key)
	default:
		return s.close(dst, key)
	}
	return dst
}

// Flush appends the certificates still open (input ended mid-block) to dst,
// ordered by time then session, and empties the accumulator.
func (s *SessionCerts) Flush(dst []CertEvent) []CertEvent {
	start := len(dst)
	for key, ev := range s.open {
		dst = append(dst, *ev)
		delete(s.open, key)
	}
	slices.SortFunc(dst[start:], func(a, b CertEvent) int {
		if c := strings.Compare(a.DateTime, b.DateTime); c != 0 {
			return c
		}
		return strings.Compare(a.SessionID, b.SessionID)
	})
	return dst
}

func (s *SessionCerts) close(dst []CertEvent, key sessionKey) []CertEvent {
	if ev, ok := s.open[key]; ok {
		dst = append(dst, *ev)
		delete(s.open, key)
	}
	return dst
}

// isCertEvent reports whether an empty-data '*' line's context announces a
// certificate block: "Sending certificate", "Remote certificate",
// "Received certificate" (and any other "<word> certificate").
func isCertEvent(context string) bool {
	word, ok := strings.CutSuffix(context, " certificate")
	return ok && word != "" && !strings.ContainsAny(word, " ,") && !strings.EqualFold(word, "Certificate")
}
