package certs

import (
	"strings"
	"testing"
	"time"
)

func TestFormatParseNameRoundTrip(t *testing.T) {
	tests := []struct{ issuer, subject string }{
		{"CN=GeoTrust TLS DV RSA Mixed SHA256 2020 CA-1, O=DigiCert Inc, C=US", "CN=mail.contoso.ca"},
		{`CN=Go mommy Secure Certificate Authority - G2, OU=http://certs.gomommy.com/repository/, O="Gomommy.com, Inc.", L=Scottsdale, S=Arizona, C=US`, "CN=mail.contoso.com"},
		{"CN=SERVER1", "CN=SERVER1"},
		{`CN="odd<S>issuer"`, `CN="<I>odd"`},
	}
	for _, tt := range tests {
		s := FormatName(tt.issuer, tt.subject)
		is, sj, err := ParseName(s)
		if err != nil {
			t.Errorf("ParseName(%q): %v", s, err)
			continue
		}
		if is != tt.issuer || sj != tt.subject {
			t.Errorf("ParseName(%q) = %q, %q; want %q, %q", s, is, sj, tt.issuer, tt.subject)
		}
	}
}

func TestParseNameLenient(t *testing.T) {
	tests := []struct{ in, issuer, subject string }{
		{"<i>CN=CA<s>CN=mail", "CN=CA", "CN=mail"},
		{"  <I> CN=CA, O=X  <S>  CN=mail  ", "CN=CA, O=X", "CN=mail"},
		{"<I>CN=CA<s>CN=mail", "CN=CA", "CN=mail"},
	}
	for _, tt := range tests {
		is, sj, err := ParseName(tt.in)
		if err != nil || is != tt.issuer || sj != tt.subject {
			t.Errorf("ParseName(%q) = %q, %q, %v; want %q, %q", tt.in, is, sj, err, tt.issuer, tt.subject)
		}
	}
}

func TestParseNameErrors(t *testing.T) {
	tests := []struct{ in, why string }{
		{"", "does not start with <I>"},
		{"CN=mail.contoso.com", "does not start with <I>"},
		{"<S>CN=a<I>CN=b", "does not start with <I>"},
		{"<I>CN=a", "no <S> marker"},
		{`<I>CN="a<S>b`, "no <S> marker"},
		{"<I><S>CN=a", "issuer is empty"},
		{"<I>CN=a<S>", "subject is empty"},
		{"<I>FOO=a<S>CN=b", "issuer is not a distinguished name"},
		{"<I>CN=a<S>CN", "subject is not a distinguished name"},
	}
	for _, tt := range tests {
		_, _, err := ParseName(tt.in)
		if err == nil {
			t.Errorf("ParseName(%q) succeeded, want error %q", tt.in, tt.why)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.why) || !strings.Contains(msg, "<I>issuer<S>subject") || !strings.Contains(msg, nameExample) {
			t.Errorf("ParseName(%q) error %q: want %q, the expected format and an example", tt.in, msg, tt.why)
		}
	}
}

func TestCertificateHasName(t *testing.T) {
	ca := mustGenerate(t, Template{Subject: "CN=Contoso CA, O=Contoso, C=US", IsCA: true})
	leaf := mustGenerate(t, Template{Subject: "CN=mail.contoso.com, O=Contoso", Issuer: ca})
	if want := "<I>CN=Contoso CA, O=Contoso, C=US<S>CN=mail.contoso.com, O=Contoso"; leaf.Name() != want {
		t.Fatalf("Name() = %q, want %q", leaf.Name(), want)
	}
	for _, name := range []string{
		leaf.Name(),
		"<i>cn=contoso ca,o=contoso,c=us<s>cn=MAIL.contoso.com,o=contoso",
		"<I>CN=Contoso CA; O=Contoso; C=US <S> CN=mail.contoso.com; O=Contoso",
	} {
		if !leaf.HasName(name) {
			t.Errorf("HasName(%q) = false, want true", name)
		}
	}
	for _, name := range []string{
		"<I>CN=Contoso CA, O=Contoso<S>CN=mail.contoso.com, O=Contoso",
		"<I>CN=Contoso CA, O=Contoso, C=US<S>CN=mail.contoso.com",
		"<I>CN=mail.contoso.com, O=Contoso<S>CN=Contoso CA, O=Contoso, C=US",
		"CN=mail.contoso.com",
	} {
		if leaf.HasName(name) {
			t.Errorf("HasName(%q) = true, want false", name)
		}
	}
}

// FuzzParseName: accepted values round-trip through FormatName, and nothing
// panics.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"<I>CN=GeoTrust TLS DV RSA Mixed SHA256 2020 CA-1, O=DigiCert Inc, C=US<S>CN=mail.contoso.ca",
		`<i>CN=x, O="a<s>b"<s>CN=y`, "<I><S>", "<I>CN=a<S>CN=b<S>CN=c", "", "<I>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		is, sj, err := ParseName(s)
		if err != nil {
			return
		}
		is2, sj2, err := ParseName(FormatName(is, sj))
		if err != nil {
			t.Fatalf("FormatName(%q, %q) does not parse: %v", is, sj, err)
		}
		if !SameName(is, is2) || !SameName(sj, sj2) {
			t.Fatalf("round trip of %q: (%q, %q) became (%q, %q)", s, is, sj, is2, sj2)
		}
	})
}

// NameProblem is the check configuration validation runs on a pin.
func TestNameProblem(t *testing.T) {
	tests := map[string]bool{
		"<I>CN=Contoso Lab CA<S>CN=mail.contoso.com":                  true,
		"<i>CN=CA, O=x<s>CN=a":                                        true,
		`<I>CN=Go mommy, O="Gomommy.com, Inc."<S>CN=mail.contoso.com`: true,
		"CN=a":            false,
		"<S>CN=a<I>CN=b":  false,
		"<I><S>CN=a":      false,
		"<I>CN=a<S>":      false,
		"x<I>CN=a<S>CN=b": false,
	}
	for in, ok := range tests {
		if p := NameProblem(in); (p == "") != ok {
			t.Errorf("NameProblem(%q) = %q, want ok=%v", in, p, ok)
		}
	}
}

func TestIsCertificateNameAndNameOrHost(t *testing.T) {
	for v, pinned := range map[string]bool{"<I>CN=CA<S>CN=a": true, "<s>CN=a": true, "mail.contoso.com": false, "*.contoso.com": false} {
		if IsCertificateName(v) != pinned {
			t.Errorf("IsCertificateName(%q) = %v", v, !pinned)
		}
		r := NameOrHost(v, "admin API", time.Time{})
		if (r.CertificateName == v) != pinned || (r.ConnectorFQDN == v) == pinned || r.Connector != "admin API" {
			t.Errorf("NameOrHost(%q) = %+v", v, r)
		}
	}
}
