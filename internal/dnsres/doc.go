// Package dnsres owns mailflow's DNS resolution for mail routing and
// DNS-based TLS policy: MX, A/AAAA, TLSA and TXT lookups that report, per
// answer, whether the answer is DNSSEC-authentic (secure), unsigned
// (insecure) or failed validation (bogus).
//
// mailflow never validates DNSSEC itself. Like Postfix with
// smtp_dns_support_level = dnssec, it trusts the AD bit only from resolvers
// the administrator names as validating (dns.dnssec: trust_ad): a local
// unbound, for instance. With dnssec off (the default, and the system
// resolver from /etc/resolv.conf) every answer is insecure whatever its AD
// bit says, so DANE never applies. A validating resolver answers SERVFAIL
// when validation fails; that answer, with its RFC 8914 extended error
// when present, is reported as bogus.
//
// The queries are built with github.com/miekg/dns (the DO bit, the AD bit
// in the query, TCP after a truncated UDP answer) rather than the standard
// library's resolver, which exposes neither the AD bit nor extended
// errors.
package dnsres
