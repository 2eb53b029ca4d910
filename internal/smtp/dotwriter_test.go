package smtp

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestWriteDotStuffed(t *testing.T) {
	tests := []struct{ body, wire string }{
		{"", ".\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
		{"no final newline", "no final newline\r\n.\r\n"},
		{"bare\nLF\n", "bare\r\nLF\r\n.\r\n"},
		{"bare\rCR\r", "bare\r\nCR\r\n.\r\n"},
		{"CR CR LF\r\r\n", "CR CR LF\r\n\r\n.\r\n"},
		{".dot\r\n..two\r\n.\r\n", "..dot\r\n...two\r\n..\r\n.\r\n"},
		{"smuggle\n.\r\nMAIL FROM:<x@y>\r\n", "smuggle\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n"},
		{"x\r\n.", "x\r\n..\r\n.\r\n"},
	}
	for _, tt := range tests {
		for _, mode := range []string{"whole", "onebyte"} {
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			if err := writeDotStuffed(w, iotestReader(mode, tt.body)); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if buf.String() != tt.wire {
				t.Errorf("%s %q: wire %q, want %q", mode, tt.body, buf.String(), tt.wire)
			}
			// A strict receiver accepts everything we send.
			var got bytes.Buffer
			if _, err := NewReader(&buf).ReadData(&got, 0, -1); err != nil {
				t.Errorf("%s %q: ReadData refused our output: %v", mode, tt.body, err)
			}
		}
	}
}

func iotestReader(mode, s string) io.Reader {
	if mode == "onebyte" {
		return iotest.OneByteReader(strings.NewReader(s))
	}
	return strings.NewReader(s)
}
