// Package testkit owns the fixtures that the tests of several mailflow
// packages share: a settable clock, bounded polling, loopback ports, test
// files, a logger that writes to the test log, the common head of the
// on-premises lab configuration, an SMTP client session that does
// STARTTLS and reports the certificate the server presented, and a private
// PostgreSQL server (initdb and pg_ctl as the postgres user, on a free
// loopback port) for the shared queue's tests.
//
// It is imported only from _test.go files. It depends on no mailflow
// package but internal/smtp and internal/certs (neither imports the log,
// server or admin packages), so that the in-package tests of low-level
// packages such as internal/logfile can use it without an import cycle.
// Fixtures that need the server, admin or lab packages (starting a server,
// creating the lab PKI) stay with the tests that use them.
package testkit
