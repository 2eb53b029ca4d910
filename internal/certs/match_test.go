package certs

import (
	"testing"
)

func TestMatchesPattern(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"mail.contoso.com", "mail.contoso.com", true},
		{"mail.contoso.com", "MAIL.Contoso.COM", true},
		{"mail.contoso.com.", "mail.contoso.com", true},
		{"mail.contoso.com", "mail.contoso.com.", true},
		{"mail.contoso.com", "smtp.contoso.com", false},
		{"*.contoso.com", "mail.contoso.com", true},
		{"*.contoso.com", "MAIL.CONTOSO.COM.", true},
		{"*.contoso.com", "contoso.com", false},
		{"*.contoso.com", "a.b.contoso.com", false},
		{"*.contoso.com", ".contoso.com", false},
		{"m*.contoso.com", "mail.contoso.com", false},
		{"mail.*.com", "mail.contoso.com", false},
		{"*", "mail", false},
		{"", "", false},
		{"mail", "", false},
	}
	for _, tt := range tests {
		if got := MatchesPattern(tt.pattern, tt.host); got != tt.want {
			t.Errorf("MatchesPattern(%q, %q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
	}
}

func TestMatchesName(t *testing.T) {
	cnOnly := mustGenerate(t, Template{Subject: "CN=mail.contoso.com, O=Contoso"})
	sanOnly := mustGenerate(t, Template{Subject: "CN=Exchange Certificate", SANs: []string{"hybrid.contoso.com", "autodiscover.contoso.com", "192.0.2.10"}})
	wild := mustGenerate(t, Template{Subject: "CN=*.contoso.com"})
	ipCN := mustGenerate(t, Template{Subject: "CN=192.0.2.25"})
	tests := []struct {
		name string
		c    *Certificate
		host string
		want bool
	}{
		{"CN", cnOnly, "mail.contoso.com", true},
		{"CN case and dot", cnOnly, "Mail.Contoso.com.", true},
		{"CN other", cnOnly, "smtp.contoso.com", false},
		{"SAN", sanOnly, "autodiscover.contoso.com", true},
		{"SAN missing", sanOnly, "mail.contoso.com", false},
		{"IP SAN", sanOnly, "192.0.2.10", true},
		{"IP not present", sanOnly, "192.0.2.11", false},
		{"IP in CN", ipCN, "192.0.2.25", true},
		{"wildcard cert", wild, "mail.contoso.com", true},
		{"wildcard cert apex", wild, "contoso.com", false},
		{"wildcard cert two labels", wild, "a.b.contoso.com", false},
		{"wildcard name vs same wildcard", wild, "*.contoso.com", true},
		{"wildcard name vs one label under", cnOnly, "*.contoso.com", true},
		{"wildcard name vs SAN one label under", sanOnly, "*.CONTOSO.com", true},
		{"wildcard name vs other domain", cnOnly, "*.fabrikam.com", false},
		{"wildcard name vs deeper", mustGenerate(t, Template{Subject: "CN=a.mail.contoso.com"}), "*.contoso.com", false},
		{"empty name", cnOnly, "", false},
	}
	for _, tt := range tests {
		if got := MatchesName(tt.c.Leaf, tt.host); got != tt.want {
			t.Errorf("%s: MatchesName(%s, %q) = %v, want %v", tt.name, tt.c.Subject, tt.host, got, tt.want)
		}
	}
	if MatchesName(nil, "x") {
		t.Error("MatchesName(nil) = true")
	}
}
