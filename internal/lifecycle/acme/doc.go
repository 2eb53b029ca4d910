// Package acme obtains and renews certificates from an ACME CA (RFC 8555)
// for certificate entries with an acme: section: it obtains the
// certificate at start-up, renews it at two thirds of its lifetime or
// inside the CA's ACME Renewal Information (ARI, RFC 9773) window, keeps
// the old certificate and retries with backoff when the CA cannot be
// reached or refuses (rate limits are reported with the CA's Retry-After),
// and hands every new certificate to an Install function: the node runs
// the renewal guard and swaps it live through its live-change path.
//
// The protocol is github.com/mholt/acmez/v3: it is maintained, small, uses
// log/slog, and implements ARI and the "replaces" order field, which
// golang.org/x/crypto/acme does not; certmagic would bring its own storage,
// scheduling and TLS listener, which mailflow already has. Challenges are
// answered by this package: tls-alpn-01 and http-01 on a short-lived
// listener (challenge_listen), dns-01 through an administrator's hook
// command (HOOK present|cleanup NAME VALUE), as mailflow does not manage DNS
// zones.
package acme
