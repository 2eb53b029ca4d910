package certs

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

var (
	oidCN     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOU     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidO      = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidL      = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidST     = asn1.ObjectIdentifier{2, 5, 4, 8}
	oidC      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidStreet = asn1.ObjectIdentifier{2, 5, 4, 9}
	oidSerial = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidEmail  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidDC     = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidG      = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSN     = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidT      = asn1.ObjectIdentifier{2, 5, 4, 12}
)

func atv(oid asn1.ObjectIdentifier, v any) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: v}
}

func bmp(s string) asn1.RawValue {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: 30, Bytes: b}
}

// TestWindowsName builds DER names with encoding/asn1 (in DER order, least
// specific first) and checks the Windows rendering.
func TestWindowsName(t *testing.T) {
	tests := []struct {
		name string
		rdns pkix.RDNSequence
		want string
	}{
		{"reverse order", pkix.RDNSequence{{atv(oidC, "US")}, {atv(oidO, "Contoso")}, {atv(oidCN, "mail.contoso.com")}},
			"CN=mail.contoso.com, O=Contoso, C=US"},
		{"go mommy issuer", pkix.RDNSequence{
			{atv(oidC, "US")}, {atv(oidST, "Arizona")}, {atv(oidL, "Scottsdale")}, {atv(oidO, "Gomommy.com, Inc.")},
			{atv(oidOU, "http://certs.gomommy.com/repository/")}, {atv(oidCN, "Go mommy Secure Certificate Authority - G2")}},
			`CN=Go mommy Secure Certificate Authority - G2, OU=http://certs.gomommy.com/repository/, O="Gomommy.com, Inc.", L=Scottsdale, S=Arizona, C=US`},
		{"state is S", pkix.RDNSequence{{atv(oidST, "WA")}}, "S=WA"},
		{"email and street", pkix.RDNSequence{{atv(oidStreet, "1 Main St")}, {atv(oidEmail, "admin@contoso.com")}},
			"E=admin@contoso.com, STREET=1 Main St"},
		{"domain components", pkix.RDNSequence{{atv(oidDC, "com")}, {atv(oidDC, "contoso")}, {atv(oidCN, "Users")}},
			"CN=Users, DC=contoso, DC=com"},
		{"person attributes", pkix.RDNSequence{{atv(oidSerial, "42")}, {atv(oidT, "Admin")}, {atv(oidSN, "Doe")}, {atv(oidG, "Jane")}},
			"G=Jane, SN=Doe, T=Admin, SERIALNUMBER=42"},
		{"unknown OID", pkix.RDNSequence{{atv(asn1.ObjectIdentifier{1, 2, 3, 4}, "x")}}, "OID.1.2.3.4=x"},
		{"non-string value as hex", pkix.RDNSequence{{atv(asn1.ObjectIdentifier{1, 2, 3, 4}, 5)}}, "OID.1.2.3.4=#020105"},
		{"multi-valued RDN", pkix.RDNSequence{{atv(oidC, "US")}, {atv(oidCN, "aa"), atv(oidOU, "bb")}}, "CN=aa + OU=bb, C=US"},
		{"comma quoted", pkix.RDNSequence{{atv(oidO, "Contoso, Ltd")}}, `O="Contoso, Ltd"`},
		{"quote doubled", pkix.RDNSequence{{atv(oidCN, `Say "hi"`)}}, `CN="Say ""hi"""`},
		{"plus quoted", pkix.RDNSequence{{atv(oidCN, "a+b")}}, `CN="a+b"`},
		{"equals quoted", pkix.RDNSequence{{atv(oidCN, "a=b")}}, `CN="a=b"`},
		{"angle brackets quoted", pkix.RDNSequence{{atv(oidCN, "<x>")}}, `CN="<x>"`},
		{"hash quoted", pkix.RDNSequence{{atv(oidCN, "#1")}}, `CN="#1"`},
		{"semicolon quoted", pkix.RDNSequence{{atv(oidCN, "a;b")}}, `CN="a;b"`},
		{"newline quoted", pkix.RDNSequence{{atv(oidCN, "a\nb")}}, "CN=\"a\nb\""},
		{"leading space quoted", pkix.RDNSequence{{atv(oidCN, " a")}}, `CN=" a"`},
		{"trailing space quoted", pkix.RDNSequence{{atv(oidCN, "a ")}}, `CN="a "`},
		{"inner space plain", pkix.RDNSequence{{atv(oidCN, "Exchange Server")}}, `CN=Exchange Server`},
		{"BMPString decoded", pkix.RDNSequence{{atv(oidO, bmp("Fabrikam Ωmega"))}}, "O=Fabrikam Ωmega"},
		{"UTF8String decoded", pkix.RDNSequence{{atv(oidO, "Bücher GmbH")}}, "O=Bücher GmbH"},
		{"empty name", pkix.RDNSequence{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := asn1.Marshal(tt.rdns)
			if err != nil {
				t.Fatal(err)
			}
			if got := WindowsName(der); got != tt.want {
				t.Errorf("WindowsName = %q, want %q", got, tt.want)
			}
			// The rendering parses back to the same name.
			dn, err := ParseDN(tt.want)
			if err != nil {
				t.Fatalf("ParseDN(%q): %v", tt.want, err)
			}
			fromDER, err := ParseDERName(der)
			if err != nil {
				t.Fatal(err)
			}
			if !dn.Equal(fromDER) {
				t.Errorf("ParseDN(%q) = %#v, DER gives %#v", tt.want, dn, fromDER)
			}
		})
	}
}

