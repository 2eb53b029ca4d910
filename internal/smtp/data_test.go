package smtp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// next is the command that follows every DATA input below: after ReadData the
// reader must be positioned exactly on it.
const next = "MAIL FROM:<next@example.com>\r\n"

func TestReadData(t *testing.T) {
	tests := []struct {
		name    string
		input   string // body as sent after "DATA\r\n", through the terminator
		want    string // unstuffed body when err is nil
		err     error
		maxSize int64
		maxLine int
	}{
		{name: "empty message", input: ".\r\n", want: ""},
		{name: "simple", input: "Subject: x\r\n\r\nhello\r\n.\r\n", want: "Subject: x\r\n\r\nhello\r\n"},
		{name: "dot unstuffing", input: "..leading\r\n...\r\n.x\r\nend\r\n.\r\n", want: ".leading\r\n..\r\nx\r\nend\r\n"},
		{name: "dot line inside is data", input: "a\r\n..\r\nb\r\n.\r\n", want: "a\r\n.\r\nb\r\n"},
		{name: "dot space is not the end", input: "a\r\n. \r\nb\r\n.\r\n", want: "a\r\n \r\nb\r\n"},

		// SMTP smuggling: none of these end the data; the real end does,
		// and the body is refused.
		{name: "LF.CRLF", input: "body\n.\r\n" + "MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\nsmuggled\r\n.\r\n", err: ErrBareLineEnding},
		{name: "LF.LF", input: "body\n.\n" + "MAIL FROM:<evil@x>\r\n.\r\n", err: ErrBareLineEnding},
		{name: "CRLF.LF", input: "body\r\n.\n" + "MAIL FROM:<evil@x>\r\n.\r\n", err: ErrBareLineEnding},
		{name: "CR.CR", input: "body\r.\r" + "MAIL FROM:<evil@x>\r\n.\r\n", err: ErrBareLineEnding},
		{name: "CR.CRLF", input: "body\r.\r\n" + "more\r\n.\r\n", err: ErrBareLineEnding},
		{name: "bare CR", input: "a\rb\r\n.\r\n", err: ErrBareLineEnding},
		{name: "bare LF", input: "a\nb\r\n.\r\n", err: ErrBareLineEnding},
		{name: "CR CR LF", input: "a\r\r\n.\r\n", err: ErrBareLineEnding},
		{name: "bare LF right before end", input: "a\n\r\n.\r\n", err: ErrBareLineEnding},

		{name: "NUL", input: "a\x00b\r\n.\r\n", err: ErrNUL},
		{name: "size at limit", input: "12345678\r\n.\r\n", want: "12345678\r\n", maxSize: 10},
		{name: "size over limit", input: "123456789\r\n" + strings.Repeat("x\r\n", 100) + ".\r\n", err: ErrTooLarge, maxSize: 10},
		{name: "line at 1000", input: strings.Repeat("a", 998) + "\r\n.\r\n", want: strings.Repeat("a", 998) + "\r\n"},
		{name: "stuffed line at 1000", input: "." + strings.Repeat(".", 998) + "\r\n.\r\n", want: strings.Repeat(".", 998) + "\r\n"},
		{name: "line over 1000", input: strings.Repeat("a", 999) + "\r\nok\r\n.\r\n", err: ErrDataLineTooLong},
		{name: "line over buffer, no limit", input: strings.Repeat("a", 9000) + "\r\n.\r\n", want: strings.Repeat("a", 9000) + "\r\n", maxLine: -1},
		{name: "line over buffer, limit", input: strings.Repeat("a", 9000) + "\r\n.\r\n", err: ErrDataLineTooLong},
		{name: "CR at buffer edge then LF", input: strings.Repeat("a", 4095) + "\r\n.\r\n", want: strings.Repeat("a", 4095) + "\r\n", maxLine: -1},
		{name: "CR at buffer edge then x", input: strings.Repeat("a", 4095) + "\rx\r\n.\r\n", err: ErrBareLineEnding, maxLine: -1},
		{name: "first error wins", input: "a\nb\x00\r\n.\r\n", err: ErrBareLineEnding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []string{"whole", "onebyte", "halves"} {
				var src io.Reader = strings.NewReader(tt.input + next)
				switch mode {
				case "onebyte":
					src = iotest.OneByteReader(src)
				case "halves":
					src = iotest.HalfReader(src)
				}
				r := NewReader(src)
				var out bytes.Buffer
				n, err := r.ReadData(&out, tt.maxSize, tt.maxLine)
				if tt.err != nil {
					if !errors.Is(err, tt.err) {
						t.Fatalf("%s: err = %v, want %v", mode, err, tt.err)
					}
				} else {
					if err != nil {
						t.Fatalf("%s: err = %v", mode, err)
					}
					if out.String() != tt.want || n != int64(len(tt.want)) {
						t.Fatalf("%s: body %q (n=%d), want %q", mode, out.String(), n, tt.want)
					}
				}
				line, err := r.ReadLine(0)
				if err != nil || line+"\r\n" != next {
					t.Fatalf("%s: next command = %q, %v; the reader is out of step", mode, line, err)
				}
			}
		})
	}
}

func TestReadDataUnexpectedEOF(t *testing.T) {
	for _, input := range []string{"", "body\r\n", "body\n.\r\n", "body\r\n.", "body\r\n.\r"} {
		r := NewReader(strings.NewReader(input))
		_, err := r.ReadData(io.Discard, 0, 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: err = %v, want io.ErrUnexpectedEOF", input, err)
		}
	}
}

type failWriter struct{ err error }

func (f failWriter) Write(p []byte) (int, error) { return 0, f.err }

func TestReadDataWriteErrorDrains(t *testing.T) {
	disk := errors.New("disk full")
	r := NewReader(strings.NewReader("hello\r\n.\r\n" + next))
	_, err := r.ReadData(failWriter{disk}, 0, 0)
	if !errors.Is(err, disk) {
		t.Fatalf("err = %v, want the write error", err)
	}
	if line, err := r.ReadLine(0); err != nil || line+"\r\n" != next {
		t.Fatalf("next command = %q, %v", line, err)
	}
}

func TestReadDataLargeBodyWrittenInBulk(t *testing.T) {
	var body strings.Builder
	for i := 0; body.Len() < 200<<10; i++ {
		body.WriteString("Line of a large message body, number ")
		body.WriteString(strings.Repeat("x", i%50))
		body.WriteString("\r\n")
	}
	w := &countingWriter{}
	r := NewReader(strings.NewReader(body.String() + ".\r\n"))
	n, err := r.ReadData(w, 0, 0)
	if err != nil || n != int64(body.Len()) || w.buf.String() != body.String() {
		t.Fatalf("n=%d err=%v equal=%v", n, err, w.buf.String() == body.String())
	}
	// 200 KiB in 32 KiB batches: far fewer writes than lines.
	if w.calls > 10 {
		t.Fatalf("%d Write calls for %d bytes: not bulk", w.calls, n)
	}
}

type countingWriter struct {
	buf   bytes.Buffer
	calls int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.calls++
	return c.buf.Write(p)
}

func BenchmarkReadData(b *testing.B) {
	var body strings.Builder
	for body.Len() < 1<<20 {
		body.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n")
		body.WriteString(".stuffed line\r\n")
	}
	body.WriteString(".\r\n")
	input := body.String()
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	src := strings.NewReader(input)
	r := NewReader(src)
	for b.Loop() {
		src.Reset(input)
		r.Reset(src)
		if _, err := r.ReadData(io.Discard, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}
