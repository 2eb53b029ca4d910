// Package validate checks one connector of a mailflow configuration: a send
// connector is probed live with its own policy (smart hosts or the MX of a
// domain, its TLS level, its certificate), optionally with a test message; a
// receive connector is judged offline by predicting which certificate it
// presents to whom and whether a validating sender accepts it.
//
// It builds on internal/diag/probe (the same Runner, report shape and text)
// so a validation and a probe of the same endpoint read the same; it is a
// separate package because it needs the running configuration
// (internal/node), which the probe must not depend on.
package validate
