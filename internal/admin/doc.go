// Package admin owns mailflow's administration API: HTTP/JSON on loopback
// (by default 127.0.0.1:8025), every request authenticated with a bearer
// token generated into the data directory at first start (mode 0600).
// It lists and changes connectors and certificates, and lists, retries and
// removes queued messages and traces messages, all on the running server
// (no restart). The same package holds the client the CLI uses.
//
// Listening beyond loopback requires admin.allow_non_loopback and a
// certificate (the API is then served over TLS only).
package admin