func TestWindowsNameInvalidDER(t *testing.T) {
	for _, raw := range [][]byte{nil, {0x30}, {0x31, 0x00}, {0x30, 0x02, 0x31, 0x00}, {0x30, 0x00, 0x00}} {
		if got := WindowsName(raw); got != "" {
			t.Errorf("WindowsName(% x) = %q, want empty", raw, got)
		}
	}
}

func TestWindowsNameFromPKIX(t *testing.T) {
	n := pkix.Name{CommonName: "mail.contoso.com", Organization: []string{"Contoso, Ltd"}, Country: []string{"US"}, Province: []string{"WA"}}
	want := `CN=mail.contoso.com, O="Contoso, Ltd", S=WA, C=US` // ToRDNSequence order, reversed
	if got := WindowsNameFromPKIX(n); got != want {
		t.Errorf("WindowsNameFromPKIX = %q, want %q", got, want)
	}
}

// TestGoMommyRoundTrip: the real issuer string from the reference survives
// Windows string → DER → Windows string unchanged, and openssl reads the DER
// in the expected order.
func TestGoMommyRoundTrip(t *testing.T) {
	const s = `CN=Go mommy Secure Certificate Authority - G2, OU=http://certs.gomommy.com/repository/, O="Gomommy.com, Inc.", L=Scottsdale, S=Arizona, C=US`
	dn, err := ParseDN(s)
	if err != nil {
		t.Fatal(err)
	}
	der, err := EncodeDN(dn)
	if err != nil {
		t.Fatal(err)
	}
	if got := WindowsName(der); got != s {
		t.Errorf("round trip = %q\nwant          %q", got, s)
	}
	c := mustGenerate(t, Template{Subject: s, SANs: []string{"ca.gomommy.com"}})
	if c.Subject != s || c.Issuer != s {
		t.Errorf("generated subject %q issuer %q, want %q", c.Subject, c.Issuer, s)
	}
	if c.Leaf.Subject.Province[0] != "Arizona" || c.Leaf.Subject.Organization[0] != "Gomommy.com, Inc." {
		t.Errorf("crypto/x509 reads the subject as %+v", c.Leaf.Subject)
	}
	out := opensslX509(t, c, "-subject", "-nameopt", "RFC2253")
	want := `subject=CN=Go mommy Secure Certificate Authority - G2,OU=http://certs.gomommy.com/repository/,O=Gomommy.com\, Inc.,L=Scottsdale,ST=Arizona,C=US`
	if strings.TrimSpace(out) != want {
		t.Errorf("openssl reads %q, want %q", strings.TrimSpace(out), want)
	}
}

