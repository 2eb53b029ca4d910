package protolog_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

var t0 = time.Date(2017, 4, 14, 17, 0, 41, 125e6, time.UTC)

// newWriter returns a writer whose background flusher will not fire during
// the test (tests flush explicitly).
func newWriter(t *testing.T, kind protolog.Kind, clk *testkit.Clock, mutate func(*protolog.Options)) (*protolog.Writer, string) {
	t.Helper()
	dir := t.TempDir()
	o := protolog.Options{Dir: dir, Kind: kind, Now: clk.Now, FlushInterval: time.Hour}
	if mutate != nil {
		mutate(&o)
	}
	w, err := protolog.NewWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, dir
}

func readAll(t *testing.T, path string) ([]protolog.Record, *protolog.Reader) {
	t.Helper()
	rc, err := protolog.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := protolog.NewReader(rc)
	var out []protolog.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec.Clone())
	}
}

func TestWriterExactFormat(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, protolog.Receive, clk, nil)
	s := w.Session(`SERVER1\Default Frontend SERVER1`, "172.20.102.10:25", "155.39.36.248:30648")
	s.Connect()
	s.Sent("220 SERVER1.contoso.com Microsoft ESMTP MAIL Service ready at Fri, 14 Apr 2017 17:00:40 +0000")
	clk.Advance(12 * time.Millisecond)
	s.Received("EHLO NAM01.outbound.protection.outlook.com")
	s.Certificate("Sending certificate", "CN=SERVER1", "CN=SERVER1", "1234567890ABCDEF1234567890ABCDEF",
		"9876534210FEDCBA9876534210FEDCBA12345678", []string{"SERVER1"})
	s.Info(`quote " and, comma`, "multi\r\nline")
	s.Disconnect("Remote(SocketError)")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := testkit.FileNames(t, dir)
	if !slices.Equal(files, []string{"RECV2017041417-1.LOG"}) {
		t.Fatalf("files %v", files)
	}
	body, err := os.ReadFile(filepath.Join(dir, files[0]))
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	p := `2017-04-14T17:00:41.125Z,SERVER1\Default Frontend SERVER1,` + id + ","
	q := `2017-04-14T17:00:41.137Z,SERVER1\Default Frontend SERVER1,` + id + ","
	ep := ",172.20.102.10:25,155.39.36.248:30648,"
	want := "#Software: Microsoft Exchange Server\r\n" +
		"#Version: 15.0.0.0\r\n" +
		"#Log-type: SMTP Receive Protocol Log\r\n" +
		"#Date: 2017-04-14T17:00:41.137Z\r\n" + // file created at the flush on Close
		"#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n" +
		p + "0" + ep + "+,,\r\n" +
		p + "1" + ep + `>,"220 SERVER1.contoso.com Microsoft ESMTP MAIL Service ready at Fri, 14 Apr 2017 17:00:40 +0000",` + "\r\n" +
		q + "2" + ep + "<,EHLO NAM01.outbound.protection.outlook.com,\r\n" +
		q + "3" + ep + "*,,Sending certificate\r\n" +
		q + "4" + ep + "*,CN=SERVER1,Certificate subject\r\n" +
		q + "5" + ep + "*,CN=SERVER1,Certificate issuer name\r\n" +
		q + "6" + ep + "*,1234567890ABCDEF1234567890ABCDEF,Certificate serial number\r\n" +
		q + "7" + ep + "*,9876534210FEDCBA9876534210FEDCBA12345678,Certificate thumbprint\r\n" +
		q + "8" + ep + "*,SERVER1;,Certificate alternate names\r\n" +
		q + "9" + ep + `*,"quote "" and, comma",multi  line` + "\r\n" +
		q + "10" + ep + "-,,Remote(SocketError)\r\n"
	if string(body) != want {
		t.Fatalf("file content:\n%s\nwant:\n%s", body, want)
	}
}

func TestSendLogHeaderAndName(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, protolog.Send, clk, func(o *protolog.Options) { o.Version = "15.1.2507.6" })
	s := w.Session("Outbound to Office 365", "10.0.0.5:50123", "40.107.22.33:25")
	s.Sent("EHLO mail.contoso.com")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	files := testkit.FileNames(t, dir)
	if !slices.Equal(files, []string{"SEND2017041417-1.LOG"}) {
		t.Fatalf("files %v", files)
	}
	recs, r := readAll(t, filepath.Join(dir, files[0]))
	if r.LogType() != "SMTP Send Protocol Log" {
		t.Errorf("LogType = %q", r.LogType())
	}
	if k, ok := r.Kind(); !ok || k != protolog.Send {
		t.Errorf("Kind = %v, %v", k, ok)
	}
	if len(recs) != 1 || recs[0].ConnectorID != "Outbound to Office 365" || recs[0].Event != '>' {
		t.Fatalf("records %+v", recs)
	}
	body, _ := os.ReadFile(filepath.Join(dir, files[0]))
	if !strings.Contains(string(body), "#Version: 15.1.2507.6\r\n") {
		t.Errorf("version header missing: %q", body)
	}
}

func TestSessionIDs(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, _ := newWriter(t, protolog.Receive, clk, nil)
	// .NET ticks for t0, the scheme behind Exchange's session ids such as
	// 08D479E14521204D in the published April 2017 SubjectMismatch log.
	ticks := uint64(t0.UnixNano()/100) + 621355968000000000
	var prev uint64
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := w.Session("c", "l", "r").ID()
		if len(id) != 16 || strings.ToUpper(id) != id {
			t.Fatalf("id %q is not 16 upper-case hex digits", id)
		}
		v, err := strconv.ParseUint(id, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && v != ticks+1 {
			t.Fatalf("first id %s = %d, want ticks+1 = %d", id, v, ticks+1)
		}
		if v <= prev || seen[id] {
			t.Fatalf("id %s not increasing or repeated", id)
		}
		prev = v
		seen[id] = true
	}
	if !strings.HasPrefix(w.Session("c", "l", "r").ID(), "08D4") {
		t.Error("2017 ids should share the 08D4 prefix of Exchange's April 2017 ids")
	}
}

