package protolog_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

func TestReadSubjectMismatchFixture(t *testing.T) {
	recs, r := readAll(t, "testdata/subjectmismatch_recv.LOG")
	if r.Malformed() != 0 {
		t.Errorf("Malformed = %d", r.Malformed())
	}
	if k, ok := r.Kind(); !ok || k != protolog.Receive {
		t.Errorf("Kind = %v, %v", k, ok)
	}
	if len(recs) != 18 {
		t.Fatalf("%d records, want 18", len(recs))
	}
	banner := recs[2]
	if banner.Event != '>' || banner.Data != "220 SERVER1.contoso.com Microsoft ESMTP MAIL Service ready at Fri, 14 Apr 2017 17:00:40 +0000" || banner.Context != "" {
		t.Errorf("quoted banner read as %+v", banner)
	}
	want := protolog.Record{
		DateTime:    "2017-04-14T17:00:41.125Z",
		ConnectorID: `SERVER1\Default Frontend SERVER1`,
		SessionID:   "08D479E14521204D",
		Seq:         24,
		Local:       "172.20.102.10:25",
		Remote:      "155.39.36.248:30648",
		Event:       '*',
		Data:        "9876534210FEDCBA9876534210FEDCBA123456789",
		Context:     "Certificate thumbprint",
	}
	if !slices.Contains(recs, want) {
		t.Errorf("thumbprint record %+v not found", want)
	}
	last := recs[len(recs)-1]
	if last.Event != '-' || last.Context != "Remote(SocketError)" || last.Seq != 27 {
		t.Errorf("last record %+v", last)
	}
}

func TestReadExchange2019Fixture(t *testing.T) {
	// BOM, CRLF and a quoted one-line certificate record.
	recs, r := readAll(t, "testdata/exchange2019_recv.LOG")
	if r.Malformed() != 0 || len(recs) != 15 {
		t.Fatalf("%d records, %d malformed", len(recs), r.Malformed())
	}
	if r.LogType() != "SMTP Receive Protocol Log" {
		t.Errorf("LogType = %q", r.LogType())
	}
	ehlo := recs[3]
	if !strings.HasPrefix(ehlo.Data, "250  SRV.DOMAIN.TEST Hello [95.10.20.33]") || ehlo.Seq != 3 {
		t.Errorf("EHLO reply %+v", ehlo)
	}
	tls := recs[7]
	if !strings.Contains(tls.Context, "strength 128 bits, MAC hash algorithm") {
		t.Errorf("quoted context %q", tls.Context)
	}
}

func TestReadHeaderlessSnippet(t *testing.T) {
	// The lines of the April 2017 SubjectMismatch log as the article that
	// published it printed them: no header, no endpoints. They read with Exchange's default column order.
	snippet := `2017-04-14T17:00:41.125Z,SERVER1\Default Frontend SERVER1,08D479E14521204D,20,,,*,,Sending certificate
2017-04-14T17:00:41.125Z,SERVER1\Default Frontend SERVER1,08D479E14521204D,21,,,*,CN=SERVER1,Certificate subject
2017-04-14T17:00:41.125Z,SERVER1\Default Frontend SERVER1,08D479E14521204D,25,,,*,SERVER1;,Certificate alternate names
`
	r := protolog.NewReader(strings.NewReader(snippet))
	var got []string
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Context+"="+rec.Data)
	}
	want := []string{"Sending certificate=", "Certificate subject=CN=SERVER1", "Certificate alternate names=SERVER1;"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
	if _, ok := r.Kind(); ok {
		t.Error("Kind known without a #Log-type header")
	}
}

func TestReadFieldsInAnyOrder(t *testing.T) {
	input := "#Log-type: SMTP Send Protocol Log\n" +
		"#Fields: event,Data,session-id,extra,sequence-number,date-time,connector-id,remote-endpoint,local-endpoint\n" +
		"<,250 OK,ABC,ignored,7,2023-01-11T15:59:53.910Z,Outbound,1.2.3.4:25,10.0.0.1:5000\n"
	r := protolog.NewReader(strings.NewReader(input))
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := protolog.Record{
		DateTime: "2023-01-11T15:59:53.910Z", ConnectorID: "Outbound", SessionID: "ABC", Seq: 7,
		Local: "10.0.0.1:5000", Remote: "1.2.3.4:25", Event: '<', Data: "250 OK",
	}
	if *rec != want {
		t.Fatalf("got %+v\nwant %+v", *rec, want)
	}
	if k, ok := r.Kind(); !ok || k != protolog.Send {
		t.Errorf("Kind = %v, %v", k, ok)
	}
}

