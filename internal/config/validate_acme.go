package config

import (
	"fmt"
	"net/url"
	"strings"
)

// ACME challenge types.
const (
	ChallengeTLSALPN = "tls-alpn-01"
	ChallengeHTTP    = "http-01"
	ChallengeDNS     = "dns-01"
)

// acme validates an ACME certificate entry and fills its defaults.
func (v *validator) acme(key string, ref *CertificateRef) {
	a := &ref.ACME
	k := join(key, "acme")
	if len(a.Domains) == 0 {
		v.add(join(k, "domains"), "an ACME certificate needs at least one domain", "add domains: [mail.contoso.com]")
	}
	for i, d := range a.Domains {
		if d == "" || strings.ContainsAny(d, " /:@") {
			v.add(fmt.Sprintf("%s.domains[%d]", k, i), fmt.Sprintf("%q is not a host name", d), "use the name senders connect to, e.g. mail.contoso.com")
		}
	}
	if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		v.add(join(k, "directory"), fmt.Sprintf("directory %q is not an https URL", a.Directory),
			"use the CA's ACME directory URL, e.g. https://acme.example/directory (its certificate must chain to the system roots or trust.ca_files)")
	}
	switch strings.ToLower(a.Challenge) {
	case "":
		a.Challenge = ChallengeTLSALPN
	case ChallengeTLSALPN, ChallengeHTTP:
		a.Challenge = strings.ToLower(a.Challenge)
	case ChallengeDNS:
		a.Challenge = ChallengeDNS
		if strings.TrimSpace(a.DNSHook) == "" {
			v.add(join(k, "dns_hook"), "dns-01 needs a hook command that publishes the TXT record",
				"set dns_hook: /usr/local/bin/acme-dns-hook (run as: HOOK present|cleanup _acme-challenge.NAME VALUE)")
		}
	default:
		v.add(join(k, "challenge"), fmt.Sprintf("unknown challenge %q", a.Challenge), "use tls-alpn-01, http-01 or dns-01 (with dns_hook)")
	}
	switch strings.ToLower(a.KeyType) {
	case "":
		a.KeyType = "ecdsa-p256"
	case "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa2048", "rsa3072":
	default:
		v.add(join(k, "key_type"), fmt.Sprintf("unknown key type %q", a.KeyType), "use ecdsa-p256, ecdsa-p384, rsa-2048 or rsa-3072")
	}
}

// acmeFileName is the default file name of an ACME certificate.
func acmeFileName(a ACME) string {
	if len(a.Domains) == 0 {
		return "acme"
	}
	return strings.NewReplacer("*", "_wildcard", "/", "_").Replace(a.Domains[0])
}

// ExpiryWarning is server.certificate_expiry_warning, 30 days by default.
func (c *Config) ExpiryWarning() Duration {
	if c.Server.CertificateExpiryWarning > 0 {
		return c.Server.CertificateExpiryWarning
	}
	return Duration(30 * 24 * 60 * 60 * 1e9)
}
