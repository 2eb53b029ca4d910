package netrange

import (
	"math/big"
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in          string
		first, last string
		errHas      string // non-empty: Parse must fail and the message must contain this
	}{
		{in: "192.0.2.75", first: "192.0.2.75", last: "192.0.2.75"},
		{in: " 192.0.2.75 ", first: "192.0.2.75", last: "192.0.2.75"},
		{in: "192.0.2.0/24", first: "192.0.2.0", last: "192.0.2.255"},
		{in: "10.0.0.0/8", first: "10.0.0.0", last: "10.255.255.255"},
		{in: "0.0.0.0/0", first: "0.0.0.0", last: "255.255.255.255"},
		{in: "192.0.2.1/32", first: "192.0.2.1", last: "192.0.2.1"},
		{in: "172.16.0.0/12", first: "172.16.0.0", last: "172.31.255.255"},
		{in: "0.0.0.0-255.255.255.255", first: "0.0.0.0", last: "255.255.255.255"},
		{in: "192.0.2.10 - 192.0.2.20", first: "192.0.2.10", last: "192.0.2.20"},
		{in: "192.0.2.10-192.0.2.10", first: "192.0.2.10", last: "192.0.2.10"},
		{in: "2001:db8::1", first: "2001:db8::1", last: "2001:db8::1"},
		{in: "2001:db8::/32", first: "2001:db8::", last: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
		{in: "::/0", first: "::", last: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{in: "2001:db8::/127", first: "2001:db8::", last: "2001:db8::1"},
		{in: "2001:db8::1-2001:db8::ff", first: "2001:db8::1", last: "2001:db8::ff"},
		{in: "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", first: "::", last: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		// IPv4-mapped values denote IPv4 addresses.
		{in: "::ffff:192.0.2.1", first: "192.0.2.1", last: "192.0.2.1"},
		{in: "::ffff:192.0.2.0/120", first: "192.0.2.0", last: "192.0.2.255"},
		{in: "::ffff:192.0.2.1-::ffff:192.0.2.9", first: "192.0.2.1", last: "192.0.2.9"},

		{in: "", errHas: "empty"},
		{in: "   ", errHas: "empty"},
		{in: "10.0.0.0/33", errHas: "10.0.0.0/33"},
		{in: "2001:db8::/129", errHas: "not an IP range"},
		{in: "10.0.0.5/24", errHas: "did you mean 10.0.0.0/24 or 10.0.0.5/32"},
		{in: "192.0.2.20-192.0.2.10", errHas: "greater than the last"},
		{in: "2001:db8::ff-2001:db8::1", errHas: "write 2001:db8::1-2001:db8::ff"},
		{in: "192.0.2.1-2001:db8::1", errHas: "different families"},
		{in: "192.0.2.1-", errHas: "missing address"},
		{in: "-192.0.2.1", errHas: "missing address"},
		{in: "192.0.2", errHas: "not an IP range"},
		{in: "mail.contoso.com", errHas: "not an IP range"},
		{in: "fe80::1%eth0", errHas: "zone"},
		{in: "::ffff:10.0.0.0/8", errHas: "at least /96"},
		{in: "10.0.0.0/8/8", errHas: "not an IP range"},
		{in: "10.0.0.1-10.0.0.2-10.0.0.3", errHas: "last address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := Parse(tt.in)
			if tt.errHas != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want error", tt.in, r)
				}
				if !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error %q does not contain %q", err, tt.errHas)
				}
				// Every error teaches the three accepted forms.
				if !strings.Contains(err.Error(), "CIDR") || !strings.Contains(err.Error(), "first-last") {
					t.Errorf("error %q does not list the accepted forms", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got, want := r.First, netip.MustParseAddr(tt.first); got != want {
				t.Errorf("First = %v, want %v", got, want)
			}
			if got, want := r.Last, netip.MustParseAddr(tt.last); got != want {
				t.Errorf("Last = %v, want %v", got, want)
			}
			if r.Text != strings.TrimSpace(tt.in) {
				t.Errorf("Text = %q, want %q", r.Text, strings.TrimSpace(tt.in))
			}
		})
	}
}

func TestContains(t *testing.T) {
	tests := []struct {
		rng, addr string
		want      bool
	}{
		{"192.0.2.0/24", "192.0.2.0", true},
		{"192.0.2.0/24", "192.0.2.255", true},
		{"192.0.2.0/24", "192.0.3.0", false},
		{"192.0.2.0/24", "192.0.1.255", false},
		{"192.0.2.0/24", "::ffff:192.0.2.7", true}, // dual-stack socket view of an IPv4 client
		{"::ffff:192.0.2.0/120", "192.0.2.7", true},
		{"0.0.0.0-255.255.255.255", "203.0.113.9", true},
		{"0.0.0.0-255.255.255.255", "2001:db8::1", false}, // families are separate spaces
		{"::/0", "192.0.2.1", false},
		{"::/0", "::ffff:192.0.2.1", false}, // mapped is IPv4, not IPv6
		{"::/0", "2001:db8::1", true},
		{"2001:db8::/32", "2001:db8:ffff::1", true},
		{"2001:db8::/32", "2001:db9::1", false},
		{"fe80::/10", "fe80::1%eth0", true}, // zone of the remote address is ignored
		{"127.0.0.2", "127.0.0.2", true},
		{"127.0.0.2", "127.0.0.1", false},
	}
	for _, tt := range tests {
		r := MustParse(tt.rng)
		if got := r.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("%s.Contains(%s) = %v, want %v", tt.rng, tt.addr, got, tt.want)
		}
	}
	if (Range{}).Contains(netip.MustParseAddr("192.0.2.1")) {
		t.Error("zero Range contains an address")
	}
	if MustParse("0.0.0.0/0").Contains(netip.Addr{}) {
		t.Error("range contains the zero Addr")
	}
}

