// Package probe connects to a live SMTP server exactly as a validating
// sending connector would and reports what it saw: the chain, the verdict
// with the status a validating cloud sender would produce, and which
// certificate to pin.
//
// It owns no TLS logic of its own: it calls internal/send's Connect stage and
// the one tlscheck.Verify, so a probe and a real delivery can never disagree.
// It probes one endpoint (Run), every MX of a domain (MX) or a list of
// targets (Many, ParseTargets), and recommends the certificate a receive
// connector should present (RecommendCertificate, shared with the lab).
// Connector validation (internal/diag/validate) builds a Runner from a
// configured connector and renders its reports with the same text writer.
//
// The diagnostics are four packages, one job each: explain (error strings),
// probe (live servers), logs (protocol and tracking logs) and validate
// (configured connectors).
package probe
