package certs

import (
	"fmt"
	"strings"
	"time"
)

// nameExample is shown in every error about a TlsCertificateName value.
const nameExample = "<I>CN=Contoso CA, O=Contoso, C=US<S>CN=mail.contoso.com"

// FormatName builds the Exchange TlsCertificateName value
// "<I>issuer<S>subject", as "<I>$($cert.Issuer)<S>$($cert.Subject)" does in
// PowerShell.
func FormatName(issuer, subject string) string {
	return "<I>" + issuer + "<S>" + subject
}

// ParseName splits "<I>issuer<S>subject". The markers are matched
// case-insensitively ("<i>"/"<s>" are seen in the field), white space around
// the markers and the names is ignored, and an "<S>" inside a quoted value of
// the issuer does not end it. Both names must be valid distinguished names;
// they are returned trimmed but otherwise as written (compare them with
// SameName or DN.Equal, never with ==).
func ParseName(s string) (issuer, subject string, err error) {
	issuer, subject, why := splitName(s)
	if why != "" {
		return "", "", fmt.Errorf("certificate name %q: %s; expected \"<I>issuer<S>subject\", e.g. %q", s, why, nameExample)
	}
	return issuer, subject, nil
}

// NameProblem says what is wrong with a TlsCertificateName value, or ""
// when ParseName accepts it: the check configuration validation runs.
func NameProblem(s string) string {
	_, _, why := splitName(s)
	return why
}

// IsCertificateName reports whether s is written as a TlsCertificateName
// (either marker, any case) rather than a host name: values that may be
// either, such as admin.tls_certificate_name, are told apart by it.
func IsCertificateName(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "<i>") || strings.Contains(l, "<s>")
}

// NameOrHost is the selection request for a value that is either a
// TlsCertificateName or a host name the certificate must hold.
func NameOrHost(v, connector string, now time.Time) Request {
	r := Request{Connector: connector, Now: now}
	if IsCertificateName(v) {
		r.CertificateName = v
	} else {
		r.ConnectorFQDN = v
	}
	return r
}

// splitName is ParseName's work; why is "" when s is well formed.
func splitName(s string) (issuer, subject, why string) {
	fail := func(w string) (string, string, string) { return "", "", w }
	rest := strings.TrimLeft(s, " \t\r\n")
	if len(rest) < 3 || !strings.EqualFold(rest[:3], "<I>") {
		return fail("it does not start with <I>")
	}
	rest = rest[3:]
	split := -1
	inQuotes := false
	for i := 0; i < len(rest); i++ {
		switch {
		case rest[i] == '"':
			inQuotes = !inQuotes // a doubled quote toggles twice
		case !inQuotes && i+3 <= len(rest) && strings.EqualFold(rest[i:i+3], "<S>"):
			split = i
		}
		if split >= 0 {
			break
		}
	}
	if split < 0 {
		return fail("there is no <S> marker before the subject")
	}
	issuer = strings.TrimSpace(rest[:split])
	subject = strings.TrimSpace(rest[split+3:])
	if issuer == "" {
		return fail("the issuer is empty")
	}
	if subject == "" {
		return fail("the subject is empty")
	}
	if _, err := ParseDN(issuer); err != nil {
		return fail("the issuer is not a distinguished name: " + err.Error())
	}
	if _, err := ParseDN(subject); err != nil {
		return fail("the subject is not a distinguished name: " + err.Error())
	}
	return issuer, subject, ""
}

// nameMatcher compares certificates with a parsed TlsCertificateName.
type nameMatcher struct {
	issuer, subject DN
}

func newNameMatcher(name string) (nameMatcher, error) {
	is, ss, err := ParseName(name)
	if err != nil {
		return nameMatcher{}, err
	}
	// ParseName has already checked that both parse.
	i, _ := ParseDN(is)
	sj, _ := ParseDN(ss)
	return nameMatcher{issuer: i, subject: sj}, nil
}

func (m nameMatcher) matches(c *Certificate) bool {
	if c == nil || c.Leaf == nil {
		return false
	}
	is, err := ParseDERName(c.Leaf.RawIssuer)
	if err != nil {
		return false
	}
	sj, err := ParseDERName(c.Leaf.RawSubject)
	if err != nil {
		return false
	}
	return is.Equal(m.issuer) && sj.Equal(m.subject)
}

// HasName reports whether the certificate's issuer and subject are those of
// the TlsCertificateName value name ("<I>…<S>…"); false when name does not
// parse.
func (c *Certificate) HasName(name string) bool {
	m, err := newNameMatcher(name)
	return err == nil && m.matches(c)
}
