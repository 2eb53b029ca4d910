package certs

import (
	"fmt"
	"strings"
)

// DN is a distinguished name as Windows writes it: relative distinguished
// names most specific first (CN … C), the reverse of their DER order.
//
// Exchange compares TlsCertificateName values as text written by Windows, and
// administrators paste them with varying case and spacing ("CN=a, O=b" or
// "CN=a,O=b"). Parsing both sides into a DN and comparing with Equal makes the
// comparison independent of that spelling.
type DN []RDN

// RDN is one relative distinguished name; it holds several attributes when
// the name is multi-valued ("CN=a + OU=b").
type RDN []Attribute

// Attribute is one attribute type and value of a distinguished name.
type Attribute struct {
	// Type is the Windows short name ("CN", "S", "E", …) or "OID.x.y.z" for
	// types Windows has no name for.
	Type string
	// Value is the text of the value. When Hex is true it is the upper-case
	// hex of the whole DER element (tag, length, content), written "#…".
	Value string
	Hex   bool
}

// attrType describes an attribute type Windows names.
type attrType struct {
	short   string
	oid     string
	aliases []string
}

// attrTypes lists the attribute types CertNameToStr (X500 form) writes by
// name; everything else is written "OID.x.y.z".
var attrTypes = []attrType{
	{short: "CN", oid: "2.5.4.3", aliases: []string{"COMMONNAME"}},
	{short: "SN", oid: "2.5.4.4", aliases: []string{"SURNAME"}},
	{short: "SERIALNUMBER", oid: "2.5.4.5"},
	{short: "C", oid: "2.5.4.6"},
	{short: "L", oid: "2.5.4.7"},
	{short: "S", oid: "2.5.4.8", aliases: []string{"ST"}},
	{short: "STREET", oid: "2.5.4.9"},
	{short: "O", oid: "2.5.4.10"},
	{short: "OU", oid: "2.5.4.11"},
	{short: "T", oid: "2.5.4.12", aliases: []string{"TITLE"}},
	{short: "Description", oid: "2.5.4.13"},
	{short: "PostalCode", oid: "2.5.4.17"},
	{short: "POBox", oid: "2.5.4.18"},
	{short: "Phone", oid: "2.5.4.20"},
	{short: "G", oid: "2.5.4.42", aliases: []string{"GN", "GIVENNAME"}},
	{short: "I", oid: "2.5.4.43", aliases: []string{"INITIALS"}},
	{short: "E", oid: "1.2.840.113549.1.9.1", aliases: []string{"EMAIL", "EMAILADDRESS"}},
	{short: "DC", oid: "0.9.2342.19200300.100.1.25"},
}

var (
	typeByOID  = map[string]string{} // dotted OID → short name
	oidByShort = map[string]string{} // short name → dotted OID
	typeByName = map[string]string{} // upper-case name or alias → short name
)

func init() {
	for _, t := range attrTypes {
		typeByOID[t.oid] = t.short
		oidByShort[t.short] = t.oid
		typeByName[strings.ToUpper(t.short)] = t.short
		for _, a := range t.aliases {
			typeByName[a] = t.short
		}
	}
}

// typeForOID returns the Windows name of an attribute type given as a dotted
// OID.
func typeForOID(oid string) string {
	if s, ok := typeByOID[oid]; ok {
		return s
	}
	return "OID." + oid
}

// oidForType returns the dotted OID of a canonical attribute type.
func oidForType(t string) string {
	if o, ok := oidByShort[t]; ok {
		return o
	}
	return strings.TrimPrefix(t, "OID.")
}

// String formats the name the way Windows and .NET do
// (X500DistinguishedName.Name, CertNameToStr with CERT_X500_NAME_STR and
// CERT_NAME_STR_REVERSE_FLAG).
func (d DN) String() string {
	var b strings.Builder
	for i, rdn := range d {
		if i > 0 {
			b.WriteString(", ")
		}
		for j, a := range rdn {
			if j > 0 {
				b.WriteString(" + ")
			}
			b.WriteString(a.Type)
			b.WriteByte('=')
			b.WriteString(a.formatValue())
		}
	}
	return b.String()
}

func (a Attribute) formatValue() string {
	if a.Hex {
		return "#" + a.Value
	}
	if !needsQuotes(a.Value) {
		return a.Value
	}
	return `"` + strings.ReplaceAll(a.Value, `"`, `""`) + `"`
}

