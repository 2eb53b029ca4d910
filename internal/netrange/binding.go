package netrange

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Binding is a receive connector's local endpoint, as Exchange writes it:
// "0.0.0.0:25" (every IPv4 address), "[::]:25" (every IPv6 address),
// "192.0.2.1:25" (one address). ":25" is mailflow shorthand for every
// address of both families; its Addr is the zero netip.Addr.
type Binding struct {
	Addr netip.Addr // zero = every address of both families; unspecified = every address of its family
	Port uint16
	Text string
}

const bindingForms = `write "IP:port": "0.0.0.0:2525" (all IPv4), "[::]:25" (all IPv6), "127.0.0.1:25", or ":25" (all addresses)`

// BindingForms describes the accepted binding forms, for fix texts.
func BindingForms() string { return bindingForms }

// BindingError is returned by ParseBinding; Reason says what is wrong,
// Error adds the accepted forms.
type BindingError struct {
	Input  string
	Reason string
}

func (e *BindingError) Error() string {
	return fmt.Sprintf("%q is not a binding: %s; %s", e.Input, e.Reason, bindingForms)
}

// ParseBinding reads "IP:port", "[IPv6]:port" or ":port".
func ParseBinding(s string) (Binding, error) {
	text := strings.TrimSpace(s)
	fail := func(format string, args ...any) (Binding, error) {
		return Binding{}, &BindingError{Input: s, Reason: fmt.Sprintf(format, args...)}
	}
	if text == "" {
		return fail("it is empty")
	}
	i := strings.LastIndexByte(text, ':')
	if i < 0 || strings.HasSuffix(text, "]") {
		return fail("the port is missing")
	}
	host, portText := text[:i], text[i+1:]
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return fail("the port %q is not a number from 1 to 65535", portText)
	}
	b := Binding{Port: uint16(port), Text: text}
	if host == "" {
		return b, nil
	}
	if strings.HasPrefix(host, "[") != strings.HasSuffix(host, "]") {
		return fail("unbalanced brackets around the address")
	}
	bracketed := strings.HasPrefix(host, "[")
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	a, err := netip.ParseAddr(host)
	if err != nil {
		return fail("%q is not an IP address (bindings take addresses, not host names)", host)
	}
	if a.Zone() != "" {
		return fail("zones (%%%s) are not allowed", a.Zone())
	}
	if a.Is6() && !bracketed {
		return fail("put an IPv6 address in brackets, as in [%s]:%d", host, port)
	}
	if a.Is4() && bracketed {
		return fail("brackets are only for IPv6 addresses")
	}
	b.Addr = a.Unmap()
	return b, nil
}

// String returns the binding as written, or a canonical form.
func (b Binding) String() string {
	if b.Text != "" {
		return b.Text
	}
	return b.ListenAddress()
}

// AllFamilies reports whether the binding is ":port".
func (b Binding) AllFamilies() bool { return !b.Addr.IsValid() }

// Specific reports whether the binding names one local address (not
// 0.0.0.0, [::] or ":port"). A specific binding beats a wildcard one when
// connectors are selected.
func (b Binding) Specific() bool { return b.Addr.IsValid() && !b.Addr.IsUnspecified() }

// Matches reports whether a connection accepted on local belongs to this
// binding. The local address is unmapped first, so an IPv4 client on a
// dual-stack socket matches 0.0.0.0.
func (b Binding) Matches(local netip.AddrPort) bool {
	if local.Port() != b.Port {
		return false
	}
	if !b.Addr.IsValid() {
		return true
	}
	a := local.Addr().Unmap().WithZone("")
	if b.Addr.IsUnspecified() {
		return a.IsValid() && a.Is4() == b.Addr.Is4()
	}
	return a == b.Addr
}

// SameEndpoint reports whether b and o are the same IP:port for Exchange's
// uniqueness rule: equal address and port, where ":port" counts as equal to
// both 0.0.0.0:port and [::]:port. A specific address and a wildcard on the
// same port are different endpoints (the specific one wins selection).
func (b Binding) SameEndpoint(o Binding) bool {
	if b.Port != o.Port {
		return false
	}
	switch {
	case !b.Addr.IsValid() && !o.Addr.IsValid():
		return true
	case !b.Addr.IsValid():
		return o.Addr.IsUnspecified()
	case !o.Addr.IsValid():
		return b.Addr.IsUnspecified()
	}
	return b.Addr == o.Addr
}

// covers reports whether a socket bound for b also receives o's
// connections, so that o needs no socket of its own.
func (b Binding) covers(o Binding) bool {
	if b.Port != o.Port {
		return false
	}
	switch {
	case !b.Addr.IsValid():
		return true
	case !o.Addr.IsValid():
		return false
	case b.Addr.IsUnspecified():
		return b.Addr.Is4() == o.Addr.Is4()
	}
	return b.Addr == o.Addr
}

// Network is the net.Listen network for the binding: "tcp4" for IPv4,
// "tcp6" for IPv6 (so that [::] does not also take IPv4, matching Exchange
// where 0.0.0.0 and [::] are separate bindings) and "tcp" for ":port".
func (b Binding) Network() string {
	switch {
	case !b.Addr.IsValid():
		return "tcp"
	case b.Addr.Is4():
		return "tcp4"
	}
	return "tcp6"
}

// ListenAddress is the address to pass to net.Listen with Network.
func (b Binding) ListenAddress() string {
	if !b.Addr.IsValid() {
		return ":" + strconv.Itoa(int(b.Port))
	}
	return netip.AddrPortFrom(b.Addr, b.Port).String()
}

// Listeners returns the sockets to open for a set of bindings: duplicates
// and bindings covered by a wildcard on the same port are dropped, because
// the kernel refuses 127.0.0.1:25 next to 0.0.0.0:25. Connections are then
// routed to connectors with Matches on their local address. Order of first
// appearance is kept.
func Listeners(bindings []Binding) []Binding {
	var out []Binding
	for i, b := range bindings {
		covered := false
		for j, o := range bindings {
			if i == j {
				continue
			}
			// Drop b when another binding covers it, keeping the first of
			// two bindings that cover each other (duplicates).
			if o.covers(b) && (!b.covers(o) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, b)
		}
	}
	return out
}
