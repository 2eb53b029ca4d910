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
package receive
