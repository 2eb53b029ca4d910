package certs

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// WindowsName formats a DER-encoded distinguished name (for example
// x509.Certificate.RawSubject) as Windows and .NET do:
// "CN=mail.contoso.com, O=Contoso, L=Seattle, S=WA, C=US". It returns "" when
// raw is not a valid DER Name; x509.ParseCertificate already rejects such
// certificates, so that only happens for hand-made input.
//
// Go's pkix.Name.String is not usable here: it writes RFC 2253 order and
// escaping and "ST=", which never equals what Exchange administrators copy
// from Get-ExchangeCertificate.
func WindowsName(raw []byte) string {
	dn, err := ParseDERName(raw)
	if err != nil {
		return ""
	}
	return dn.String()
}

// WindowsNameFromPKIX formats a pkix.Name as Windows/.NET does. The order of
// the attributes is the one pkix.Name.ToRDNSequence produces; prefer
// WindowsName on the raw DER when it is available.
func WindowsNameFromPKIX(n pkix.Name) string {
	der, err := asn1.Marshal(n.ToRDNSequence())
	if err != nil {
		return ""
	}
	return WindowsName(der)
}

// ParseDERName decodes a DER-encoded Name into a DN in Windows order (most
// specific first). Values of string types become text; values of any other
// type are kept as hex ("#…").
func ParseDERName(raw []byte) (DN, error) {
	in := cryptobyte.String(raw)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errors.New("name is not a DER SEQUENCE")
	}
	var dn DN
	for !seq.Empty() {
		var set cryptobyte.String
		if !seq.ReadASN1(&set, cbasn1.SET) {
			return nil, errors.New("relative distinguished name is not a SET")
		}
		var rdn RDN
		for !set.Empty() {
			var atv cryptobyte.String
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) {
				return nil, errors.New("attribute is not a SEQUENCE")
			}
			var oidBytes cryptobyte.String
			if !atv.ReadASN1(&oidBytes, cbasn1.OBJECT_IDENTIFIER) {
				return nil, errors.New("attribute type is not an OBJECT IDENTIFIER")
			}
			oid, ok := decodeOID(oidBytes)
			if !ok {
				return nil, errors.New("attribute type is not a valid OBJECT IDENTIFIER")
			}
			var elem cryptobyte.String
			var tag cbasn1.Tag
			if !atv.ReadAnyASN1Element(&elem, &tag) || !atv.Empty() {
				return nil, errors.New("attribute value is not one DER element")
			}
			a := Attribute{Type: typeForOID(oid)}
			if v, ok := decodeStringValue(tag, elem); ok {
				a.Value = v
			} else {
				a.Value, a.Hex = strings.ToUpper(hex.EncodeToString(elem)), true
			}
			rdn = append(rdn, a)
		}
		if len(rdn) == 0 {
			return nil, errors.New("empty relative distinguished name")
		}
		dn = append(dn, rdn)
	}
	// DER lists the least specific RDN (C) first; Windows writes it last.
	for i, j := 0, len(dn)-1; i < j; i, j = i+1, j-1 {
		dn[i], dn[j] = dn[j], dn[i]
	}
	return dn, nil
}

// decodeOID turns the content bytes of an OBJECT IDENTIFIER into dotted
// text. Arcs must fit in 63 bits so that the same OID can be encoded again.
func decodeOID(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", false
	}
	var arcs []uint64
	var v uint64
	for i, c := range b {
		if v == 0 && c == 0x80 {
			return "", false // non-minimal encoding
		}
		if v > (1<<63-1)>>7 {
			return "", false
		}
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 == 0 {
			arcs = append(arcs, v)
			v = 0
		} else if i == len(b)-1 {
			return "", false // truncated arc
		}
	}
	var parts []string
	first := arcs[0]
	switch {
	case first < 40:
		parts = append(parts, "0", strconv.FormatUint(first, 10))
	case first < 80:
		parts = append(parts, "1", strconv.FormatUint(first-40, 10))
	default:
		parts = append(parts, "2", strconv.FormatUint(first-80, 10))
	}
	for _, a := range arcs[1:] {
		parts = append(parts, strconv.FormatUint(a, 10))
	}
	return strings.Join(parts, "."), true
}

// decodeStringValue decodes the ASN.1 string types found in names.
func decodeStringValue(tag cbasn1.Tag, elem cryptobyte.String) (string, bool) {
	var content cryptobyte.String
	var t cbasn1.Tag
	if !elem.ReadAnyASN1(&content, &t) {
		return "", false
	}
	switch tag {
	case cbasn1.UTF8String:
		if !utf8.Valid(content) {
			return "", false
		}
		return string(content), true
	case cbasn1.PrintableString, cbasn1.IA5String, 18 /* NumericString */, 26 /* VisibleString */, cbasn1.T61String:
		if utf8.Valid(content) {
			return string(content), true
		}
		return latin1(content), true
	case 30: // BMPString, UTF-16 big-endian
		if len(content)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(content)/2)
		for i := range u {
			u[i] = uint16(content[2*i])<<8 | uint16(content[2*i+1])
		}
		return string(utf16.Decode(u)), true
	case 28: // UniversalString, UTF-32 big-endian
		if len(content)%4 != 0 {
			return "", false
		}
		var b strings.Builder
		for i := 0; i < len(content); i += 4 {
			r := rune(content[i])<<24 | rune(content[i+1])<<16 | rune(content[i+2])<<8 | rune(content[i+3])
			if !utf8.ValidRune(r) {
				return "", false
			}
			b.WriteRune(r)
		}
		return b.String(), true
	}
	return "", false
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
