package netrange

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseBinding(t *testing.T) {
	tests := []struct {
		in       string
		addr     string // "" = all families
		port     uint16
		specific bool
		network  string
		errHas   string
	}{
		{in: "0.0.0.0:2525", addr: "0.0.0.0", port: 2525, network: "tcp4"},
		{in: "[::]:25", addr: "::", port: 25, network: "tcp6"},
		{in: "127.0.0.1:25", addr: "127.0.0.1", port: 25, specific: true, network: "tcp4"},
		{in: "[::1]:587", addr: "::1", port: 587, specific: true, network: "tcp6"},
		{in: ":25", port: 25, network: "tcp"},
		{in: " 127.0.0.3:2526 ", addr: "127.0.0.3", port: 2526, specific: true, network: "tcp4"},
		{in: "[::ffff:127.0.0.1]:25", addr: "127.0.0.1", port: 25, specific: true, network: "tcp4"},

		{in: "", errHas: "empty"},
		{in: "127.0.0.1", errHas: "port is missing"},
		{in: "[::1]", errHas: "port is missing"},
		{in: "127.0.0.1:0", errHas: "1 to 65535"},
		{in: "127.0.0.1:65536", errHas: "1 to 65535"},
		{in: "127.0.0.1:smtp", errHas: "1 to 65535"},
		{in: "127.0.0.1:", errHas: "1 to 65535"},
		{in: "localhost:25", errHas: "not host names"},
		{in: "::1:25", errHas: "brackets"},
		{in: "[127.0.0.1]:25", errHas: "only for IPv6"},
		{in: "[::1:25", errHas: "unbalanced"},
		{in: "[fe80::1%eth0]:25", errHas: "zones"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, err := ParseBinding(tt.in)
			if tt.errHas != "" {
				if err == nil {
					t.Fatalf("ParseBinding(%q) = %+v, want error", tt.in, b)
				}
				if !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(err.Error(), "IP:port") {
					t.Errorf("error %q should contain %q and the accepted forms", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBinding(%q): %v", tt.in, err)
			}
			var want netip.Addr
			if tt.addr != "" {
				want = netip.MustParseAddr(tt.addr)
			}
			if b.Addr != want || b.Port != tt.port {
				t.Errorf("got %v port %d, want %v port %d", b.Addr, b.Port, want, tt.port)
			}
			if b.Specific() != tt.specific {
				t.Errorf("Specific() = %v, want %v", b.Specific(), tt.specific)
			}
			if b.Network() != tt.network {
				t.Errorf("Network() = %s, want %s", b.Network(), tt.network)
			}
			// The listen address must itself parse back to the same binding.
			back, err := ParseBinding(b.ListenAddress())
			if err != nil || back.Addr != b.Addr || back.Port != b.Port {
				t.Errorf("ListenAddress %q does not round-trip: %+v, %v", b.ListenAddress(), back, err)
			}
		})
	}
}

func TestBindingMatches(t *testing.T) {
	tests := []struct {
		binding, local string
		want           bool
	}{
		{"0.0.0.0:2525", "127.0.0.1:2525", true},
		{"0.0.0.0:2525", "127.0.0.1:25", false},
		{"0.0.0.0:2525", "[::ffff:127.0.0.1]:2525", true}, // IPv4 client on a dual-stack socket
		{"0.0.0.0:2525", "[::1]:2525", false},
		{"[::]:25", "[::1]:25", true},
		{"[::]:25", "127.0.0.1:25", false},
		{":25", "127.0.0.1:25", true},
		{":25", "[::1]:25", true},
		{":25", "[::1]:26", false},
		{"127.0.0.2:25", "127.0.0.2:25", true},
		{"127.0.0.2:25", "127.0.0.3:25", false},
		{"[::1]:25", "[::1]:25", true},
	}
	for _, tt := range tests {
		b, err := ParseBinding(tt.binding)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Matches(netip.MustParseAddrPort(tt.local)); got != tt.want {
			t.Errorf("%s.Matches(%s) = %v, want %v", tt.binding, tt.local, got, tt.want)
		}
	}
}

func TestSameEndpoint(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"0.0.0.0:25", "0.0.0.0:25", true},
		{"0.0.0.0:25", "0.0.0.0:2525", false},
		{"0.0.0.0:25", "[::]:25", false},
		{":25", "0.0.0.0:25", true},
		{"[::]:25", ":25", true},
		{":25", ":25", true},
		{":25", "127.0.0.1:25", false},
		{"0.0.0.0:25", "127.0.0.1:25", false},
		{"127.0.0.1:25", "127.0.0.1:25", true},
		{"[::ffff:127.0.0.1]:25", "127.0.0.1:25", true},
	}
	for _, tt := range tests {
		a, _ := ParseBinding(tt.a)
		b, _ := ParseBinding(tt.b)
		if got := a.SameEndpoint(b); got != tt.want {
			t.Errorf("%s.SameEndpoint(%s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := b.SameEndpoint(a); got != tt.want {
			t.Errorf("SameEndpoint not symmetric for %s, %s", tt.a, tt.b)
		}
	}
}

func TestListeners(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"0.0.0.0:2525", "0.0.0.0:2525"}, []string{"0.0.0.0:2525"}},
		{[]string{"127.0.0.1:25", "0.0.0.0:25"}, []string{"0.0.0.0:25"}},
		{[]string{"127.0.0.1:25", "0.0.0.0:2525"}, []string{"127.0.0.1:25", "0.0.0.0:2525"}},
		{[]string{"0.0.0.0:25", "[::]:25"}, []string{"0.0.0.0:25", "[::]:25"}},
		{[]string{"[::1]:25", "0.0.0.0:25", ":25"}, []string{":25"}},
		{[]string{"127.0.0.2:25", "127.0.0.3:25"}, []string{"127.0.0.2:25", "127.0.0.3:25"}},
		{nil, nil},
	}
	for _, tt := range tests {
		var bs []Binding
		for _, s := range tt.in {
			b, err := ParseBinding(s)
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, b)
		}
		var got []string
		for _, b := range Listeners(bs) {
			got = append(got, b.Text)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Listeners(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseBinding(f *testing.F) {
	for _, s := range []string{"0.0.0.0:2525", "[::]:25", ":25", "127.0.0.1:25", "[::1", "::1:25", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBinding(s)
		if err != nil {
			return
		}
		if b.Port == 0 {
			t.Fatalf("%q: port 0 accepted", s)
		}
		back, err := ParseBinding(b.ListenAddress())
		if err != nil || back.Addr != b.Addr || back.Port != b.Port {
			t.Fatalf("%q: ListenAddress %q does not round-trip: %v", s, b.ListenAddress(), err)
		}
	})
}
