// Package server owns the running mailflow transport: it loads the
// configuration and certificates into an immutable Runtime, wires
// receive → queue → route → send/mailbox with the protocol and tracking
// logs as side outputs, and swaps the Runtime live (admin API, SIGHUP)
// without a restart. An invalid change is refused with the same error as at
// start-up and the running configuration stays.
package node
