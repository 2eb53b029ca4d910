package smtp

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadLine(t *testing.T) {
	long := "NOOP " + strings.Repeat("x", 600)
	tests := []struct {
		name  string
		input string
		max   int
		want  []string // lines, or "ERR:<name>" for an expected error
	}{
		{"simple", "EHLO a\r\nQUIT\r\n", 0, []string{"EHLO a", "QUIT", "ERR:EOF"}},
		{"empty line", "\r\nNOOP\r\n", 0, []string{"", "NOOP"}},
		{"bare LF", "EHLO a\nNOOP\r\n", 0, []string{"ERR:BareLF", "NOOP"}},
		{"bare CR inside", "EHLO a\rb\r\nNOOP\r\n", 0, []string{"ERR:BareCR", "NOOP"}},
		{"CR CR LF", "NOOP\r\r\nQUIT\r\n", 0, []string{"ERR:BareCR", "QUIT"}},
		{"too long then in sync", long + "\r\nQUIT\r\n", 0, []string{"ERR:TooLong", "QUIT"}},
		{"exactly max", "ABCD\r\n", 6, []string{"ABCD"}},
		{"one over max", "ABCDE\r\nNOOP\r\n", 6, []string{"ERR:TooLong", "NOOP"}},
		{"longer than buffer", strings.Repeat("a", 10000) + "\r\nNOOP\r\n", 0, []string{"ERR:TooLong", "NOOP"}},
		{"large max over buffer", "NOOP " + strings.Repeat("b", 5000) + "\r\n", 6000, []string{"NOOP " + strings.Repeat("b", 5000)}},
		{"partial at EOF", "NOOP", 0, []string{"ERR:UnexpectedEOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// OneByteReader makes every ReadSlice boundary case happen.
			for _, mode := range []string{"whole", "onebyte"} {
				var src io.Reader = strings.NewReader(tt.input)
				if mode == "onebyte" {
					src = iotest.OneByteReader(src)
				}
				r := NewReader(src)
				for i, want := range tt.want {
					got, err := r.ReadLine(tt.max)
					if e, ok := strings.CutPrefix(want, "ERR:"); ok {
						if !errors.Is(err, lineErrors[e]) {
							t.Fatalf("%s: line %d: err = %v, want %v", mode, i, err, lineErrors[e])
						}
						continue
					}
					if err != nil || got != want {
						t.Fatalf("%s: line %d: got %q, %v; want %q", mode, i, got, err, want)
					}
				}
			}
		})
	}
}

var lineErrors = map[string]error{
	"EOF":           io.EOF,
	"UnexpectedEOF": io.ErrUnexpectedEOF,
	"BareLF":        ErrBareLF,
	"BareCR":        ErrBareCR,
	"TooLong":       ErrLineTooLong,
}

func TestBufferedSeesPipelinedPlaintext(t *testing.T) {
	// The STARTTLS-injection check: the session reads STARTTLS, then must see
	// that NOOP is already buffered.
	r := NewReader(strings.NewReader("STARTTLS\r\nNOOP\r\n"))
	line, err := r.ReadLine(0)
	if err != nil || line != "STARTTLS" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got := r.Buffered(); got != len("NOOP\r\n") {
		t.Fatalf("Buffered = %d, want %d", got, len("NOOP\r\n"))
	}
	r.Reset(strings.NewReader("EHLO x\r\n"))
	if r.Buffered() != 0 {
		t.Fatalf("Buffered after Reset = %d", r.Buffered())
	}
	if line, err := r.ReadLine(0); err != nil || line != "EHLO x" {
		t.Fatalf("after Reset: %q, %v", line, err)
	}
}
