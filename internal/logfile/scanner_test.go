package logfile

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// scanAll returns every record as strings, plus the scanner for its counters.
func scanAll(t *testing.T, input string, defaults []string) ([][]string, *Scanner) {
	t.Helper()
	s := NewScanner(strings.NewReader(input), defaults)
	var out [][]string
	for i := 0; i < 10000; i++ {
		rec, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out, s
		}
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(rec))
		for j, f := range rec {
			row[j] = string(f)
		}
		out = append(out, row)
	}
	t.Fatal("scanner did not reach EOF")
	return nil, nil
}

func TestScannerRecords(t *testing.T) {
	tests := []struct {
		name      string
		input     string
		defaults  []string
		want      [][]string
		malformed int64
	}{
		{
			name:  "plain CRLF",
			input: "#Fields: a,b,c\r\n1,2,3\r\nx,,\r\n",
			want:  [][]string{{"1", "2", "3"}, {"x", "", ""}},
		},
		{
			name:  "LF and no final newline",
			input: "#Fields: a,b\n1,2\n3,4",
			want:  [][]string{{"1", "2"}, {"3", "4"}},
		},
		{
			name:  "quoted with comma and doubled quotes",
			input: "#Fields: a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"\"\r\n",
			want:  [][]string{{"x, y", `say "hi"`, ""}},
		},
		{
			name:  "quote inside unquoted field is literal",
			input: "#Fields: a,b\r\nab\"c,d\r\n",
			want:  [][]string{{`ab"c`, "d"}},
		},
		{
			name:      "unterminated quote and text after quote are malformed",
			input:     "#Fields: a,b\r\n\"open,x\r\n\"a\"b,c\r\nok,1\r\n",
			want:      [][]string{{"ok", "1"}},
			malformed: 2,
		},
		{
			name:      "wrong column count is malformed",
			input:     "#Fields: a,b,c\r\n1,2\r\n1,2,3,4\r\n1,2,3\r\n",
			want:      [][]string{{"1", "2", "3"}},
			malformed: 2,
		},
		{
			name:  "BOM before header and blank lines",
			input: "\xEF\xBB\xBF#Fields: a,b\r\n\r\n1,2\r\n\r\n",
			want:  [][]string{{"1", "2"}},
		},
		{
			name:     "defaults without header",
			input:    "1,2\r\n",
			defaults: []string{"a", "b"},
			want:     [][]string{{"1", "2"}},
		},
		{
			name:  "no header and no defaults accepts any width",
			input: "1\r\n1,2,3\r\n",
			want:  [][]string{{"1"}, {"1", "2", "3"}},
		},
		{
			name:  "second header changes the width (concatenated files)",
			input: "#Fields: a,b\r\n1,2\r\n\xEF\xBB\xBF#Fields: a,b,c\r\n1,2,3\r\n",
			want:  [][]string{{"1", "2"}, {"1", "2", "3"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, s := scanAll(t, tc.input, tc.defaults)
			if !slices.EqualFunc(got, tc.want, slices.Equal[[]string]) {
				t.Fatalf("records %q, want %q", got, tc.want)
			}
			if s.Malformed() != tc.malformed {
				t.Fatalf("Malformed = %d, want %d", s.Malformed(), tc.malformed)
			}
		})
	}
}

func TestScannerHeaders(t *testing.T) {
	input := "#Software: Microsoft Exchange Server\r\n#Version: 15.0.0.0\r\n" +
		"#Log-Type: Message Tracking Log\r\n#Date: 2017-04-14T17:00:00.000Z\r\n" +
		"#Fields: date-time, b ,c\r\n#Unknown: ignored\r\n#no colon\r\n1,2,3\r\n"
	got, s := scanAll(t, input, nil)
	if len(got) != 1 {
		t.Fatalf("records %q", got)
	}
	checks := map[string][2]string{
		"Software": {s.Software(), "Microsoft Exchange Server"},
		"Version":  {s.Version(), "15.0.0.0"},
		"LogType":  {s.LogType(), "Message Tracking Log"},
		"Date":     {s.Date(), "2017-04-14T17:00:00.000Z"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if !slices.Equal(s.Fields(), []string{"date-time", "b", "c"}) {
		t.Errorf("Fields = %q", s.Fields())
	}
	if s.FieldsVersion() != 1 {
		t.Errorf("FieldsVersion = %d", s.FieldsVersion())
	}
	if s.Line() != 8 {
		t.Errorf("Line = %d, want 8", s.Line())
	}
}

func TestScannerW3CFields(t *testing.T) {
	_, s := scanAll(t, "#Fields: date time s-ip\n", nil)
	if !slices.Equal(s.Fields(), []string{"date", "time", "s-ip"}) {
		t.Fatalf("Fields = %q", s.Fields())
	}
}

func TestScannerLongLines(t *testing.T) {
	long := strings.Repeat("a", readBufferSize*3) // longer than the read buffer, shorter than MaxLineSize
	huge := strings.Repeat("b", MaxLineSize+10)
	input := "#Fields: x,y\n" + long + ",1\n" + huge + ",2\nz,3\n"
	got, s := scanAll(t, input, nil)
	want := [][]string{{long, "1"}, {"z", "3"}}
	if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
		t.Fatalf("got %d records", len(got))
	}
	if s.Malformed() != 1 {
		t.Fatalf("Malformed = %d, want 1", s.Malformed())
	}
}

func TestScannerOneByteReads(t *testing.T) {
	input := "#Fields: a,b\r\n\"q,\"\"x\"\"\",2\r\n3,4\r\n"
	s := NewScanner(iotest.OneByteReader(strings.NewReader(input)), nil)
	var got [][]string
	for {
		rec, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, []string{string(rec[0]), string(rec[1])})
	}
	want := [][]string{{`q,"x"`, "2"}, {"3", "4"}}
	if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
		t.Fatalf("got %q", got)
	}
}

