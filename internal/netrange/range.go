// Package netrange owns the address arithmetic behind receive connector
// selection: Exchange-style RemoteIPRanges (a single IP, a CIDR prefix or an
// explicit "first-last" range, IPv4 or IPv6) and connector bindings
// ("IP:port").
//
// Remote addresses are unmapped before matching, so a client that reaches an
// IPv6 dual-stack socket as ::ffff:192.0.2.1 matches IPv4 ranges, as it does
// on Exchange. IPv4 and IPv6 are separate spaces: ::/0 does not contain
// 192.0.2.1.
package netrange

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
)

// Range is an inclusive span of addresses of one family. Text keeps the value
// as written so that messages and logs show what the administrator typed.
type Range struct {
	First, Last netip.Addr
	Text        string
}

// accepted is appended to every parse error: the administrator learns the
// three forms in the same message that tells them what is wrong.
const accepted = "use a single IP (192.0.2.10), a CIDR prefix (192.0.2.0/24, 2001:db8::/32) or a first-last range (192.0.2.10-192.0.2.20)"

// ParseError is returned by Parse; Reason says what is wrong, Error adds the
// accepted forms.
type ParseError struct {
	Input  string
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%q is not an IP range: %s; %s", e.Input, e.Reason, accepted)
}

// Forms describes the accepted forms, for callers that build their own fix
// text.
func Forms() string { return accepted }

// Parse reads a range written as a single IP, a CIDR prefix or "first-last".
// IPv4-mapped IPv6 values (::ffff:192.0.2.1) are stored as IPv4 so they meet
// the IPv4 ranges they denote. A CIDR prefix with host bits set is refused
// rather than silently widened: 10.0.0.5/24 is usually a typo for /32.
func Parse(s string) (Range, error) {
	text := strings.TrimSpace(s)
	fail := func(format string, args ...any) (Range, error) {
		return Range{}, &ParseError{Input: s, Reason: fmt.Sprintf(format, args...)}
	}
	if text == "" {
		return fail("it is empty")
	}
	if first, last, ok := strings.Cut(text, "-"); ok {
		a, err := parseAddr(strings.TrimSpace(first))
		if err != nil {
			return fail("the first address: %v", err)
		}
		b, err := parseAddr(strings.TrimSpace(last))
		if err != nil {
			return fail("the last address: %v", err)
		}
		if a.Is4() != b.Is4() {
			return fail("the two ends are of different families (IPv4 and IPv6)")
		}
		if b.Less(a) {
			return fail("the first address %s is greater than the last %s (write %s-%s)", a, b, b, a)
		}
		return Range{First: a, Last: b, Text: text}, nil
	}
	if strings.Contains(text, "/") {
		p, err := netip.ParsePrefix(text)
		if err != nil {
			return fail("%s", trimNetipError(err))
		}
		addr, bits := p.Addr(), p.Bits()
		if addr.Is4In6() {
			if bits < 96 {
				return fail("an IPv4-mapped prefix needs at least /96")
			}
			p = netip.PrefixFrom(addr.Unmap(), bits-96)
		}
		if m := p.Masked(); m != p {
			return fail("host bits are set; did you mean %s or %s/%d?", m, p.Addr(), p.Addr().BitLen())
		}
		return Range{First: p.Addr(), Last: lastOf(p), Text: text}, nil
	}
	a, err := parseAddr(text)
	if err != nil {
		return fail("%v", err)
	}
	return Range{First: a, Last: a, Text: text}, nil
}

// MustParse is Parse for constants in code and tests; it panics on error.
func MustParse(s string) Range {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

// parseAddr accepts a plain IPv4 or IPv6 address without zone, unmapped.
func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("missing address")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errors.New(trimNetipError(err))
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%s has a zone (%%%s); zones are not allowed", s, a.Zone())
	}
	return a.Unmap(), nil
}

// trimNetipError drops netip's "ParseAddr(\"x\"): " prefix: the input is
// already quoted by ParseError.
func trimNetipError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "): "); i >= 0 && strings.Contains(msg[:i], "Parse") {
		return msg[i+3:]
	}
	return msg
}

