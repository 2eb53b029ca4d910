package tracking_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// searchDir builds a directory holding: events written by our Writer across
// two hours, the Exchange fixture gzipped under an MSGTRKMD name, a daily
// 2010-style file far in the past, and files Search must ignore.
func searchDir(t *testing.T) string {
	t.Helper()
	clk := testkit.NewClock(time.Date(2017, 4, 14, 17, 30, 0, 0, time.UTC))
	w, dir := newWriter(t, clk, nil)
	log := func(at time.Time, id, sender, msgID string, rcpts ...string) {
		w.Log(tracking.Event{Time: at, EventID: id, Sender: sender, MessageID: msgID, Recipients: rcpts})
	}
	h17 := time.Date(2017, 4, 14, 17, 0, 0, 0, time.UTC)
	log(h17.Add(30*time.Minute), "RECEIVE", "erin@fabrikam.com", "<m1@fabrikam.com>", "frank@contoso.com")
	log(h17.Add(31*time.Minute), "DEFER", "erin@fabrikam.com", "<m1@fabrikam.com>", "frank@contoso.com")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	log(h17.Add(90*time.Minute), "SEND", "erin@fabrikam.com", "<m1@fabrikam.com>", "frank@contoso.com")
	log(h17.Add(95*time.Minute), "RECEIVE", "grace@contoso.com", "<m2@contoso.com>", "heidi@fabrikam.com")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	plain, err := os.ReadFile("testdata/MSGTRK2017041417-1.LOG")
	if err != nil {
		t.Fatal(err)
	}
	zipped := testkit.Gzip(t, plain)
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("MSGTRKMD2017041417-1.LOG.gz", zipped)
	old := bytes.ReplaceAll(plain, []byte("2017-04-14T"), []byte("2017-01-02T"))
	write("MSGTRK20170102-1.LOG", old)
	write("RECV2017041417-1.LOG", plain) // not a tracking log
	write("notes.txt", []byte("x"))
	return dir
}

func TestSearchFilters(t *testing.T) {
	dir := searchDir(t)
	at := func(h, m int) time.Time { return time.Date(2017, 4, 14, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name string
		f    tracking.Filter
		want []string // "EVENTID message-id"
	}{
		{
			name: "message id without brackets, across hours and files, in time order",
			f:    tracking.Filter{MessageID: "m1@fabrikam.com"},
			want: []string{"RECEIVE <m1@fabrikam.com>", "DEFER <m1@fabrikam.com>", "SEND <m1@fabrikam.com>"},
		},
		{
			name: "recipient, case-insensitive",
			f:    tracking.Filter{Recipient: "FRANK@contoso.com", EventIDs: []string{"defer", "send"}},
			want: []string{"DEFER <m1@fabrikam.com>", "SEND <m1@fabrikam.com>"},
		},
		{
			name: "sender domain over the gzipped Exchange file",
			f:    tracking.Filter{Sender: "@CONTOSO.com", Since: at(17, 0), Until: at(17, 59)},
			want: []string{"RECEIVE <a1b2c3@EX1.contoso.com>", "DEFER <a1b2c3@EX1.contoso.com>", "RECEIVE <d4e5@EX1.contoso.com>", "SEND <d4e5@EX1.contoso.com>"},
		},
		{
			name: "time window is inclusive",
			f:    tracking.Filter{Since: at(17, 31), Until: at(18, 30)},
			want: []string{"DEFER <m1@fabrikam.com>", "SEND <m1@fabrikam.com>"},
		},
		{
			name: "network message id",
			f:    tracking.Filter{MessageID: "7B749E31-2F74-4A4B-91B3-08D479E14522", Since: at(0, 0)},
			want: []string{"RECEIVE <d4e5@EX1.contoso.com>", "SEND <d4e5@EX1.contoso.com>"},
		},
		{
			name: "old daily file read when no bounds",
			f:    tracking.Filter{MessageID: "<a1b2c3@EX1.contoso.com>", EventIDs: []string{"DEFER"}},
			want: []string{"DEFER <a1b2c3@EX1.contoso.com>", "DEFER <a1b2c3@EX1.contoso.com>"},
		},
		{
			name: "nothing",
			f:    tracking.Filter{Sender: "nobody@example.com"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tracking.Search(dir, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i, e := range got {
				ids = append(ids, e.EventID+" "+e.MessageID)
				if i > 0 && e.Time.Before(got[i-1].Time) {
					t.Errorf("results out of time order at %d", i)
				}
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("got %q\nwant %q", ids, tc.want)
			}
		})
	}
}

func TestSearchSkipsFilesByName(t *testing.T) {
	dir := t.TempDir()
	// A file whose name dates it to 2017-01-02 but holds an event in April
	// is not opened for an April search: the name is trusted (with a day
	// of margin) so that old files are not read at all.
	line := "2017-04-14T17:00:00.000Z,,,,,,,,RECEIVE,,<x@y>,,,,0,0,,,,,,,,,,,,,,\r\n"
	if err := os.WriteFile(filepath.Join(dir, "MSGTRK2017010200-1.LOG"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	april := tracking.Filter{Since: time.Date(2017, 4, 14, 0, 0, 0, 0, time.UTC)}
	got, err := tracking.Search(dir, april)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %d events, %v; want the file skipped", len(got), err)
	}
	got, err = tracking.Search(dir, tracking.Filter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("unbounded search got %d events, %v", len(got), err)
	}
}

func TestSearchErrors(t *testing.T) {
	if _, err := tracking.Search(filepath.Join(t.TempDir(), "missing"), tracking.Filter{}); err == nil {
		t.Fatal("Search of a missing directory succeeded")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "MSGTRK2017041417-1.LOG"), []byte{0x1f, 0x8b, 1}, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tracking.Search(dir, tracking.Filter{}); err == nil {
		t.Fatal("Search over a corrupt gzip file succeeded")
	}
}

func TestFilterMatch(t *testing.T) {
	e := tracking.Event{
		Time: t0, EventID: "FAIL", Sender: "Bob@Contoso.com", MessageID: "<ID@x>", NetworkMessageID: "nm-1",
		Recipients: []string{"a@fabrikam.com", "b@tailspin.com"},
	}
	tests := []struct {
		f    tracking.Filter
		want bool
	}{
		{tracking.Filter{}, true},
		{tracking.Filter{Sender: "bob@contoso.com"}, true},
		{tracking.Filter{Sender: "@contoso.com"}, true},
		{tracking.Filter{Sender: "@oso.com"}, false},
		{tracking.Filter{Sender: "contoso.com"}, false},
		{tracking.Filter{Recipient: "@tailspin.com"}, true},
		{tracking.Filter{Recipient: "c@fabrikam.com"}, false},
		{tracking.Filter{MessageID: "id@x"}, true},
		{tracking.Filter{MessageID: " <ID@x> "}, true},
		{tracking.Filter{MessageID: "nm-1"}, true},
		{tracking.Filter{MessageID: "other"}, false},
		{tracking.Filter{EventIDs: []string{"send", "fail"}}, true},
		{tracking.Filter{EventIDs: []string{"SEND"}}, false},
		{tracking.Filter{Since: t0, Until: t0}, true},
		{tracking.Filter{Since: t0.Add(time.Millisecond)}, false},
		{tracking.Filter{Until: t0.Add(-time.Millisecond)}, false},
	}
	for _, tc := range tests {
		if got := tc.f.Match(e); got != tc.want {
			t.Errorf("%+v.Match = %v, want %v", tc.f, got, tc.want)
		}
	}
}
