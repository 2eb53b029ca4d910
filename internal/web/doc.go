// Package web owns mailflow's web admin center: the HTML pages served on
// the admin listener (mail flow map, connectors, certificates, queues,
// message trace, diagnostics, audit log), their login sessions, CSRF
// tokens, security headers and the audit log of every change.
//
// Pages are rendered on the server with html/template from embedded files,
// so the binary stays self-contained; one small script (progressive, the
// pages work without it) and one style sheet are served from the same
// origin, which lets the Content-Security-Policy forbid every inline script
// and style. Changes go through the same node functions as the JSON API and
// the CLI (node.SetConnector, node.ImportCertificate, queue retry/remove),
// so a form refuses a change with the same file:line: key: … Fix: … words.
//
// Authentication: the login form's secret field (named token) takes the
// admin token or the password set by mailflow admin passwd; the session
// lives in a cookie (HttpOnly, SameSite=Strict, Secure on TLS) that names
// a server-side session holding the CSRF token every POST must carry.
package web
