// Package admin owns mailflow's administration API: HTTP/JSON on loopback
// (by default 127.0.0.1:8025), every request authenticated with a bearer
// token generated into the data directory at first start (mode 0600).
// It lists and changes connectors and certificates, and lists, retries and
// removes queued messages and traces messages, all on the running server
// (no restart). GET /api/v1/connectors?exchange_version=2010 predicts the
// certificates an Exchange server of that version would present with the
// same settings (PredictConnectors). The same package holds the client the
// CLI uses.
//
// Listening beyond loopback requires admin.allow_non_loopback and a
// certificate, named by admin.tls_certificate_name as "<I>issuer<S>subject"
// or as a host name it holds (the API is then served over TLS only). The
// local client (ClientFor) reaches a wildcard listen address on loopback
// and pins the exact certificate the configuration names, since it reads
// the same files as the server. Exactly one Authorization header with the
// bearer token is accepted; anything else is 401 and changes nothing.
//
// The same listener serves, beside /api/v1/: /metrics behind the same
// bearer token (Extras.Metrics), /healthz and /readyz without it, and the
// web admin center at / (Extras.UI), which lets people in with the token or
// the password mailflow admin passwd stores (argon2id, PasswordFile).
package admin
