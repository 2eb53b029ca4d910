// Package domaintest holds the one table of domain-matching cases that
// every place deciding "does this pattern cover this domain" is tested
// with: the domain package itself, configuration accessors, routing and
// the receive accepted-domain check. A place that answers differently
// from the table fails its test.
package domaintest

// Case is one pattern, one domain and whether the pattern covers it.
type Case struct {
	Pattern, Domain string
	Want            bool
}

// Cases is the shared table. "*.contoso.com" covers contoso.com itself and
// every subdomain (Exchange SmtpDomainWithSubdomains, see package domain).
var Cases = []Case{
	{"contoso.com", "contoso.com", true},
	{"contoso.com", "CONTOSO.com.", true},
	{"Contoso.COM", "contoso.com", true},
	{"contoso.com", "mail.contoso.com", false},
	{"contoso.com", "notcontoso.com", false},
	{"*.contoso.com", "mail.contoso.com", true},
	{"*.contoso.com", "a.b.contoso.com", true},
	{"*.contoso.com", "MAIL.Contoso.com.", true},
	{"*.contoso.com", "contoso.com", true},
	{"*.contoso.com", "notcontoso.com", false},
	{"*.contoso.com", "contoso.com.evil.example", false},
	{"*.contoso.com", "fabrikam.com", false},
	{"*.eu.contoso.com", "paris.eu.contoso.com", true},
	{"*.eu.contoso.com", "contoso.com", false},
	{"*", "anything.example", true},
	{"*", "contoso.com", true},
}
