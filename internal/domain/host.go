package domain

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// SplitHostPort reads a smart host or probe target: "host", "host:port",
// an IP address (IPv6 with or without brackets), or an address literal
// "[192.0.2.1]", "[IPv6:2001:db8::1]" with an optional ":port". defaultPort
// is used when none is written. An IP address comes back in its canonical
// form; the caller connects to it without any DNS lookup. A host name must
// pass Problem. It is the one parser of that form: configuration
// validation, the sender and the probe must read a target identically.
func SplitHostPort(s string, defaultPort int) (host string, port int, err error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", 0, fmt.Errorf("empty host: give HOST or HOST:PORT")
	}
	if a, err := netip.ParseAddr(t); err == nil {
		return literal(s, a, defaultPort)
	}
	bracketed := strings.HasPrefix(t, "[")
	if bracketed && strings.HasSuffix(t, "]") {
		return bracketLiteral(s, t[1:len(t)-1], defaultPort)
	}
	if !strings.Contains(t, ":") {
		return name(s, t, defaultPort)
	}
	h, portText, err := net.SplitHostPort(t)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host or host:port", s)
	}
	port, err = strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: the port %q is not a number from 1 to 65535", s, portText)
	}
	if h == "" {
		return "", 0, fmt.Errorf("%q: no host before the port", s)
	}
	if bracketed {
		return bracketLiteral(s, h, port)
	}
	return name(s, h, port)
}

// bracketLiteral reads what stood between "[" and "]": an IP address,
// optionally with the RFC 5321 "IPv6:" tag.
func bracketLiteral(s, inner string, port int) (string, int, error) {
	a, err := netip.ParseAddr(strings.TrimPrefix(inner, "IPv6:"))
	if err != nil {
		return "", 0, fmt.Errorf("%q: brackets must hold an IP address, e.g. [192.0.2.10] or [2001:db8::25]; write a host name without brackets", s)
	}
	return literal(s, a, port)
}

func literal(s string, a netip.Addr, port int) (string, int, error) {
	if a.Zone() != "" {
		return "", 0, fmt.Errorf("%q: zones are not allowed", s)
	}
	return a.String(), port, nil
}

func name(s, host string, port int) (string, int, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return literal(s, a, port)
	}
	if p := Problem(host, false); p != "" {
		return "", 0, fmt.Errorf("%q: host %q: %s", s, host, p)
	}
	return host, port, nil
}