func TestParseDN(t *testing.T) {
	tests := []struct {
		in   string
		want DN
	}{
		{"CN=a, O=b", DN{{{Type: "CN", Value: "a"}}, {{Type: "O", Value: "b"}}}},
		{"cn=a,o=b", DN{{{Type: "CN", Value: "a"}}, {{Type: "O", Value: "b"}}}},
		{"  CN = a ;  O = b  ", DN{{{Type: "CN", Value: "a"}}, {{Type: "O", Value: "b"}}}},
		{"ST=WA, EMAIL=x@y, Title=Boss", DN{{{Type: "S", Value: "WA"}}, {{Type: "E", Value: "x@y"}}, {{Type: "T", Value: "Boss"}}}},
		{"OID.2.5.4.3=a", DN{{{Type: "CN", Value: "a"}}}},
		{"2.5.4.3=a", DN{{{Type: "CN", Value: "a"}}}},
		{"OID.1.02.3=a", DN{{{Type: "OID.1.2.3", Value: "a"}}}},
		{`O="Contoso, Ltd", C=US`, DN{{{Type: "O", Value: "Contoso, Ltd"}}, {{Type: "C", Value: "US"}}}},
		{`CN="Say ""hi"""`, DN{{{Type: "CN", Value: `Say "hi"`}}}},
		{`CN=" padded "`, DN{{{Type: "CN", Value: " padded "}}}},
		{"CN=a + OU=b, C=US", DN{{{Type: "CN", Value: "a"}, {Type: "OU", Value: "b"}}, {{Type: "C", Value: "US"}}}},
		{"OID.1.2.3=#020105", DN{{{Type: "OID.1.2.3", Value: "020105", Hex: true}}}},
		{`OID.1.2.3="#020105"`, DN{{{Type: "OID.1.2.3", Value: "#020105"}}}},
		{"CN=", DN{{{Type: "CN", Value: ""}}}},
		{"", nil},
		{"   ", nil},
	}
	for _, tt := range tests {
		got, err := ParseDN(tt.in)
		if err != nil {
			t.Errorf("ParseDN(%q): %v", tt.in, err)
			continue
		}
		if len(got) != len(tt.want) || (len(got) > 0 && !got.Equal(tt.want)) || got.String() != tt.want.String() {
			t.Errorf("ParseDN(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseDNErrors(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"CN", "expected '='"},
		{"=a", "expected an attribute name"},
		{"CN=a,", "missing attribute"},
		{"CN=a,,O=b", "expected an attribute name"},
		{`CN="a`, "not closed"},
		{`CN="a"b`, "after quoted value"},
		{"FOO=a", "unknown attribute type FOO"},
		{"OID.1=a", "not a valid OID"},
		{"OID.3.1=a", "not a valid OID"},
		{"1..2=a", "not a valid OID"},
	}
	for _, tt := range tests {
		_, err := ParseDN(tt.in)
		if err == nil {
			t.Errorf("ParseDN(%q) succeeded, want error containing %q", tt.in, tt.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "expected the Windows form") {
			t.Errorf("ParseDN(%q) error %q, want it to contain %q and an example", tt.in, err, tt.wantErr)
		}
	}
}

func TestSameName(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"CN=mail.contoso.com, O=Contoso, C=US", "cn=MAIL.contoso.com,o=contoso,c=us", true},
		{"CN=a, S=WA", "CN=a, ST=WA", true},
		{"CN=a + OU=b", "OU=b + CN=a", true},
		{`O="Contoso, Ltd"`, `O="contoso, ltd"`, true},
		{"CN=a, O=b", "O=b, CN=a", false},
		{"CN=a", "CN=a, O=b", false},
		{"CN=a", "CN=b", false},
		{"CN=a", "OU=a", false},
	}
	for _, tt := range tests {
		if got := SameName(tt.a, tt.b); got != tt.want {
			t.Errorf("SameName(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzParseDN: whatever parses formats to a string that parses to exactly
// the same name, and encodes to DER that decodes to it again.
func FuzzParseDN(f *testing.F) {
	for _, s := range []string{
		`CN=Go mommy Secure Certificate Authority - G2, OU=http://certs.gomommy.com/repository/, O="Gomommy.com, Inc.", L=Scottsdale, S=Arizona, C=US`,
		"CN=SERVER1", "cn=a;o=b", `CN="Say ""hi"""`, "CN=a + OU=b", "OID.1.2.3=#020105", `CN=" x "`, "", "CN=", "2.5.4.3=x",
		"CN=a\"b", "CN=#zz", "E=x@y, DC=com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dn, err := ParseDN(s)
		if err != nil {
			return
		}
		again, err := ParseDN(dn.String())
		if err != nil {
			t.Fatalf("ParseDN(%q) ok but its rendering %q does not parse: %v", s, dn.String(), err)
		}
		if again.String() != dn.String() || !again.Equal(dn) {
			t.Fatalf("round trip of %q: %q became %q", s, dn.String(), again.String())
		}
		der, err := EncodeDN(dn)
		if err != nil {
			return // e.g. a hex value that is not one DER element
		}
		back, err := ParseDERName(der)
		if err != nil {
			t.Fatalf("EncodeDN(%q) gives DER that does not decode: %v", dn.String(), err)
		}
		if !utf8Clean(dn) {
			return
		}
		if back.String() != dn.String() {
			t.Fatalf("DER round trip of %q gave %q", dn.String(), back.String())
		}
	})
}

// utf8Clean reports whether every text value is valid UTF-8; other bytes
// cannot travel in a UTF8String unchanged.
func utf8Clean(dn DN) bool {
	for _, r := range dn {
		for _, a := range r {
			if !a.Hex && !utf8.ValidString(a.Value) {
				return false
			}
		}
	}
	return true
}

// FuzzWindowsName: arbitrary DER never panics, and a name that decodes
// renders to text that parses back to the same name.
func FuzzWindowsName(f *testing.F) {
	seed, _ := asn1.Marshal(pkix.RDNSequence{{atv(oidC, "US")}, {atv(oidO, "Contoso, Ltd")}, {atv(oidCN, "aa"), atv(oidOU, "bb")}})
	f.Add(seed)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		dn, err := ParseDERName(raw)
		if err != nil {
			return
		}
		back, err := ParseDN(dn.String())
		if err != nil {
			t.Fatalf("rendering %q does not parse: %v", dn.String(), err)
		}
		if back.String() != dn.String() {
			t.Fatalf("%q parsed back as %q", dn.String(), back.String())
		}
	})
}
