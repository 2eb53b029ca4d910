// Package receive owns mailflow's SMTP receive side: listening on the
// connectors' bindings, choosing a receive connector per connection (local
// binding, then the most specific remote IP range), presenting the
// connector's certificate on STARTTLS, checking client certificates for
// domain-secure (mutual TLS) connectors, enforcing the connector's policy
// (RequireTLS, permissions and relay, sizes, limits) and handing each
// accepted message to a durable Submitter before answering 250.
//
// The live configuration is an immutable *Settings swapped atomically:
// a connection keeps the Settings it was accepted under until it ends, so a
// change applies to new sessions at once and never disturbs sessions in
// flight.
//
// The connector's certificate is chosen when Settings are compiled, not in
// tls.Config.GetConfigForClient: the connector is already known when the
// connection is accepted (the SMTP greeting precedes STARTTLS), so each
// connector carries a ready tls.Config and the handshake path does no
// selection work. Session tickets are disabled (Microsoft client interop,
// golang/go#70232); client certificates are judged in VerifyConnection by
// the shared tlscheck package, so resumed sessions could never bypass it.
//
// SMTP AUTH (RFC 4954, auth.go): PLAIN through github.com/emersion/go-sasl,
// LOGIN written here (go-sasl dropped its server as obsolete; devices still
// use it). With BasicAuthRequireTLS, AUTH is neither advertised nor accepted
// before STARTTLS. A success grants the ExchangeUsers rights; the user's
// SendAs list then checks MAIL FROM and From:. Failures are counted per
// address and per user by a limiter that belongs to the Service (so it
// outlives sessions and configuration swaps) and says how long to tarpit;
// the session waits through an injectable sleep, so tests run on a fake
// clock. No log line ever holds a SASL response: protolog redacts AUTH
// commands and the exchange logs response lines as placeholders.
//
// A connector of type OnPremises (tls.go, session.go) is Exchange Online's inbound connector from the tenant's own
// servers: a client certificate holding tls_sender_certificate_name relays,
// without it relay gets 550 5.7.64 TenantAttribution.
package receive