// lastOf returns the highest address of a masked prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		switch {
		case bits >= 8:
			bits -= 8
		case bits > 0:
			b[i] |= byte(0xff >> bits)
			bits = 0
		default:
			b[i] = 0xff
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// All4 and All6 are the two "whole internet" ranges Exchange puts on a new
// connector.
var (
	All4 = Range{First: netip.MustParseAddr("0.0.0.0"), Last: netip.MustParseAddr("255.255.255.255"), Text: "0.0.0.0-255.255.255.255"}
	All6 = Range{First: netip.IPv6Unspecified(), Last: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Text: "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}
)

// String returns the range as written, or a canonical form when Text is
// empty (ranges built in code).
func (r Range) String() string {
	if r.Text != "" {
		return r.Text
	}
	return r.Canonical()
}

// Canonical returns the shortest standard form: an address, a CIDR prefix
// when the range is one, otherwise "first-last".
func (r Range) Canonical() string {
	if !r.First.IsValid() {
		return "invalid range"
	}
	if r.First == r.Last {
		return r.First.String()
	}
	for bits := 0; bits <= r.First.BitLen(); bits++ {
		p := netip.PrefixFrom(r.First, bits)
		if p.Masked() == p && lastOf(p) == r.Last {
			return p.String()
		}
	}
	return r.First.String() + "-" + r.Last.String()
}

// Is4 reports whether the range holds IPv4 addresses.
func (r Range) Is4() bool { return r.First.Is4() }

// Contains reports whether a is in the range. a is unmapped first, so
// ::ffff:192.0.2.1 is in 192.0.2.0/24 and, being an IPv4 client, in no IPv6
// range (not even ::/0); its zone is ignored.
func (r Range) Contains(a netip.Addr) bool {
	if !a.IsValid() || !r.First.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	if a.Is4() != r.First.Is4() {
		return false
	}
	return r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// Size is the number of addresses in the range (up to 2^128).
func (r Range) Size() *big.Int {
	if !r.First.IsValid() {
		return new(big.Int)
	}
	first := new(big.Int).SetBytes(r.First.AsSlice())
	n := new(big.Int).SetBytes(r.Last.AsSlice())
	n.Sub(n, first)
	return n.Add(n, big.NewInt(1))
}

// MoreSpecificThan reports whether r holds fewer addresses than o: the rule
// by which Exchange prefers 192.0.2.75 over 192.0.2.0/24 over the whole
// internet.
func (r Range) MoreSpecificThan(o Range) bool {
	return r.Size().Cmp(o.Size()) < 0
}

// ContainsRange reports whether every address of o is in r.
func (r Range) ContainsRange(o Range) bool {
	if !r.First.IsValid() || !o.First.IsValid() || r.Is4() != o.Is4() {
		return false
	}
	return r.First.Compare(o.First) <= 0 && o.Last.Compare(r.Last) <= 0
}

// Overlaps reports whether r and o share at least one address.
func (r Range) Overlaps(o Range) bool {
	if !r.First.IsValid() || !o.First.IsValid() || r.Is4() != o.Is4() {
		return false
	}
	return r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0
}

// SameAddresses reports whether r and o hold exactly the same addresses,
// however they were written (10.0.0.0/8 and 10.0.0.0-10.255.255.255).
func (r Range) SameAddresses(o Range) bool {
	return r.First == o.First && r.Last == o.Last
}

// Covers reports whether the union of ranges holds every address of want.
// It lets a check notice that 0.0.0.0/1 plus 128.0.0.0/1 is the whole
// IPv4 internet.
func Covers(ranges []Range, want Range) bool {
	next := want.First
	// Each pass advances next past one range that holds it, so the loop
	// runs at most len(ranges)+1 times.
	for range len(ranges) + 1 {
		advanced := false
		for _, r := range ranges {
			if !r.Contains(next) {
				continue
			}
			if r.Last.Compare(want.Last) >= 0 {
				return true
			}
			next = r.Last.Next()
			advanced = true
			break
		}
		if !advanced {
			return false
		}
	}
	return false
}
