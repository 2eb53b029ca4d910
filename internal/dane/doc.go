// Package dane owns mailflow's inbound DANE: the TLSA records a domain
// must publish for the certificate a receive connector presents
// (`mailflow cert tlsa`), and the comparison of a certificate with the TLSA
// records published now — the check behind the certificate-renewal warning
// and the probe's DANE lines, with the rollover steps (RFC 7671 §8.1:
// publish the new record beside the old one, wait the TTL, then switch).
//
// Matching a certificate against records is tlscheck's (the one TLS
// judgement); looking the records up is dnsres's. This package only puts
// the two together for the receiving side.
package dane
