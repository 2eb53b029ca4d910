package smtp

import (
	"errors"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line      string
		verb, arg string
		bad       bool
	}{
		{line: "MAIL FROM:<a@b> SIZE=10", verb: "MAIL", arg: "FROM:<a@b> SIZE=10"},
		{line: "ehlo client.example.com", verb: "EHLO", arg: "client.example.com"},
		{line: "QUIT", verb: "QUIT"},
		{line: "NOOP   ", verb: "NOOP"},
		{line: "rcpt TO:<u@d>  ", verb: "RCPT", arg: "TO:<u@d>"},
		{line: "X-ANONYMOUSTLS", verb: "X-ANONYMOUSTLS"},
		{line: "HELO  two-spaces", verb: "HELO", arg: " two-spaces"},
		{line: "EHLO bücher.example", verb: "EHLO", arg: "bücher.example"},
		{line: "", bad: true},
		{line: " NOOP", bad: true},
		{line: "1234", bad: true},
		{line: "NO_OP", bad: true},
		{line: "NOOP\x00", bad: true},
		{line: "MAIL FROM:<a@b>\tSIZE=1", bad: true},
		{line: "EHLO x\x7f", bad: true},
		{line: "EHLO \xff\xfe", bad: true},
		{line: "AVERYLONGVERBTHATNOBODYWOULDEVERSENDATALL", bad: true},
	}
	for _, tt := range tests {
		cmd, err := ParseCommand(tt.line)
		if tt.bad {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Code != 500 || se.Enhanced != "5.5.2" {
				t.Errorf("ParseCommand(%q) = %+v, %v; want 500 5.5.2", tt.line, cmd, err)
			}
			continue
		}
		if err != nil || cmd.Verb != tt.verb || cmd.Arg != tt.arg {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %q %q", tt.line, cmd, err, tt.verb, tt.arg)
		}
	}
}
