package tracking_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

var t0 = time.Date(2017, 4, 14, 17, 0, 41, 125e6, time.UTC)

const sendDetail = "{LED=450 4.7.320 Certificate validation failed [Message=SubjectMismatch] [LastAttemptedServerName=mail.contoso.com] [LastAttemptedIP=1.2.3.4:25] [SERVER1]};{MSG=SubjectMismatch};{FQDN=mail.contoso.com};{IP=1.2.3.4};{LRT=11/1/2017 12:12:45 PM}"

func newWriter(t *testing.T, clk *testkit.Clock, mutate func(*tracking.Options)) (*tracking.Writer, string) {
	t.Helper()
	dir := t.TempDir()
	o := tracking.Options{Dir: dir, Now: clk.Now, FlushInterval: time.Hour}
	if mutate != nil {
		mutate(&o)
	}
	w, err := tracking.NewWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, dir
}

func readEvents(t *testing.T, path string) ([]tracking.Event, *tracking.Reader) {
	t.Helper()
	rc, err := tracking.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := tracking.NewReader(rc)
	var out []tracking.Event
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

// fullEvent sets every field, with the values that stress the format.
func fullEvent(at time.Time) tracking.Event {
	return tracking.Event{
		Time: at, ClientIP: "155.39.36.248", ClientHostname: "NAM01.outbound.protection.outlook.com",
		ServerIP: "172.20.102.10", ServerHostname: "SERVER1", SourceContext: "08D479E14521204D;2017-04-14T17:00:41.000Z;0",
		ConnectorID: `SERVER1\Default Frontend SERVER1`, Source: tracking.SourceSMTP, EventID: tracking.EventDefer,
		InternalMessageID: "41223", MessageID: "<a1b2c3@contoso.com>", NetworkMessageID: "6a638d20-1e63-493a-80a2-08d479e14521",
		Recipients:      []string{"alice@contoso.com", "bob@contoso.com"},
		RecipientStatus: []string{sendDetail, "250 2.1.5 Recipient OK"},
		TotalBytes:      6837, RecipientCount: 2, RelatedRecipient: "carol@contoso.com", Reference: "<ref@x>",
		Subject: `Re: "numbers", Q1` + "\r\nsecond line", Sender: "dave@fabrikam.com", ReturnPath: "bounces@fabrikam.com",
		MessageInfo: "2017-04-14T17:00:40.000Z;SRV=SERVER1", Directionality: "Incoming", TenantID: "t-1",
		OriginalClientIP: "10.0.0.9", OriginalServerIP: "10.0.0.10", CustomData: "S:DeliveryPriority=Normal;S:AccountForest=contoso.com",
		TransportTrafficType: "Email", LogID: "f00d", SchemaVersion: "15.00.1263.000",
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, clk, nil)
	in := fullEvent(t0)
	w.Log(in)
	minimal := tracking.Event{EventID: tracking.EventReceive, Source: tracking.SourceSMTP} // zero time and schema
	w.Log(minimal)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names := testkit.FileNames(t, dir)
	if !slices.Equal(names, []string{"MSGTRK2017041417-1.LOG"}) {
		t.Fatalf("files %v", names)
	}
	got, r := readEvents(t, filepath.Join(dir, names[0]))
	if r.Malformed() != 0 || len(got) != 2 {
		t.Fatalf("%d events, %d malformed", len(got), r.Malformed())
	}
	if r.LogType() != "Message Tracking Log" {
		t.Errorf("LogType = %q", r.LogType())
	}
	want := in
	want.Subject = `Re: "numbers", Q1` + "  second line" // CR LF become spaces
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("round trip\n got %+v\nwant %+v", got[0], want)
	}
	if !got[1].Time.Equal(t0) || got[1].SchemaVersion != tracking.DefaultVersion || got[1].Recipients != nil || got[1].RecipientStatus != nil {
		t.Errorf("defaults not applied: %+v", got[1])
	}
}

func TestWriterHeaderExactly(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, clk, func(o *tracking.Options) { o.Version = "15.1.2507.6" })
	w.Log(tracking.Event{Time: t0, EventID: "RECEIVE"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(dir, "MSGTRK2017041417-1.LOG"))
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "#Software: Microsoft Exchange Server\r\n#Version: 15.1.2507.6\r\n#Log-type: Message Tracking Log\r\n" +
		"#Date: 2017-04-14T17:00:41.125Z\r\n" +
		"#Fields: date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,connector-id,source,event-id,internal-message-id,message-id,network-message-id,recipient-address,recipient-status,total-bytes,recipient-count,related-recipient-address,reference,message-subject,sender-address,return-path,message-info,directionality,tenant-id,original-client-ip,original-server-ip,custom-data,transport-traffic-type,log-id,schema-version\r\n"
	wantLine := "2017-04-14T17:00:41.125Z,,,,,,,,RECEIVE,,,,,,0,0,,,,,,,,,,,,,,15.1.2507.6\r\n"
	if string(body) != wantHeader+wantLine {
		t.Fatalf("file\n%q\nwant\n%q", body, wantHeader+wantLine)
	}
}

