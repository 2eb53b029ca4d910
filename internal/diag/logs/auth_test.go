package logs

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAnalyzeNeverPrintsCredentials: a log written before AUTH lines were
// redacted (or by another program) may hold SASL data; the report, text
// and JSON, must not repeat it.
func TestAnalyzeNeverPrintsCredentials(t *testing.T) {
	const secret = "AHNjYW5uZXIAU2Nhbi1Uby1NYWlsLTdmM2Eh" // base64 of "\0scanner\0Scan-To-Mail-7f3a!"
	l := newTestLog("SMTP Receive Protocol Log")
	at := time.Date(2025, 5, 2, 9, 0, 0, 0, time.UTC)
	for i, x := range []struct {
		ev        byte
		data, ctx string
	}{
		{'+', "", ""},
		{'<', "EHLO scanner", ""},
		{'<', "AUTH PLAIN " + secret, ""},
		{'>', "535 5.7.8 Authentication unsuccessful", ""},
		{'<', "AUTH LOGIN", ""},
		{'>', "334 VXNlcm5hbWU6", ""},
		{'<', secret, ""},
		{'>', "501 5.5.2 Cannot decode the authentication response: it must be base64", ""},
		{'-', "", "Local"},
	} {
		l.line(at, `SERVER1\Client Frontend SERVER1`, "08D479E14521204D", i, "10.0.0.9:40000", x.ev, x.data, x.ctx)
	}
	r := analyzeString(t, Options{}, l.String())
	var out bytes.Buffer
	if err := r.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), secret) {
		t.Fatalf("logs analyze output repeats SASL data:\n%s", out.String())
	}
}

// TestAnalyzeCountsAuth: AUTH outcomes per connector, failures per
// address, a finding past ten failures; the SASL continuation (334) does
// not end the exchange.
func TestAnalyzeCountsAuth(t *testing.T) {
	l := newTestLog("SMTP Receive Protocol Log")
	at := time.Date(2025, 5, 2, 9, 0, 0, 0, time.UTC)
	session := func(id, remote string, ok bool) {
		final := "535 5.7.8 Authentication unsuccessful"
		if ok {
			final = "235 2.7.0 Authentication successful"
		}
		for i, x := range []struct {
			ev   byte
			data string
		}{{'+', ""}, {'<', "EHLO scanner"}, {'<', "AUTH LOGIN"}, {'>', "334 VXNlcm5hbWU6"}, {'<', "<authentication response>"},
			{'>', "334 UGFzc3dvcmQ6"}, {'<', "<authentication response>"}, {'>', final}, {'-', ""}} {
			l.line(at, `SERVER1\Client Frontend SERVER1`, id, i, remote+":40000", x.ev, x.data, "")
		}
	}
	for i := 0; i < 12; i++ {
		session(fmt.Sprintf("08D479E1452120%02X", i), "192.0.2.66", false)
	}
	session("08D479E145212100", "10.0.0.9", false)
	session("08D479E145212101", "10.0.0.8", true)
	r := analyzeString(t, Options{}, l.String())
	c := connectorOf(t, r, `SERVER1\Client Frontend SERVER1`)
	if c.AuthSucceeded != 1 || c.AuthFailed != 13 || len(c.AuthFailuresFrom) != 2 || c.AuthFailuresFrom[0] != (AddressCount{"192.0.2.66", 12}) {
		t.Fatalf("auth counts: ok %d failed %d from %+v", c.AuthSucceeded, c.AuthFailed, c.AuthFailuresFrom)
	}
	f := findingOf(t, r, "auth-failures")
	if f.Count != 13 || !strings.Contains(f.Detail, "192.0.2.66 12") {
		t.Fatalf("finding: %+v", f)
	}
	var out bytes.Buffer
	r.WriteText(&out)
	if !strings.Contains(out.String(), "SMTP AUTH: 1 succeeded, 13 failed (from 192.0.2.66 12, 10.0.0.9 1)") {
		t.Fatalf("text report:\n%s", out.String())
	}
}
