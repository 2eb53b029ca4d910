// Package lab owns `mailflow lab`: the two field reports' failures and
// fixes reproduced end to end on loopback — a lab PKI, a "tenant" and an
// "on-premises" mailflow, the failing delivery, the evidence in the logs,
// the diagnosis and the live fix — built only from mailflow's public
// pieces (config, server, admin API, diag), nothing private.
package lab