func TestSequencePerSession(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, protolog.Receive, clk, nil)
	a := w.Session("c", "l", "ra")
	b := w.Session("c", "l", "rb")
	a.Connect()
	b.Connect()
	a.Received("EHLO a")
	b.Received("EHLO b")
	b.Disconnect("Local")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, _ := readAll(t, filepath.Join(dir, testkit.FileNames(t, dir)[0]))
	seqs := map[string][]int{}
	for _, r := range recs {
		seqs[r.Remote] = append(seqs[r.Remote], r.Seq)
	}
	if !slices.Equal(seqs["ra"], []int{0, 1}) || !slices.Equal(seqs["rb"], []int{0, 1, 2}) {
		t.Fatalf("sequences %v", seqs)
	}
}

func TestNilWriterAndSession(t *testing.T) {
	var w *protolog.Writer
	s := w.Session("c", "l", "r")
	if s != nil {
		t.Fatal("nil Writer returned a Session")
	}
	// None of these may panic.
	s.Connect()
	s.Sent("x")
	s.Received("x")
	s.Info("x", "y")
	s.Certificate("Sending certificate", "a", "b", "c", "d", []string{"e"})
	s.Disconnect("Local")
	if s.ID() != "" || w.Dropped() != 0 || w.Flush() != nil || w.Close() != nil {
		t.Fatal("nil receivers must be inert")
	}
}

func TestSessionAfterClose(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, protolog.Receive, clk, nil)
	s := w.Session("c", "l", "r")
	s.Connect()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s.Sent("after close")
	w.Session("c", "l", "r2").Connect()
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	recs, _ := readAll(t, filepath.Join(dir, testkit.FileNames(t, dir)[0]))
	if len(recs) != 1 || recs[0].Event != '+' {
		t.Fatalf("records after close: %+v", recs)
	}
	if w.Dropped() != 0 {
		t.Fatalf("lines after Close counted as dropped: %d", w.Dropped())
	}
}

func TestReceivedCertificateSparse(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, protolog.Receive, clk, nil)
	s := w.Session("c", "l", "r")
	s.Certificate("Received certificate", "", "", "", "4C0FA622D0D66E777AA123B1AF123456F001AE23", nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, _ := readAll(t, filepath.Join(dir, testkit.FileNames(t, dir)[0]))
	var got [][2]string
	for _, r := range recs {
		got = append(got, [2]string{r.Data, r.Context})
	}
	want := [][2]string{{"", "Received certificate"}, {"4C0FA622D0D66E777AA123B1AF123456F001AE23", "Certificate thumbprint"}}
	if !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
}

func TestWriterRotatesBySizeAndHour(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, protolog.Receive, clk, func(o *protolog.Options) { o.MaxFileSize = 2048 })
	s := w.Session(`SRV\Default Frontend SRV`, "10.0.0.1:25", "10.0.0.2:40000")
	for i := 0; i < 40; i++ {
		s.Received("RCPT TO:<user" + strconv.Itoa(i) + "@contoso.com>")
	}
	clk.Advance(time.Hour)
	s.Received("QUIT")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := testkit.FileNames(t, dir)
	if len(files) < 3 || files[len(files)-1] != "RECV2017041418-1.LOG" || files[0] != "RECV2017041417-1.LOG" {
		t.Fatalf("files %v", files)
	}
	total := 0
	for _, f := range files {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > 2048 {
			t.Errorf("%s is %d bytes, over MaxFileSize", f, info.Size())
		}
		recs, r := readAll(t, filepath.Join(dir, f))
		if r.Malformed() != 0 {
			t.Errorf("%s: %d malformed lines", f, r.Malformed())
		}
		total += len(recs)
	}
	if total != 41 {
		t.Fatalf("%d records across files, want 41", total)
	}
}

func TestWriterDropsWhenBufferFull(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, protolog.Receive, clk, func(o *protolog.Options) { o.MaxPending = 300 })
	s := w.Session("c", "l", "r")
	for i := 0; i < 10; i++ {
		s.Received("NOOP " + strings.Repeat("x", 40))
	}
	dropped := w.Dropped()
	if dropped == 0 || dropped >= 10 {
		t.Fatalf("Dropped = %d, want some but not all of 10", dropped)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Received("QUIT") // room again after the flush
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, _ := readAll(t, filepath.Join(dir, testkit.FileNames(t, dir)[0]))
	if int64(len(recs))+dropped != 11 {
		t.Fatalf("%d written + %d dropped != 11", len(recs), dropped)
	}
	// Sequence numbers keep counting across drops, so the gap shows the loss.
	if last := recs[len(recs)-1]; last.Data != "QUIT" || last.Seq != 10 {
		t.Fatalf("last record %+v, want QUIT with seq 10", last)
	}
}

func TestNewWriterErrors(t *testing.T) {
	tests := []protolog.Options{
		{Kind: protolog.Receive},
		{Dir: t.TempDir(), Kind: protolog.Kind(7)},
	}
	for _, o := range tests {
		if w, err := protolog.NewWriter(o); err == nil {
			_ = w.Close()
			t.Errorf("NewWriter(%+v) succeeded", o)
		}
	}
}

func TestKindString(t *testing.T) {
	if protolog.Receive.String() != "Receive" || protolog.Send.String() != "Send" || protolog.Kind(9).String() != "Kind(9)" {
		t.Fatal("Kind.String")
	}
}
