package config

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "onprem.yaml", Line: 23, Key: "receive_connectors[1].remote_ip_ranges[0]", Msg: `"10.0.0.0/33" is not an IP range: prefix length out of range`, Fix: "use a single IP, CIDR (10.0.0.0/8) or a-b range."},
			`onprem.yaml:23: receive_connectors[1].remote_ip_ranges[0]: "10.0.0.0/33" is not an IP range: prefix length out of range. Fix: use a single IP, CIDR (10.0.0.0/8) or a-b range.`},
		{Error{File: "a.yaml", Msg: "empty"}, "a.yaml: empty"},
		{Error{Line: 3, Key: "k", Msg: "bad?", Fix: "f"}, "line 3: k: bad? Fix: f"},
		{Error{File: "a.yaml", Line: 1, Msg: "bad.", Fix: "f"}, "a.yaml:1: bad. Fix: f"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestAsErrors(t *testing.T) {
	one := &Error{Msg: "x"}
	es := Errors{one, {Msg: "y"}}
	if got := AsErrors(fmt.Errorf("wrapped: %w", es)); len(got) != 2 {
		t.Errorf("AsErrors(wrapped Errors) = %v", got)
	}
	if got := AsErrors(fmt.Errorf("wrapped: %w", one)); len(got) != 1 || got[0] != one {
		t.Errorf("AsErrors(wrapped *Error) = %v", got)
	}
	if got := AsErrors(errors.New("plain")); got != nil {
		t.Errorf("AsErrors(plain) = %v", got)
	}
	if (Errors{}).err() != nil {
		t.Error("empty Errors must be a nil error")
	}
}

func TestNearest(t *testing.T) {
	keys := []string{"tls_certificate_name", "tls_sender_certificate_name", "remote_ip_ranges", "require_tls", "fqdn", "name"}
	tests := map[string]string{
		"tls_certifcate_name":  "tls_certificate_name", // missing letter
		"tls_certificate_nmae": "tls_certificate_name", // transposition
		"TlsCertificateName":   "tls_certificate_name", // PowerShell spelling
		"remote-ip-ranges":     "remote_ip_ranges",
		"requiretls":           "require_tls",
		"fdqn":                 "fqdn",
		"colour":               "",
		"x":                    "",
	}
	for in, want := range tests {
		if got := nearest(in, keys); got != want {
			t.Errorf("nearest(%q) = %q, want %q", in, got, want)
		}
	}
	dists := []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"abc", "acb", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3}}
	for _, tt := range dists {
		if got := editDistance(tt.a, tt.b); got != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}
