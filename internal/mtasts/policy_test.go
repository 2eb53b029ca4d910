package mtasts

import (
	"strings"
	"testing"
	"time"
)

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		in, id, err string
	}{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z", ""},
		{"v=STSv1;id=abc", "abc", ""},
		{"v=STSv1; id=abc; ext=1", "abc", ""},
		{"v=STSv1;", "", "no id="},
		{"id=abc; v=STSv1", "", "does not start with v=STSv1"},
		{"v=STSv1; id=ab-c", "", "letters and digits"},
		{"v=STSv1; id=" + strings.Repeat("a", 33), "", "letters and digits"},
		{"v=STSv1; id=a; id=b", "", "more than one id"},
		{"v=STSv1; junk", "", "not key=value"},
	} {
		id, err := ParseRecord(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRecord(%q) = %q, %v; want error with %q", tc.in, id, err, tc.err)
			}
			continue
		}
		if err != nil || id != tc.id {
			t.Errorf("ParseRecord(%q) = %q, %v; want %q", tc.in, id, err, tc.id)
		}
	}
}

func TestPickRecord(t *testing.T) {
	if _, err := PickRecord([]string{"v=spf1 -all"}); err != ErrNoRecord {
		t.Errorf("no STS record: %v", err)
	}
	if _, err := PickRecord([]string{"v=STSv1; id=a", "v=STSv1; id=b"}); err == nil || !strings.Contains(err.Error(), "exactly one") {
		t.Errorf("two STS records: %v", err)
	}
	if id, err := PickRecord([]string{"other", "v=STSv1; id=x1"}); err != nil || id != "x1" {
		t.Errorf("one STS record among others: %q %v", id, err)
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net.\r\nmax_age: 604800\r\nfuture: ignored\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeEnforce || p.MaxAge != 7*24*time.Hour || len(p.MX) != 2 || p.MX[1] != "*.example.net" {
		t.Fatalf("policy %+v", p)
	}
	if got := p.Strings(); len(got) != 6 || got[0] != "version: STSv1" {
		t.Errorf("Strings() = %q", got)
	}
	for _, tc := range []struct{ in, err string }{
		{"mode: enforce\nmx: a\nmax_age: 1\n", "want STSv1"},
		{"version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n", "want STSv1"},
		{"version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n", "not enforce, testing or none"},
		{"version: STSv1\nmx: a\nmax_age: 1\n", "no mode"},
		{"version: STSv1\nmode: enforce\nmax_age: 1\n", "without any mx"},
		{"version: STSv1\nmode: enforce\nmx: a\n", "no max_age"},
		{"version: STSv1\nmode: enforce\nmx: a\nmax_age: 31557601\n", "from 0 to 31557600"},
		{"version: STSv1\nmode: enforce\nmx: a\nmax_age: -5\n", "from 0 to 31557600"},
		{"version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999999999999999\n", "from 0 to 31557600"},
		{"version: STSv1\nmode: enforce\nmx: mail.*.example.com\nmax_age: 1\n", "wildcard"},
		{"<html><body>Not found</body></html>", "not \"key: value\""},
		{"version: STSv1\nversion: STSv1\nmode: enforce\nmx: a\nmax_age: 1\n", "twice"},
	} {
		if _, err := ParsePolicy([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParsePolicy(%q): %v; want error with %q", tc.in, err, tc.err)
		}
	}
	if p, err := ParsePolicy([]byte("version: STSv1\nmode: none\nmax_age: 86400\n")); err != nil || p.Mode != ModeNone {
		t.Errorf("mode none without mx: %+v %v", p, err)
	}
}

func TestMatches(t *testing.T) {
	p := &Policy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com":      true,
		"MAIL.Example.COM.":     true,
		"mx1.example.net":       true,
		"example.net":           false, // the wildcard needs one label
		"a.b.example.net":       false, // and only one
		"other.example.com":     false,
		"mail.example.com.evil": false,
	} {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}
	if got := SuggestPattern("MX2.Example.com."); got != "mx: mx2.example.com" {
		t.Errorf("SuggestPattern = %q", got)
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n"))
	f.Add([]byte("version: STSv1\r\nmode: testing\r\nmx: *.example.com\r\nmax_age: 0\r\n"))
	f.Add([]byte("\x00\xff: :::\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		if p.Mode != ModeNone && len(p.MX) == 0 || p.MaxAge > MaxMaxAge || p.MaxAge < 0 {
			t.Fatalf("accepted an invalid policy: %+v", p)
		}
		for _, pat := range p.MX {
			p.Matches(strings.TrimPrefix(pat, "*."))
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1;;;id=;")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseRecord(s)
		if err == nil && !validID(id) {
			t.Fatalf("accepted id %q", id)
		}
	})
}
