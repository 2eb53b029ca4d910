// Package lifecycle owns what happens to a certificate after it exists: the
// renewal guard that checks a renewed or imported certificate the way
// senders will before a connector presents it (Guard), the on-demand check
// of every certificate connectors present (Check, behind mailflow cert
// check), expiry monitoring in the manner of Exchange's events 12017 and
// 12018 (Expiry), and completing a third-party CA's reply with the pending
// request's key (CompleteRequest). ACME issuance and renewal live in the
// sub-package acme, which uses this package's Guard before every swap.
//
// The package decides; it does not make anything live. internal/node (the
// wiring) applies certificates through its live-change path.
package lifecycle
