// Package e2e holds end-to-end tests: they build the real mailflow binary,
// run it on loopback and judge it with peers nobody here wrote (Python's
// smtplib, openssl s_client, swaks, Postfix).
package e2e
