package logfile

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// FuzzScanner: the scanner never panics, always terminates, and every
// record it returns has the width the header announced.
func FuzzScanner(f *testing.F) {
	f.Add([]byte("#Fields: a,b\r\n1,2\r\n"))
	f.Add([]byte("\xEF\xBB\xBF#Fields: a,b\n\"x,\"\"y\",2\n\"open\n"))
	f.Add([]byte("a,\"b\"c\r\n#Fields: \r\n,,,\r\n"))
	f.Add([]byte("#Fields: a b c\n1,2,3\n\r\n\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScanner(bytes.NewReader(data), nil)
		for i := 0; i <= len(data)+1; i++ {
			rec, err := s.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := len(s.Fields()); n > 0 && len(rec) != n {
				t.Fatalf("record of %d fields under a %d-field header", len(rec), n)
			}
		}
		t.Fatal("scanner did not reach EOF")
	})
}

// FuzzFieldRoundTrip: any field written with AppendField reads back as
// CleanField of itself, next to neighbours that are not disturbed.
func FuzzFieldRoundTrip(f *testing.F) {
	f.Add("plain", "a,b")
	f.Add(`"`, "\r\n")
	f.Add("", `""`)
	f.Add("#x", ",")
	f.Fuzz(func(t *testing.T, a, b string) {
		// The first column of every writer is a date-time, so the fuzzed
		// fields go after a fixed one (a first field could start a "#" header).
		line := []byte("start,")
		line = AppendField(line, a)
		line = append(line, ',')
		line = AppendField(line, b)
		line = append(line, ",end\r\n"...)
		s := NewScanner(strings.NewReader("#Fields: s,a,b,c\r\n"+string(line)), nil)
		rec, err := s.Next()
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got := []string{string(rec[0]), string(rec[1]), string(rec[2]), string(rec[3])}
		want := []string{"start", CleanField(a), CleanField(b), "end"}
		if !slices.Equal(got, want) {
			t.Fatalf("line %q read %q, want %q", line, got, want)
		}
	})
}
