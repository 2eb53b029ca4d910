package tracking_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/logfile"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// FuzzTrackingReader: reading arbitrary bytes never panics and terminates;
// an event written by the Writer reads back equal after the documented
// normalisations (CR/LF become spaces; an empty list reads as nil).
func FuzzTrackingReader(f *testing.F) {
	fixture, err := os.ReadFile("testdata/MSGTRK2017041417-1.LOG")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fixture, "Re: hi, \"you\"", "a@x;b@y", sendDetail, int64(12))
	f.Add([]byte("#Fields: date-time\n\"\n"), "", "", "[{LRT=};{LED=x}]", int64(-1))
	f.Add([]byte(""), "\r\n", "", ";", int64(0))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte, subject, recipients, status string, size int64) {
		r := tracking.NewReader(bytes.NewReader(raw))
		for i := 0; ; i++ {
			if i > len(raw)+1 {
				t.Fatal("reader did not reach EOF")
			}
			if _, err := r.Next(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}

		// Round trip. Recipients split on ';' by definition; statuses must
		// have balanced brackets to be delimitable (package doc).
		if !balanced(status) {
			return
		}
		at := time.Date(2023, 1, 11, 15, 59, 53, 910e6, time.UTC)
		w, err := tracking.NewWriter(tracking.Options{Dir: dir, Now: func() time.Time { return at }, FlushInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		in := tracking.Event{
			Time: at, EventID: tracking.EventFail, Subject: subject, TotalBytes: size,
			Recipients: strings.Split(recipients, ";"), RecipientStatus: []string{status, "250 OK"},
			SchemaVersion: "15.0.0.0",
		}
		w.Log(in)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "MSGTRK2023011115-1.LOG")
		got, rd := readEvents(t, path)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		want := in
		want.Subject = logfile.CleanField(subject)
		want.Recipients = strings.Split(logfile.CleanField(recipients), ";")
		if recipients == "" {
			want.Recipients = nil
		}
		want.RecipientStatus = []string{logfile.CleanField(status), "250 OK"}
		if len(got) != 1 || rd.Malformed() != 0 {
			t.Fatalf("%d events, %d malformed", len(got), rd.Malformed())
		}
		if !reflect.DeepEqual(got[0], want) {
			t.Fatalf("round trip\n got %#v\nwant %#v", got[0], want)
		}
	})
}

// balanced reports whether brackets and braces (not distinguished) never
// close more than they opened and all close by the end.
func balanced(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}
