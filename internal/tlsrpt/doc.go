// Package tlsrpt owns outbound SMTP TLS reporting (RFC 8460): it counts the
// outcome of every policy-governed session per policy domain and UTC day
// (successes, and failures by result type, sending and receiving address
// and MX host), keeps the counts in the data directory so a restart loses
// nothing, and once a day turns each finished day into the RFC 8460 JSON
// report, gzipped, sent to the rua addresses the domain publishes at
// _smtp._tls.<domain>: mailto: as a multipart/report message submitted to
// mailflow's own queue (so it is delivered, retried and tracked like any
// other mail), https: as a POST.
//
// Written here rather than taken from a library: the report is a small JSON
// document and the delivery must go through mailflow's own queue and trust
// store; no well-kept Go library does either.
package tlsrpt
