package smtp

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactAuth(t *testing.T) {
	for in, want := range map[string]string{
		"AUTH PLAIN AHVzZXIAcGFzcw==":     "AUTH PLAIN",
		"auth login dXNlcg==":             "auth login",
		"AUTH LOGIN":                      "AUTH LOGIN",
		"AUTH\tPLAIN AHVzZXIAcGFzcw==":    "AUTH PLAIN",
		"AUTH  PLAIN AHVzZXIAcGFzcw==":    "AUTH PLAIN",
		"AUTH AHVzZXIAcGFzcw==AAAAAAAA":   "AUTH <redacted>",
		"AUTH":                            "AUTH",
		"AUTHX secret":                    "AUTHX secret",
		"AUTH\x00PLAIN AHVzZXIAcGFzcw==":  "AUTH PLAIN",
		"AUTH PLAIN\x01AHVzZXIAcGFzcw==":  "AUTH <redacted>",
		"AUTH PLAIN=AHVzZXIAcGFzcw==":     "AUTH <redacted>",
		" AUTH PLAIN AHVzZXIAcGFzcw==":    "AUTH PLAIN",
		"\t auth login dXNlcg==":          "auth login",
		"\x00AUTH PLAIN AHVzZXIAcGFzcw==": "AUTH PLAIN",
		"MAIL FROM:<a@b>":                 "MAIL FROM:<a@b>",
		" MAIL FROM:<a@b>":                " MAIL FROM:<a@b>",
		"250 2.0.0 OK":                    "250 2.0.0 OK",
	} {
		if got := RedactAuth(in); got != want {
			t.Errorf("RedactAuth(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseAuth(t *testing.T) {
	ac, err := ParseAuth("plain AGEAYg==")
	if err != nil || ac.Mechanism != "PLAIN" || string(ac.Initial) != "\x00a\x00b" {
		t.Fatalf("ParseAuth: %+v %v", ac, err)
	}
	if ac, err := ParseAuth("LOGIN"); err != nil || ac.Initial != nil {
		t.Fatalf("no initial response: %+v %v", ac, err)
	}
	if ac, err := ParseAuth("PLAIN ="); err != nil || ac.Initial == nil || len(ac.Initial) != 0 {
		t.Fatalf("empty initial response: %+v %v", ac, err)
	}
	if _, err := ParseAuth("PLAIN *"); !errors.Is(err, ErrAuthCancelled) {
		t.Fatalf("cancel: %v", err)
	}
	if _, err := ParseAuth("PLAIN a b"); !errors.Is(err, ErrAuthBadBase64) {
		t.Fatalf("bad base64: %v", err)
	}
	var se *SyntaxError
	if _, err := ParseAuth(""); !errors.As(err, &se) || se.Code != 501 {
		t.Fatalf("no mechanism: %v", err)
	}
}

// FuzzRedactAuth: the redacted form of an AUTH line never keeps anything
// after the mechanism, and other lines pass unchanged.
func FuzzRedactAuth(f *testing.F) {
	for _, s := range []string{"AUTH PLAIN AHVzZXIAcGFzcw==", "auth\tlogin x", "AUTH", "NOOP", " AUTH PLAIN x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		got := RedactAuth(line)
		orig := line
		line = strings.TrimLeftFunc(line, isBlankOrControl)
		if len(line) < 4 || !strings.EqualFold(line[:4], "AUTH") || (len(line) > 4 && isVerbChar(line[4])) {
			if got != orig {
				t.Fatalf("non-AUTH line %q changed to %q", orig, got)
			}
			return
		}
		if got != line[:4] && got != line[:4]+" <redacted>" && (strings.Count(got, " ") != 1 || len(got) > 4+1+20 || !validMechanism(got[5:])) {
			t.Fatalf("RedactAuth(%q) = %q keeps more than the mechanism", line, got)
		}
	})
}