func TestSpecificity(t *testing.T) {
	tests := []struct {
		a, b string
		want bool // a.MoreSpecificThan(b)
	}{
		{"192.0.2.75", "192.0.2.0/24", true},
		{"192.0.2.0/24", "0.0.0.0-255.255.255.255", true},
		{"0.0.0.0-255.255.255.255", "192.0.2.0/24", false},
		{"192.0.2.0/24", "192.0.2.0-192.0.2.255", false}, // equal size: neither wins
		{"2001:db8::1", "192.0.2.0/24", true},
		{"::/0", "0.0.0.0/0", false},
	}
	for _, tt := range tests {
		if got := MustParse(tt.a).MoreSpecificThan(MustParse(tt.b)); got != tt.want {
			t.Errorf("%s.MoreSpecificThan(%s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	sizes := map[string]*big.Int{
		"192.0.2.1":         big.NewInt(1),
		"10.0.0.0/8":        big.NewInt(1 << 24),
		"0.0.0.0/0":         big.NewInt(1 << 32),
		"10.0.0.1-10.0.0.3": big.NewInt(3),
		"::/0":              new(big.Int).Lsh(big.NewInt(1), 128),
	}
	for in, want := range sizes {
		if got := MustParse(in).Size(); got.Cmp(want) != 0 {
			t.Errorf("Size(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestContainsAndOverlaps(t *testing.T) {
	tests := []struct {
		a, b               string
		contains, overlaps bool // a.ContainsRange(b), a.Overlaps(b)
	}{
		{"10.0.0.0/8", "10.1.0.0/16", true, true},
		{"10.1.0.0/16", "10.0.0.0/8", false, true},
		{"10.0.0.0/8", "10.0.0.0-10.255.255.255", true, true},
		{"10.0.0.0-10.0.0.10", "10.0.0.5-10.0.0.20", false, true},
		{"10.0.0.0-10.0.0.10", "10.0.0.10-10.0.0.20", false, true}, // one shared address
		{"10.0.0.0-10.0.0.10", "10.0.0.11-10.0.0.20", false, false},
		{"0.0.0.0/0", "2001:db8::/32", false, false},
		{"::/0", "2001:db8::/32", true, true},
		{"2001:db8::/32", "2001:db8:1::-2001:db9::", false, true},
	}
	for _, tt := range tests {
		a, b := MustParse(tt.a), MustParse(tt.b)
		if got := a.ContainsRange(b); got != tt.contains {
			t.Errorf("%s.ContainsRange(%s) = %v, want %v", tt.a, tt.b, got, tt.contains)
		}
		if got := a.Overlaps(b); got != tt.overlaps {
			t.Errorf("%s.Overlaps(%s) = %v, want %v", tt.a, tt.b, got, tt.overlaps)
		}
		if got := b.Overlaps(a); got != tt.overlaps {
			t.Errorf("Overlaps is not symmetric for %s, %s", tt.a, tt.b)
		}
	}
	if !MustParse("10.0.0.0/8").SameAddresses(MustParse("10.0.0.0-10.255.255.255")) {
		t.Error("10.0.0.0/8 and 10.0.0.0-10.255.255.255 should hold the same addresses")
	}
	if MustParse("10.0.0.0/8").SameAddresses(MustParse("10.0.0.0/9")) {
		t.Error("10.0.0.0/8 and 10.0.0.0/9 should differ")
	}
}

func TestCanonical(t *testing.T) {
	tests := map[string]string{
		"192.0.2.1-192.0.2.1":                        "192.0.2.1",
		"0.0.0.0-255.255.255.255":                    "0.0.0.0/0",
		"10.0.0.0-10.255.255.255":                    "10.0.0.0/8",
		"10.0.0.1-10.0.0.2":                          "10.0.0.1-10.0.0.2",
		"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "::/0",
		"2001:db8::/64":                              "2001:db8::/64",
	}
	for in, want := range tests {
		if got := MustParse(in).Canonical(); got != want {
			t.Errorf("Canonical(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		ranges []string
		want   Range
		covers bool
	}{
		{[]string{"0.0.0.0-255.255.255.255"}, All4, true},
		{[]string{"0.0.0.0/0"}, All4, true},
		{[]string{"128.0.0.0/1", "0.0.0.0/1"}, All4, true},
		{[]string{"0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"}, All4, true},
		{[]string{"0.0.0.0/1", "192.0.0.0/2"}, All4, false},
		{[]string{"0.0.0.0-255.255.255.254"}, All4, false},
		{[]string{"1.0.0.0-255.255.255.255"}, All4, false},
		{[]string{"::/0"}, All4, false},
		{[]string{"::/0"}, All6, true},
		{[]string{"::/1", "8000::/1"}, All6, true},
		{nil, All4, false},
	}
	for _, tt := range tests {
		var rs []Range
		for _, s := range tt.ranges {
			rs = append(rs, MustParse(s))
		}
		if got := Covers(rs, tt.want); got != tt.covers {
			t.Errorf("Covers(%v, %s) = %v, want %v", tt.ranges, tt.want, got, tt.covers)
		}
	}
}

// FuzzParse checks invariants of every range Parse accepts: it is ordered,
// holds both ends, and its canonical form parses back to the same range.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"192.0.2.1", "10.0.0.0/8", "0.0.0.0-255.255.255.255", "::/0", "2001:db8::/32",
		"::ffff:192.0.2.0/120", "10.0.0.5/24", "192.0.2.9-192.0.2.1", "fe80::1%eth0", "-", "/", "1.2.3.4-",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !strings.Contains(err.Error(), "not an IP range") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if r.Last.Less(r.First) {
			t.Fatalf("%q: Last %v < First %v", s, r.Last, r.First)
		}
		if r.First.Is4() != r.Last.Is4() || r.First.Is4In6() || r.First.Zone() != "" {
			t.Fatalf("%q: bad ends %v %v", s, r.First, r.Last)
		}
		// An IPv6 range may run into ::ffff:0:0/96; those addresses are
		// IPv4 clients and deliberately not matched by IPv6 ranges.
		if !r.Contains(r.First) || (!r.Last.Is4In6() && !r.Contains(r.Last)) || !r.ContainsRange(r) {
			t.Fatalf("%q: does not contain its own ends", s)
		}
		back, err := Parse(r.Canonical())
		if err != nil {
			t.Fatalf("%q: canonical %q does not parse: %v", s, r.Canonical(), err)
		}
		if !back.SameAddresses(r) {
			t.Fatalf("%q: canonical %q is %v-%v, want %v-%v", s, r.Canonical(), back.First, back.Last, r.First, r.Last)
		}
	})
}