// needsQuotes follows CertNameToStr: quote when the value holds a character
// that has a meaning in the name syntax, or starts or ends with white space.
func needsQuotes(v string) bool {
	if v == "" {
		return false
	}
	if strings.ContainsAny(v, ",+=\"\n<>#;") {
		return true
	}
	return isSpace(v[0]) || isSpace(v[len(v)-1])
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Equal reports whether two names are the same, ignoring the case of values
// and the order of attributes inside a multi-valued RDN.
func (d DN) Equal(o DN) bool {
	if len(d) != len(o) {
		return false
	}
	for i := range d {
		if !d[i].equal(o[i]) {
			return false
		}
	}
	return true
}

func (r RDN) equal(o RDN) bool {
	if len(r) != len(o) {
		return false
	}
	used := make([]bool, len(o))
next:
	for _, a := range r {
		for j, b := range o {
			if !used[j] && a.equal(b) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

func (a Attribute) equal(b Attribute) bool {
	return a.Type == b.Type && a.Hex == b.Hex && strings.EqualFold(a.Value, b.Value)
}

// SameName reports whether two distinguished names written as text are the
// same name (case-insensitive, spacing-insensitive). Names that do not parse
// are compared as trimmed text, case-insensitively.
func SameName(a, b string) bool {
	da, errA := ParseDN(a)
	db, errB := ParseDN(b)
	if errA != nil || errB != nil {
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return da.Equal(db)
}

// ParseDN parses a distinguished name written the Windows way
// ("CN=mail.contoso.com, O=\"Contoso, Ltd\", C=US"). It is lenient where
// people are: RDNs may be separated by "," or ";" with any spacing, attribute
// names are case-insensitive and accept common aliases (ST, EMAIL, …),
// "OID.2.5.4.3" and bare dotted OIDs are understood, and an unquoted value
// starting with "#" followed by hex digits is a raw DER value.
func ParseDN(s string) (DN, error) {
	p := dnParser{s: s}
	dn, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("distinguished name %q: %w (expected the Windows form, e.g. %q)",
			s, err, `CN=mail.contoso.com, O="Contoso, Ltd", C=US`)
	}
	return dn, nil
}

type dnParser struct {
	s   string
	pos int
}

func (p *dnParser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

func (p *dnParser) parse() (DN, error) {
	var dn DN
	p.skipSpace()
	if p.pos == len(p.s) {
		return dn, nil
	}
	for {
		rdn, err := p.parseRDN()
		if err != nil {
			return nil, err
		}
		dn = append(dn, rdn)
		p.skipSpace()
		if p.pos == len(p.s) {
			return dn, nil
		}
		if c := p.s[p.pos]; c != ',' && c != ';' {
			return nil, fmt.Errorf("unexpected %q at offset %d", c, p.pos)
		}
		p.pos++
	}
}

func (p *dnParser) parseRDN() (RDN, error) {
	var rdn RDN
	for {
		a, err := p.parseAttribute()
		if err != nil {
			return nil, err
		}
		rdn = append(rdn, a)
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == '+' {
			p.pos++
			continue
		}
		return rdn, nil
	}
}

func (p *dnParser) parseAttribute() (Attribute, error) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && isTypeChar(p.s[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		if p.pos == len(p.s) {
			return Attribute{}, fmt.Errorf("missing attribute at end")
		}
		return Attribute{}, fmt.Errorf("expected an attribute name like CN at offset %d", start)
	}
	typ, err := canonicalType(p.s[start:p.pos])
	if err != nil {
		return Attribute{}, err
	}
	p.skipSpace()
	if p.pos == len(p.s) || p.s[p.pos] != '=' {
		return Attribute{}, fmt.Errorf("expected '=' after %s at offset %d", p.s[start:p.pos], p.pos)
	}
	p.pos++
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '"' {
		v, err := p.parseQuoted()
		if err != nil {
			return Attribute{}, err
		}
		return Attribute{Type: typ, Value: v}, nil
	}
	start = p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == ',' || c == ';' || c == '+' {
			break
		}
		p.pos++
	}
	v := strings.TrimRight(p.s[start:p.pos], " \t\r\n")
	if h, ok := hexValue(v); ok {
		return Attribute{Type: typ, Value: h, Hex: true}, nil
	}
	return Attribute{Type: typ, Value: v}, nil
}

// parseQuoted reads a value in double quotes; "" inside stands for one quote.
func (p *dnParser) parseQuoted() (string, error) {
	open := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c != '"' {
			b.WriteByte(c)
			p.pos++
			continue
		}
		if p.pos+1 < len(p.s) && p.s[p.pos+1] == '"' {
			b.WriteByte('"')
			p.pos += 2
			continue
		}
		p.pos++ // closing quote
		p.skipSpace()
		if p.pos < len(p.s) {
			if c := p.s[p.pos]; c != ',' && c != ';' && c != '+' {
				return "", fmt.Errorf("unexpected %q after quoted value at offset %d", c, p.pos)
			}
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("quote opened at offset %d is not closed", open)
}

func isTypeChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-'
}

// canonicalType maps an attribute name as written to its canonical form.
func canonicalType(t string) (string, error) {
	u := strings.ToUpper(t)
	if strings.HasPrefix(u, "OID.") {
		oid, ok := normaliseOID(t[4:])
		if !ok {
			return "", fmt.Errorf("attribute type %s is not a valid OID", t)
		}
		return typeForOID(oid), nil
	}
	if t[0] >= '0' && t[0] <= '9' {
		oid, ok := normaliseOID(t)
		if !ok {
			return "", fmt.Errorf("attribute type %s is not a valid OID", t)
		}
		return typeForOID(oid), nil
	}
	if s, ok := typeByName[u]; ok {
		return s, nil
	}
	return "", fmt.Errorf("unknown attribute type %s (write it as OID.x.y.z=value)", t)
}

// normaliseOID checks a dotted OID and removes leading zeros from its arcs.
func normaliseOID(s string) (string, bool) {
	arcs := strings.Split(s, ".")
	if len(arcs) < 2 {
		return "", false
	}
	for i, a := range arcs {
		if a == "" || len(a) > 19 {
			return "", false
		}
		for j := 0; j < len(a); j++ {
			if a[j] < '0' || a[j] > '9' {
				return "", false
			}
		}
		a = strings.TrimLeft(a, "0")
		if a == "" {
			a = "0"
		}
		arcs[i] = a
	}
	if len(arcs[0]) > 1 || arcs[0][0] > '2' {
		return "", false
	}
	return strings.Join(arcs, "."), true
}

// hexValue recognises "#hex" (an even, non-zero number of hex digits) and
// returns the digits in upper case.
func hexValue(v string) (string, bool) {
	if len(v) < 3 || v[0] != '#' || (len(v)-1)%2 != 0 {
		return "", false
	}
	for i := 1; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", false
		}
	}
	return strings.ToUpper(v[1:]), true
}
