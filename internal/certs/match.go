package certs

import (
	"crypto/x509"
	"net"
	"strings"
)

// MatchesName reports whether the host name name is in the certificate's
// subject CN or its DNS SANs (IP literals are matched against IP SANs).
// Exchange accepts the CN as well as the SANs, unlike browsers, so both count.
//
// Matching is case-insensitive and ignores a trailing dot. A certificate name
// may be a wildcard for the whole left-most label only (see MatchesPattern).
//
// name may itself be a wildcard, as in a send connector's TlsDomain
// "*.contoso.com". Such a name is satisfied by a certificate that holds the
// same wildcard, or a name exactly one label under the wildcard's domain
// ("mail.contoso.com"), because a server holding that certificate is one of
// the hosts the wildcard stands for. It is not satisfied by "contoso.com" or
// "a.b.contoso.com".
func MatchesName(c *x509.Certificate, name string) bool {
	if c == nil {
		return false
	}
	name = normaliseHost(name)
	if name == "" {
		return false
	}
	if ip := net.ParseIP(name); ip != nil {
		for _, a := range c.IPAddresses {
			if a.Equal(ip) {
				return true
			}
		}
		// Some servers carry their address as the CN; Exchange compares text.
		return net.ParseIP(c.Subject.CommonName).Equal(ip)
	}
	return HostNamesMatch(certificateHostNames(c), name)
}

// HostNamesMatch reports whether one of a certificate's host names (its CN
// and DNS SANs, as a certificate or a log line lists them) satisfies the
// host name name, by the rules of MatchesName.
func HostNamesMatch(certNames []string, name string) bool {
	name = normaliseHost(name)
	wild := strings.HasPrefix(name, "*.")
	for _, certName := range certNames {
		if wild {
			if strings.EqualFold(normaliseHost(certName), name) || MatchesPattern(name, certName) {
				return true
			}
			continue
		}
		if MatchesPattern(certName, name) {
			return true
		}
	}
	return false
}

// certificateHostNames lists the subject CN and the DNS SANs.
func certificateHostNames(c *x509.Certificate) []string {
	names := make([]string, 0, len(c.DNSNames)+1)
	if c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return append(names, c.DNSNames...)
}

// MatchesPattern reports whether host matches pattern, a host name that may
// start with "*." to stand for any single left-most label:
// "*.contoso.com" matches "mail.contoso.com" but neither "contoso.com" nor
// "a.b.contoso.com". A "*" anywhere else, or mixed into a label ("m*.x"), has
// no special meaning. Comparison is case-insensitive and ignores a trailing
// dot.
func MatchesPattern(pattern, host string) bool {
	pattern, host = normaliseHost(pattern), normaliseHost(host)
	if pattern == "" || host == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok && rest != "" {
		label, domain, found := strings.Cut(host, ".")
		return found && label != "" && strings.EqualFold(domain, rest)
	}
	return strings.EqualFold(pattern, host)
}

func normaliseHost(s string) string {
	return strings.TrimSuffix(strings.TrimSpace(s), ".")
}
