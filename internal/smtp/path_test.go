package smtp

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseRcptTo(t *testing.T) {
	tests := []struct {
		arg    string
		local  string
		domain string
		route  bool
		utf8   bool
		params map[string]string
		code   string // enhanced code of the expected error, "" for success
	}{
		{arg: "TO:<user@contoso.com>", local: "user", domain: "contoso.com"},
		{arg: "to:<User@Contoso.COM>", local: "User", domain: "Contoso.COM"},
		{arg: "TO: <user@contoso.com>", local: "user", domain: "contoso.com"},
		{arg: "TO:<postmaster>", local: "postmaster"},
		{arg: "TO:<PostMaster>", local: "PostMaster"},
		{arg: "TO:<u@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@d.example", local: "u", domain: "d.example",
			params: map[string]string{"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;u@d.example"}},

		// relaytest forms
		{arg: "TO:<user>", code: "5.1.3"}, // unqualified
		{arg: `TO:<"user@foreign"@local.example>`, local: `"user@foreign"`, domain: "local.example"}, // quoted
		{arg: "TO:<user%foreign@local.example>", local: "user%foreign", domain: "local.example"},     // %-hack
		{arg: "TO:<user@foreign@local.example>", code: "5.1.3"},                                      // double @
		{arg: "TO:<foreign!user@local.example>", local: "foreign!user", domain: "local.example"},     // bang path
		{arg: "TO:<user@[127.0.0.1]>", local: "user", domain: "[127.0.0.1]"},                         // address literal
		{arg: "TO:<user@[IPv6:::1]>", local: "user", domain: "[IPv6:::1]"},
		{arg: "TO:<@local.example:user@foreign.example>", local: "user", domain: "foreign.example", route: true},
		{arg: "TO:<@a.example,@[10.0.0.1]:user@foreign.example>", local: "user", domain: "foreign.example", route: true},
		{arg: "TO:<user@localhost>", local: "user", domain: "localhost"},

		// quoting
		{arg: `TO:<"user"@contoso.com>`, local: "user", domain: "contoso.com"},
		{arg: `TO:<"a b"@contoso.com>`, local: `"a b"`, domain: "contoso.com"},
		{arg: `TO:<"a\"b"@contoso.com>`, local: `"a\"b"`, domain: "contoso.com"},
		{arg: `TO:<"a>b"@contoso.com>`, local: `"a>b"`, domain: "contoso.com"},
		{arg: `TO:<"unterminated@contoso.com>`, code: "5.5.4"},

		// SMTPUTF8
		{arg: "TO:<jürgen@bücher.example>", local: "jürgen", domain: "bücher.example", utf8: true},
		{arg: "TO:<j\xffrgen@example.com>", code: "5.1.3"},

		// syntax and limits
		{arg: "TO:<>", code: "5.1.3"},
		{arg: "TO:user@contoso.com", code: "5.5.4"},
		{arg: "TO:<user@contoso.com", code: "5.5.4"},
		{arg: "TO:<user@contoso.com>x", code: "5.5.4"},
		{arg: "FROM:<user@contoso.com>", code: "5.5.4"},
		{arg: "TO:<" + strings.Repeat("a", 64) + "@contoso.com>", local: strings.Repeat("a", 64), domain: "contoso.com"},
		{arg: "TO:<" + strings.Repeat("a", 65) + "@contoso.com>", code: "5.1.3"},
		{arg: "TO:<a@" + strings.Repeat("b", 64) + ".com>", code: "5.1.3"},
		{arg: "TO:<a@" + strings.Repeat(strings.Repeat("b", 60)+".", 5) + "com>", code: "5.1.3"},
		{arg: "TO:<a@b\x00c.com>", code: "5.1.3"},
		{arg: "TO:<a\x01@b.com>", code: "5.1.3"},
		{arg: "TO:<a..b@c.com>", code: "5.1.3"},
		{arg: "TO:<.a@c.com>", code: "5.1.3"},
		{arg: "TO:<a@c.com.>", code: "5.1.3"},
		{arg: "TO:<a@-c.com>", code: "5.1.3"},
		{arg: "TO:<a@c_d.com>", code: "5.1.3"},
		{arg: "TO:<a@[300.0.0.1]>", code: "5.1.3"},
		{arg: "TO:<a@[IPv6:1.2.3.4]>", code: "5.1.3"},
		{arg: "TO:<a@[tag:stuff]>", code: "5.1.3"},
		{arg: "TO:<@:user@foreign.example>", code: "5.1.3"},
		{arg: "TO:<@local.example>", code: "5.1.3"},
		{arg: "TO:<@postmaster:postmaster>", code: "5.1.3"},
		{arg: "TO:<a@b.com> BAD_KEY=1", code: "5.5.4"},
		{arg: "TO:<a@b.com> K=", code: "5.5.4"},
		{arg: "TO:<a@b.com> K=a=b", code: "5.5.4"},
		{arg: "TO:<a@b.com> K=1 k=2", code: "5.5.4"},
	}
	for _, tt := range tests {
		p, params, err := ParseRcptTo(tt.arg)
		if tt.code != "" {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Code != 501 || se.Enhanced != tt.code {
				t.Errorf("ParseRcptTo(%q) = %+v, %v; want 501 %s", tt.arg, p, err, tt.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRcptTo(%q): %v", tt.arg, err)
			continue
		}
		if p.Local != tt.local || p.Domain != tt.domain || p.SourceRoute != tt.route || p.UTF8 != tt.utf8 || p.Null {
			t.Errorf("ParseRcptTo(%q) = %+v; want local %q domain %q route %v utf8 %v", tt.arg, p, tt.local, tt.domain, tt.route, tt.utf8)
		}
		want := tt.params
		if want == nil {
			want = map[string]string{}
		}
		if !maps.Equal(params, want) {
			t.Errorf("ParseRcptTo(%q) params = %v, want %v", tt.arg, params, want)
		}
	}
}

func TestParseMailFrom(t *testing.T) {
	tests := []struct {
		arg    string
		want   string // Path.String()
		null   bool
		params map[string]string
		code   string
	}{
		{arg: "FROM:<>", null: true},
		{arg: "FROM:<> SIZE=100", null: true, params: map[string]string{"SIZE": "100"}},
		{arg: "FROM:<a@b.example> SIZE=1000 body=8BITMIME SMTPUTF8", want: "a@b.example",
			params: map[string]string{"SIZE": "1000", "BODY": "8BITMIME", "SMTPUTF8": ""}},
		{arg: "from:<a@b.example>", want: "a@b.example"},
		{arg: "FROM:<postmaster>", code: "5.1.7"},
		{arg: "FROM:<a@b@c.example>", code: "5.1.7"},
		{arg: "FROM:a@b.example", code: "5.5.4"},
		{arg: "FROM:", code: "5.5.4"},
		{arg: "TO:<a@b.example>", code: "5.5.4"},
		{arg: "FROM:<a@b.example> SIZE=1\x00", code: "5.5.4"},
		{arg: "FROM:<a@b.example> REQUIRETLS", want: "a@b.example", params: map[string]string{"REQUIRETLS": ""}},
	}
	for _, tt := range tests {
		p, params, err := ParseMailFrom(tt.arg)
		if tt.code != "" {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Enhanced != tt.code {
				t.Errorf("ParseMailFrom(%q) = %+v, %v; want %s", tt.arg, p, err, tt.code)
			}
			continue
		}
		if err != nil || p.Null != tt.null || p.String() != tt.want {
			t.Errorf("ParseMailFrom(%q) = %+v (%q), %v", tt.arg, p, p.String(), err)
			continue
		}
		want := tt.params
		if want == nil {
			want = map[string]string{}
		}
		if !maps.Equal(params, want) {
			t.Errorf("ParseMailFrom(%q) params = %v, want %v", tt.arg, params, want)
		}
	}
}

func TestPathHelpers(t *testing.T) {
	p, _, err := ParseRcptTo("TO:<u@[IPv6:2001:db8::1]>")
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := p.AddressLiteral(); !ok || a.String() != "2001:db8::1" {
		t.Errorf("AddressLiteral = %v, %v", a, ok)
	}
	if _, ok := (Path{Local: "u", Domain: "contoso.com"}).AddressLiteral(); ok {
		t.Error("a domain name is not an address literal")
	}
	pm, _, _ := ParseRcptTo("TO:<POSTMASTER>")
	if !pm.IsPostmaster() || pm.String() != "POSTMASTER" {
		t.Errorf("postmaster: %+v", pm)
	}
	raw, _, _ := ParseRcptTo(`TO:<@r.example:"x"@d.example>`)
	if raw.Raw != `@r.example:"x"@d.example` || raw.String() != "x@d.example" {
		t.Errorf("Raw %q String %q", raw.Raw, raw.String())
	}
}

// The canonical form of a path must parse again to the same path.
func TestPathRoundTrip(t *testing.T) {
	for _, arg := range []string{`"a b"@c.example`, `"a\"b"@c.example`, `"a\\b"@c.example`, `"user@foreign"@l.example`, "x.y@z.example"} {
		p, _, err := ParseRcptTo("TO:<" + arg + ">")
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		q, _, err := ParseRcptTo("TO:<" + p.String() + ">")
		if err != nil || q.Local != p.Local || q.Domain != p.Domain {
			t.Errorf("%s: round trip %q → %+v, %v", arg, p.String(), q, err)
		}
	}
}
