package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// Seeds live in testdata/fuzz/<target>; these add the obvious ones inline.

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"MAIL FROM:<a@b> SIZE=10", "EHLO x", "QUIT", " ", "\x00", "X-A B", "rcpt to:<>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := ParseCommand(line)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Code != 500 {
				t.Fatalf("error %v is not a 500 SyntaxError", err)
			}
			return
		}
		if cmd.Verb != strings.ToUpper(cmd.Verb) || cmd.Verb == "" {
			t.Fatalf("verb %q", cmd.Verb)
		}
		if !utf8.ValidString(cmd.Arg) || strings.ContainsAny(cmd.Arg, "\r\n\x00") {
			t.Fatalf("arg %q", cmd.Arg)
		}
		again, err := ParseCommand(cmd.Verb + " " + cmd.Arg)
		if err != nil || again != cmd {
			t.Fatalf("re-parse of %+v gave %+v, %v", cmd, again, err)
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"TO:<a@b.example>", `TO:<"x y"@b>`, "TO:<@r:u@d>", "TO:<postmaster>", "TO:<u@[127.0.0.1]> NOTIFY=NEVER", "TO:<u@[IPv6:::1]>", "TO:<jü@bü.example>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		for _, parse := range []func(string) (Path, map[string]string, error){ParseRcptTo, ParseMailFrom} {
			p, params, err := parse(arg)
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) || se.Code != 501 {
					t.Fatalf("error %v is not a 501 SyntaxError", err)
				}
				continue
			}
			if p.Null {
				continue
			}
			if !utf8.ValidString(p.String()) || strings.ContainsAny(p.String(), "\r\n\x00") {
				t.Fatalf("path %q", p.String())
			}
			if len(p.Raw)+2 > maxPath {
				t.Fatalf("raw path of %d octets accepted", len(p.Raw))
			}
			for k := range params {
				if k != strings.ToUpper(k) {
					t.Fatalf("param key %q not upper-case", k)
				}
			}
			// The canonical form parses to the same path.
			q, _, err := ParseRcptTo("TO:<" + p.String() + ">")
			if err != nil || q.Local != p.Local || q.Domain != p.Domain {
				t.Fatalf("canonical %q of %q re-parsed to %+v, %v", p.String(), arg, q, err)
			}
		}
	})
}

// FuzzReadData checks ReadData against an oracle: in "\r\n"+input the first
// "\r\n.\r\n" is the end of data (a CRLF always ends a line, so it cannot
// start mid-line). The body before it is accepted if and only if it has no
// bare CR, bare LF or NUL; then the output is the unstuffed body, our own
// encoder round-trips it, and the reader sits right after the terminator.
func FuzzReadData(f *testing.F) {
	for _, s := range []string{".\r\n", "a\r\n.\r\n", "body\n.\r\nMAIL\r\n.\r\n", "x\r\n..\r\n.\r\n", "a\rb\r\n.\r\n", "a\x00\r\n.\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		r := NewReader(bytes.NewReader(input))
		var out bytes.Buffer
		n, err := r.ReadData(&out, 0, -1)
		if n != int64(out.Len()) {
			t.Fatalf("n = %d, wrote %d", n, out.Len())
		}
		framed := append([]byte("\r\n"), input...)
		end := bytes.Index(framed, []byte("\r\n.\r\n"))
		if end < 0 {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("no terminator, err = %v", err)
			}
			return
		}
		raw := framed[2 : end+2] // body lines, each with its line ending
		clean := !hasBareLineEnding(raw) && bytes.IndexByte(raw, 0) < 0
		if clean != (err == nil) {
			t.Fatalf("clean=%v but err = %v for %q", clean, err, raw)
		}
		rest, _ := io.ReadAll(r.br)
		if want := input[end+3:]; !bytes.Equal(rest, want) {
			t.Fatalf("reader left %q after the data, want %q", rest, want)
		}
		if err != nil {
			return
		}
		if want := unstuff(raw); !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("body %q, want %q", out.Bytes(), want)
		}
		var wire bytes.Buffer
		w := bufio.NewWriter(&wire)
		if err := writeDotStuffed(w, bytes.NewReader(out.Bytes())); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		var back bytes.Buffer
		if _, err := NewReader(&wire).ReadData(&back, 0, -1); err != nil || !bytes.Equal(back.Bytes(), out.Bytes()) {
			t.Fatalf("round trip: %q, %v; want %q", back.Bytes(), err, out.Bytes())
		}
	})
}

func hasBareLineEnding(b []byte) bool {
	for i, c := range b {
		switch {
		case c == '\r' && (i+1 >= len(b) || b[i+1] != '\n'):
			return true
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return true
		}
	}
	return false
}

// unstuff is the slow, obvious dot-unstuffing of CRLF-separated lines.
func unstuff(raw []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(raw, []byte("\r\n")) {
		if len(line) > 0 && line[0] == '.' {
			line = line[1:]
		}
		out = append(out, line...)
	}
	return out
}