func TestReadMalformedSkipped(t *testing.T) {
	good := "2017-04-14T17:00:41.125Z,c,S,1,l,r,*,data,ctx"
	tests := []struct {
		name string
		line string
	}{
		{"non-numeric sequence", "2017-04-14T17:00:41.125Z,c,S,x1,l,r,*,data,ctx"},
		{"empty sequence", "2017-04-14T17:00:41.125Z,c,S,,l,r,*,data,ctx"},
		{"two-character event", "2017-04-14T17:00:41.125Z,c,S,1,l,r,**,data,ctx"},
		{"empty event", "2017-04-14T17:00:41.125Z,c,S,1,l,r,,data,ctx"},
		{"too few columns", "2017-04-14T17:00:41.125Z,c,S,1,l,r,*,data"},
		{"too many columns", good + ",more"},
		{"unterminated quote", `2017-04-14T17:00:41.125Z,c,S,1,l,r,*,"data,ctx`},
		{"truncated last line", "2017-04-14T17:00:41.125Z,c,S,1,l"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := protolog.NewReader(strings.NewReader(good + "\r\n" + tc.line + "\r\n" + good + "\r\n"))
			n := 0
			for {
				_, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 2 || r.Malformed() != 1 {
				t.Fatalf("%d records, %d malformed; want 2, 1", n, r.Malformed())
			}
		})
	}
}

func TestReadGzip(t *testing.T) {
	plain, err := os.ReadFile("testdata/exchange2019_recv.LOG")
	if err != nil {
		t.Fatal(err)
	}
	zipped := testkit.Gzip(t, plain)
	path := filepath.Join(t.TempDir(), "RECV2023011115-1.LOG")
	if err := os.WriteFile(path, zipped, 0o600); err != nil {
		t.Fatal(err)
	}
	fromGzip, _ := readAll(t, path)
	fromPlain, _ := readAll(t, "testdata/exchange2019_recv.LOG")
	if !slices.Equal(fromGzip, fromPlain) || len(fromPlain) == 0 {
		t.Fatalf("gzip read %d records, plain %d", len(fromGzip), len(fromPlain))
	}
}

func TestRecordAliasAndClone(t *testing.T) {
	input := "a,c,S1,0,l,r,*,first,x\nb,c,S2,1,l,r,*,second,y\n"
	r := protolog.NewReader(strings.NewReader(input))
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	kept := rec.Clone()
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if kept.Data != "first" || kept.SessionID != "S1" || kept.Context != "x" || kept.DateTime != "a" {
		t.Fatalf("clone changed after Next: %+v", kept)
	}
}

func TestTime(t *testing.T) {
	rec := &protolog.Record{DateTime: "2017-04-14T17:00:41.125Z"}
	got, err := protolog.Time(rec)
	if err != nil || !got.Equal(time.Date(2017, 4, 14, 17, 0, 41, 125e6, time.UTC)) {
		t.Fatalf("Time = %v, %v", got, err)
	}
	if _, err := protolog.Time(&protolog.Record{DateTime: "yesterday"}); err == nil {
		t.Fatal("Time accepted garbage")
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	values := []string{
		"", "plain", "a,b", `"quoted"`, `x""y`, "trailing,", ",", `"`, "tab\there",
		"ünïcödé, ok", `C:\path\file`, " leading space", "bad\xffutf8",
	}
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, protolog.Receive, clk, nil)
	s := w.Session(`SRV\Frontend, "Main"`, "[::1]:25", "127.0.0.1:4000")
	for _, v := range values {
		s.Info(v, v)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, r := readAll(t, filepath.Join(dir, testkit.FileNames(t, dir)[0]))
	if r.Malformed() != 0 || len(recs) != len(values) {
		t.Fatalf("%d records, %d malformed", len(recs), r.Malformed())
	}
	for i, v := range values {
		rec := recs[i]
		if rec.Data != v || rec.Context != v || rec.Seq != i || rec.ConnectorID != `SRV\Frontend, "Main"` ||
			rec.Local != "[::1]:25" || rec.SessionID != s.ID() {
			t.Errorf("value %q read back as %+v", v, rec)
		}
	}
}