func TestScannerReadError(t *testing.T) {
	boom := errors.New("disk gone")
	s := NewScanner(io.MultiReader(strings.NewReader("#Fields: a\r\n1\r\n"), iotest.ErrReader(boom)), nil)
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

func TestAppendFieldRoundTrip(t *testing.T) {
	tests := []struct {
		in, file string
	}{
		{"plain", "plain"},
		{"", ""},
		{"a,b", `"a,b"`},
		{`say "hi"`, `"say ""hi"""`},
		{"two\r\nlines", "two  lines"},
		{"x,\ny", `"x, y"`},
		{`\Default Frontend`, `\Default Frontend`},
	}
	for _, tc := range tests {
		got := string(AppendField(nil, tc.in))
		if got != tc.file {
			t.Errorf("AppendField(%q) = %q, want %q", tc.in, got, tc.file)
		}
		recs, _ := scanAll(t, "#Fields: a,b\n"+got+",end\n", nil)
		if len(recs) != 1 || recs[0][0] != CleanField(tc.in) {
			t.Errorf("read back %q, want %q", recs, CleanField(tc.in))
		}
	}
}

func TestTimeRoundTrip(t *testing.T) {
	tests := []time.Time{
		time.Date(2017, 4, 14, 17, 0, 41, 125e6, time.UTC),
		time.Date(2023, 1, 11, 15, 59, 53, 910999999, time.UTC), // truncated, not rounded
		time.Date(2024, 2, 29, 23, 59, 59, 0, time.FixedZone("CET", 3600)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, in := range tests {
		b := AppendTime(nil, in)
		if want := in.UTC().Format(TimeLayout); string(b) != want {
			t.Errorf("AppendTime(%v) = %s, want %s", in, b, want)
		}
		got, err := ParseTime(string(b))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(in.Truncate(time.Millisecond)) {
			t.Errorf("ParseTime(%s) = %v, want %v", b, got, in.Truncate(time.Millisecond))
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2017-04-14T17:00:41.125Z", time.Date(2017, 4, 14, 17, 0, 41, 125e6, time.UTC), true},
		{"2017-04-14T17:00:41Z", time.Date(2017, 4, 14, 17, 0, 41, 0, time.UTC), true},
		{"2017-04-14T19:00:41.5+02:00", time.Date(2017, 4, 14, 17, 0, 41, 5e8, time.UTC), true},
		{"2017-02-30T17:00:41.125Z", time.Time{}, false},
		{"2017-04-14T24:00:41.125Z", time.Time{}, false},
		{"2017-04-14 17:00:41", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tc := range tests {
		got, err := ParseTime(tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestOpenPlainAndGzip(t *testing.T) {
	dir := t.TempDir()
	content := "#Fields: a\r\nhello\r\n"
	plain := filepath.Join(dir, "plain.LOG")
	if err := os.WriteFile(plain, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	if _, err := zw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zipped := filepath.Join(dir, "zipped.LOG") // no .gz: detected by magic bytes
	if err := os.WriteFile(zipped, zbuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.LOG")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{plain: content, zipped: content, empty: ""} {
		rc, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s read %q, want %q", path, got, want)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.LOG")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
	bad := filepath.Join(dir, "bad.LOG")
	if err := os.WriteFile(bad, []byte{0x1f, 0x8b, 0}, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil {
		t.Error("Open of a truncated gzip header succeeded")
	}
}