func TestDeferDetailQuotedOnDisk(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, clk, nil)
	detail := "{LED=451 4.4.0 Primary target IP address responded with: \"454 4.7.5 no cert, sorry\"};{FQDN=mail.contoso.com};{IP=1.2.3.4}"
	w.Log(tracking.Event{Time: t0, EventID: tracking.EventDefer, Recipients: []string{"a@contoso.com"}, RecipientStatus: []string{detail}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "MSGTRK2017041417-1.LOG")
	body, _ := os.ReadFile(path)
	wantField := `"[{LED=451 4.4.0 Primary target IP address responded with: ""454 4.7.5 no cert, sorry""};{FQDN=mail.contoso.com};{IP=1.2.3.4}]"`
	if !strings.Contains(string(body), ","+wantField+",") {
		t.Fatalf("recipient-status not written as %s:\n%s", wantField, body)
	}
	got, _ := readEvents(t, path)
	if len(got) != 1 || !slices.Equal(got[0].RecipientStatus, []string{detail}) {
		t.Fatalf("read back %q", got[0].RecipientStatus)
	}
}

func TestRotationBySizeAndHour(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, clk, func(o *tracking.Options) { o.MaxFileSize = 4000 })
	for i := 0; i < 12; i++ {
		w.Log(fullEvent(clk.Now()))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	w.Log(fullEvent(clk.Now()))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names := testkit.FileNames(t, dir)
	if len(names) < 3 || names[0] != "MSGTRK2017041417-1.LOG" || names[1] != "MSGTRK2017041417-2.LOG" || names[len(names)-1] != "MSGTRK2017041418-1.LOG" {
		t.Fatalf("files %v", names)
	}
	total := 0
	for _, n := range names {
		info, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > 4000 {
			t.Errorf("%s is %d bytes", n, info.Size())
		}
		evs, r := readEvents(t, filepath.Join(dir, n))
		if r.Malformed() != 0 {
			t.Errorf("%s has %d malformed lines", n, r.Malformed())
		}
		total += len(evs)
	}
	if total != 13 {
		t.Fatalf("%d events, want 13", total)
	}
}

func TestNilWriterAndLogAfterClose(t *testing.T) {
	var nilW *tracking.Writer
	nilW.Log(tracking.Event{})
	if nilW.Flush() != nil || nilW.Close() != nil || nilW.Dropped() != 0 {
		t.Fatal("nil Writer not inert")
	}
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, clk, nil)
	w.Log(tracking.Event{Time: t0, EventID: "RECEIVE"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Log(tracking.Event{Time: t0, EventID: "SEND"})
	got, _ := readEvents(t, filepath.Join(dir, testkit.FileNames(t, dir)[0]))
	if len(got) != 1 || got[0].EventID != "RECEIVE" {
		t.Fatalf("events %+v", got)
	}
	if _, err := tracking.NewWriter(tracking.Options{}); err == nil {
		t.Fatal("NewWriter without Dir succeeded")
	}
}

func TestReadExchangeFixture(t *testing.T) {
	got, r := readEvents(t, "testdata/MSGTRK2017041417-1.LOG")
	if r.Malformed() != 0 || len(got) != 4 {
		t.Fatalf("%d events, %d malformed", len(got), r.Malformed())
	}
	deferred := got[1]
	if deferred.EventID != "DEFER" || deferred.ConnectorID != "Outbound to Office 365" || len(deferred.RecipientStatus) != 1 ||
		!strings.HasPrefix(deferred.RecipientStatus[0], "{LRT=4/14/2017 5:07:17 PM};{LED=450 4.7.320 Certificate validation failed") {
		t.Errorf("DEFER read as %+v", deferred)
	}
	if got[0].Subject != `Quarterly numbers, draft "v2"` || got[0].TotalBytes != 6837 || got[0].CustomData == "" {
		t.Errorf("RECEIVE read as %+v", got[0])
	}
	sent := got[3]
	if !slices.Equal(sent.Recipients, []string{"carol@fabrikam.com", "dave@fabrikam.com"}) ||
		!slices.Equal(sent.RecipientStatus, []string{"250 2.1.5 Recipient OK", "250 2.1.5 Recipient OK"}) || sent.RecipientCount != 2 {
		t.Errorf("SEND read as %+v", sent)
	}
}

func TestReaderColumnsAnyOrderAndMalformed(t *testing.T) {
	input := "#Fields: event-id,date-time,recipient-address,unknown,total-bytes\n" +
		"SEND,2017-04-14T17:00:41.125Z,a@x;b@y,zz,12\n" +
		"SEND,not-a-time,a@x,zz,1\n" + // bad time: skipped
		"SEND,2017-04-14T17:00:42.125Z,a@x,zz,lots\n" + // bad number: kept as 0
		"SEND,2017-04-14T17:00:42.125Z,a@x\n" // short: skipped
	r := tracking.NewReader(strings.NewReader(input))
	var got []tracking.Event
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 2 || r.Malformed() != 2 {
		t.Fatalf("%d events, %d malformed", len(got), r.Malformed())
	}
	if got[0].EventID != "SEND" || got[0].TotalBytes != 12 || !slices.Equal(got[0].Recipients, []string{"a@x", "b@y"}) {
		t.Errorf("first %+v", got[0])
	}
	if got[1].TotalBytes != 0 {
		t.Errorf("unparsable total-bytes read as %d", got[1].TotalBytes)
	}
}

func TestReadGzip(t *testing.T) {
	plain, err := os.ReadFile("testdata/MSGTRK2017041417-1.LOG")
	if err != nil {
		t.Fatal(err)
	}
	zipped := testkit.Gzip(t, plain)
	path := filepath.Join(t.TempDir(), "MSGTRK2017041417-1.LOG.gz")
	if err := os.WriteFile(path, zipped, 0o600); err != nil {
		t.Fatal(err)
	}
	a, _ := readEvents(t, path)
	b, _ := readEvents(t, "testdata/MSGTRK2017041417-1.LOG")
	if len(a) != 4 || !reflect.DeepEqual(a, b) {
		t.Fatalf("gzip %d events, plain %d", len(a), len(b))
	}
}
