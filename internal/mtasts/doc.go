// Package mtasts owns outbound MTA-STS (RFC 8461): reading a domain's
// "_mta-sts" TXT record and its HTTPS policy, keeping the policies in a
// cache in the data directory, and answering whether an MX host is allowed
// by a policy.
//
// The sender asks Lookup before delivering to a domain by MX. With no
// cached policy the policy is fetched then and there (the first delivery
// waits for it, bounded by FetchTimeout); with one, the cached policy is
// used and a changed TXT id (or a policy older than RefreshAfter) starts a
// refresh in the background, so a slow or broken policy server never holds
// up mail once a policy is known. A failed fetch keeps the cached policy
// until its max_age runs out (RFC 8461 §5.1).
//
// The fetch follows RFC 8461 §3.3: HTTPS to mta-sts.<domain> with the
// certificate validated against the system roots plus the configured trust
// store, no redirects, a text/plain body of at most MaxPolicySize bytes,
// and a timeout. Host names are resolved through the Resolver the sender
// uses, so a validating resolver configured for DNS applies here too.
//
// Written here rather than taken from a library: the policy format is a
// handful of key: value lines, and the fetch must use mailflow's own trust
// store, resolver and limits and report each failure with the TLS-RPT
// result type (sts-policy-fetch-error, sts-policy-invalid,
// sts-webpki-invalid) the reporting side needs.
package mtasts
