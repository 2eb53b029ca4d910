package logs

import (
	"bytes"
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
