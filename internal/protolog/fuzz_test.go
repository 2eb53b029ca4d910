package protolog_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/logfile"
	"github.com/mailflowhq/mailflow/internal/protolog"
)

// FuzzReader: reading arbitrary bytes never panics and terminates; and
// records written by a Writer read back equal (CR/LF become spaces, the
// documented one-line rule).
func FuzzReader(f *testing.F) {
	fixture, err := readFixture("testdata/subjectmismatch_recv.LOG")
	if err != nil {
		f.Fatal(err)
	}
	newer, err := readFixture("testdata/exchange2019_recv.LOG")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fixture, `SERVER1\Default Frontend SERVER1`, "220 ready, go", "")
	f.Add(newer, "Outbound", `say "hi"`, "multi\r\nline")
	f.Add([]byte("#Fields: event\n\"\n,,,\n"), "", "", "")
	// One directory for all iterations (each removes its file): a fresh
	// temporary directory per input made the target ~30 times slower.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte, connector, data, context string) {
		r := protolog.NewReader(bytes.NewReader(raw))
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

		now := time.Date(2023, 1, 11, 15, 59, 53, 910e6, time.UTC)
		w, err := protolog.NewWriter(protolog.Options{Dir: dir, Now: func() time.Time { return now }, FlushInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		s := w.Session(connector, "10.0.0.1:25", "[::1]:4000")
		s.Info(data, context)
		s.Received(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "RECV2023011115-1.LOG")
		rc, err := protolog.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = rc.Close()
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}()
		rd := protolog.NewReader(rc)
		want := []protolog.Record{
			{DateTime: "2023-01-11T15:59:53.910Z", ConnectorID: logfile.CleanField(connector), SessionID: s.ID(), Seq: 0,
				Local: "10.0.0.1:25", Remote: "[::1]:4000", Event: '*', Data: logfile.CleanField(data), Context: logfile.CleanField(context)},
			{DateTime: "2023-01-11T15:59:53.910Z", ConnectorID: logfile.CleanField(connector), SessionID: s.ID(), Seq: 1,
				Local: "10.0.0.1:25", Remote: "[::1]:4000", Event: '<', Data: logfile.CleanField(data)},
		}
		for _, wr := range want {
			got, err := rd.Next()
			if err != nil {
				t.Fatalf("reading back %+v: %v (malformed %d)", wr, err, rd.Malformed())
			}
			if *got != wr {
				t.Fatalf("read back %+v\nwant      %+v", *got, wr)
			}
		}
		if _, err := rd.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("extra record or error: %v", err)
		}
	})
}

// FuzzParseCertificateLine: never panics, and a parsed line's pieces come
// from the data (the thumbprint and serial are whole tokens of it).
func FuzzParseCertificateLine(f *testing.F) {
	f.Add(" CN=SRV CN=SRV 12DEABC6565646512346ABDC13456894 0123456789ABCDEF0123456789ABCDEF01234567 2020-01-17T15:15:33.000Z 2025-01-17T15:15:33.000Z SRV;SRV.DOMAIN.TEST", oneLineContext)
	f.Add(` CN=a, O="x, y" CN=b 01 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 1/2/2020 3:04:05 PM 1/2/2021 3:04:05 PM`, oneLineContext)
	f.Add(" a b c 2020-01-17T15:15:33.000Z", "Remote certificate Subject Issuer name")
	f.Add("CN=SERVER1", "Certificate subject")
	f.Fuzz(func(t *testing.T, data, context string) {
		rec := &protolog.Record{Event: '*', Data: data, Context: context, SessionID: "S"}
		ev, ok := protolog.ParseCertificateLine(rec)
		if !ok {
			return
		}
		fields := strings.Fields(data)
		has := func(tok string) bool {
			for _, f := range fields {
				if f == tok {
					return true
				}
			}
			return false
		}
		if !has(ev.Thumbprint) || !has(ev.Serial) {
			t.Fatalf("thumbprint %q / serial %q are not tokens of %q", ev.Thumbprint, ev.Serial, data)
		}
		if !strings.HasPrefix(context, ev.Event) || ev.SessionID != "S" || !ev.OneLine {
			t.Fatalf("event %+v from context %q", ev, context)
		}
		acc := protolog.NewSessionCerts()
		if out := acc.Add(nil, rec); len(out) != 1 {
			t.Fatalf("SessionCerts.Add returned %d events for a one-line record", len(out))
		}
	})
}

func readFixture(path string) ([]byte, error) {
	rc, err := protolog.Open(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
