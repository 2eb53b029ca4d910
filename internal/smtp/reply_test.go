package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestWriteReply(t *testing.T) {
	tests := []struct {
		name  string
		reply Reply
		want  string
	}{
		{"banner", Reply{Code: 220, Lines: []string{"mail.contoso.com Microsoft ESMTP MAIL Service ready"}},
			"220 mail.contoso.com Microsoft ESMTP MAIL Service ready\r\n"},
		{"enhanced", Reply{Code: 250, Enhanced: "2.1.0", Lines: []string{"Sender OK"}}, "250 2.1.0 Sender OK\r\n"},
		{"ehlo multi-line", Reply{Code: 250, Lines: []string{"mx Hello [127.0.0.1]", "SIZE 37748736", "STARTTLS"}},
			"250-mx Hello [127.0.0.1]\r\n250-SIZE 37748736\r\n250 STARTTLS\r\n"},
		{"enhanced multi-line", Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", "two"}},
			"550-5.7.1 one\r\n550 5.7.1 two\r\n"},
		{"no text", Reply{Code: 250}, "250\r\n"},
		{"no text enhanced", Reply{Code: 250, Enhanced: "2.0.0"}, "250 2.0.0\r\n"},
		{"control characters", Reply{Code: 250, Lines: []string{"Hello evil\r\n250 injected\x00"}},
			"250 Hello evil  250 injected \r\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		if err := WriteReply(w, tt.reply); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: WriteReply flushed; replies must wait for the caller's Flush (pipelining)", tt.name)
		}
		w.Flush()
		if buf.String() != tt.want {
			t.Errorf("%s: wrote %q, want %q", tt.name, buf.String(), tt.want)
		}
		// WireLines (what the protocol log shows) is what was written.
		if got := strings.Join(tt.reply.WireLines(), "\r\n") + "\r\n"; got != tt.want {
			t.Errorf("%s: WireLines %q, written %q", tt.name, got, tt.want)
		}
		// A writer too small for a line: written whole all the same.
		var small bytes.Buffer
		sw := bufio.NewWriterSize(&small, 16)
		if err := WriteReply(sw, tt.reply); err != nil {
			t.Fatalf("%s, small buffer: %v", tt.name, err)
		}
		sw.Flush()
		if small.String() != tt.want {
			t.Errorf("%s, small buffer: wrote %q, want %q", tt.name, small.String(), tt.want)
		}
		// What we write, we read back the same.
		back, err := ReadReply(bufio.NewReader(&buf), nil)
		if err != nil || back.Code != tt.reply.Code || back.Enhanced != tt.reply.Enhanced {
			t.Errorf("%s: read back %+v, %v", tt.name, back, err)
		}
	}
	if err := WriteReply(bufio.NewWriter(io.Discard), Reply{Code: 99}); err == nil {
		t.Error("code 99 accepted")
	}
}

func TestReplyString(t *testing.T) {
	r := Reply{Code: 450, Enhanced: "4.7.320", Lines: []string{"Certificate validation failed", "more"}}
	if got := r.String(); got != "450 4.7.320 Certificate validation failed" {
		t.Errorf("String = %q", got)
	}
	if got := r.Text(); got != "450 4.7.320 Certificate validation failed more" {
		t.Errorf("Text = %q", got)
	}
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		code     int
		enhanced string
		lines    []string
		err      error
	}{
		{name: "single", input: "250 2.0.0 OK\r\n", code: 250, enhanced: "2.0.0", lines: []string{"OK"}},
		{name: "multi", input: "250-mx Hello\r\n250-SIZE 100\r\n250 STARTTLS\r\n", code: 250, lines: []string{"mx Hello", "SIZE 100", "STARTTLS"}},
		{name: "bare LF tolerated", input: "220 ready\n", code: 220, lines: []string{"ready"}},
		{name: "code only", input: "250\r\n", code: 250, lines: []string{""}},
		{name: "enhanced class mismatch is text", input: "550 4.0.0 odd\r\n", code: 550, lines: []string{"4.0.0 odd"}},
		{name: "enhanced multi", input: "451-4.7.0 a\r\n451 4.7.0 b\r\n", code: 451, enhanced: "4.7.0", lines: []string{"a", "b"}},
		{name: "mixed codes", input: "250-a\r\n251 b\r\n", err: ErrBadReply},
		{name: "garbage", input: "HTTP/1.1 400 Bad Request\r\n", err: ErrBadReply},
		{name: "bad separator", input: "250xOK\r\n", err: ErrBadReply},
		{name: "code 199", input: "199 x\r\n", err: ErrBadReply},
		{name: "too long", input: "250 " + strings.Repeat("x", 9000) + "\r\n", err: ErrBadReply},
		{name: "eof mid reply", input: "250-a\r\n", err: io.EOF},
	}
	for _, tt := range tests {
		var seen []string
		r, err := ReadReply(bufio.NewReader(strings.NewReader(tt.input)), func(l string) { seen = append(seen, l) })
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || r.Code != tt.code || r.Enhanced != tt.enhanced || !slices.Equal(r.Lines, tt.lines) {
			t.Errorf("%s: got %+v, %v", tt.name, r, err)
		}
		if len(seen) != len(tt.lines) {
			t.Errorf("%s: onLine saw %d lines, want %d", tt.name, len(seen), len(tt.lines))
		}
	}
}
