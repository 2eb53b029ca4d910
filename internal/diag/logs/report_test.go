package logs

// Tests of the analyzer's limits and inputs, the progress bar, the report
// outputs and the log generator.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sessions whose '-' line never comes are concluded once more than
// MaxOpenSessions are open; counts stay right and the report says so.
func TestSessionEviction(t *testing.T) {
	l := newTestLog("SMTP Receive Protocol Log")
	t0 := time.Date(2025, 5, 2, 9, 0, 0, 0, time.UTC)
	const n = 20
	for i := range n {
		// No '-' line: each session stays open until evicted.
		l.line(t0.Add(time.Duration(i)*time.Second), `EX1\Default Frontend EX1`, fmt.Sprintf("S%03d", i), 0, "40.107.22.75:1000", '+', "", "")
		l.line(t0.Add(time.Duration(i)*time.Second), `EX1\Default Frontend EX1`, fmt.Sprintf("S%03d", i), 1, "40.107.22.75:1000", '<', "EHLO a.example", "")
		l.line(t0.Add(time.Duration(i)*time.Second), `EX1\Default Frontend EX1`, fmt.Sprintf("S%03d", i), 2, "40.107.22.75:1000", '>', "250-EX1 Hello", "")
		l.line(t0.Add(time.Duration(i)*time.Second), `EX1\Default Frontend EX1`, fmt.Sprintf("S%03d", i), 3, "40.107.22.75:1000", '>', "250 STARTTLS", "")
	}
	a := NewAnalyzer(Options{MaxOpenSessions: 4, Now: fixedNow("2025-06-01T00:00:00Z")})
	if err := a.ReadLog("evict.LOG", strings.NewReader(l.String())); err != nil {
		t.Fatal(err)
	}
	if got := len(a.proto.sessions); got > 4 {
		t.Errorf("%d sessions open, bound is 4", got)
	}
	r := a.Report()
	c := r.Connectors[0]
	if c.Sessions != n || c.EHLOSessions != n || c.StartTLSOffered != n {
		t.Errorf("sessions %d, ehlo %d, offered %d; want %d each", c.Sessions, c.EHLOSessions, c.StartTLSOffered, n)
	}
	if r.Limits.SessionsConcludedEarly == 0 || r.Limits.SessionsConcludedEarly >= n {
		t.Errorf("concluded early = %d", r.Limits.SessionsConcludedEarly)
	}
	if err := a.ReadLog("late.LOG", strings.NewReader("")); err == nil {
		t.Error("ReadLog after Report succeeded")
	}
}

func TestAnalyzeUnreadableInputs(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(garbage, []byte("\"unterminated\n\"again\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badGzip := filepath.Join(dir, "RECV2025050209-1.LOG")
	if err := os.WriteFile(badGzip, []byte{0x1f, 0x8b, 0, 1, 2}, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"empty directory", empty, "no log files"},
		{"not a log", garbage, "no log records"},
		{"broken gzip", badGzip, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Analyze([]string{tt.path, subjectMismatchLog}, Options{Now: fixedNow("2025-06-01T00:00:00Z")})
			if r.ExitCode() != 2 {
				t.Errorf("exit code %d, want 2", r.ExitCode())
			}
			var bad *File
			for i := range r.Files {
				if r.Files[i].Error != "" {
					bad = &r.Files[i]
				}
			}
			if bad == nil || !strings.Contains(bad.Error, tt.want) {
				t.Fatalf("files = %+v, want an error with %q", r.Files, tt.want)
			}
			// The readable input is still analysed.
			if len(r.Connectors) != 1 || r.Connectors[0].Sessions != 2 {
				t.Errorf("the SubjectMismatch log was not analysed alongside: %+v", r.Connectors)
			}
		})
	}
	if r := Analyze(nil, Options{}); r.ExitCode() != 2 {
		t.Errorf("no inputs: exit %d, want 2", r.ExitCode())
	}
}

func TestDetectLogKind(t *testing.T) {
	tests := []struct {
		name, file, head, want string
	}{
		{"receive header", "x.log", "#Log-type: SMTP Receive Protocol Log\n", LogKindReceive},
		{"send header", "x.log", "\xEF\xBB\xBF#Software: Microsoft Exchange Server\r\n#Log-type: SMTP Send Protocol Log\r\n", LogKindSend},
		{"tracking header, Exchange's case", "x.log", "#Log-Type: Message Tracking Log\n", LogKindTracking},
		{"tracking by fields", "x.log", "#Fields: date-time,client-ip,event-id\n", LogKindTracking},
		{"send by file name", "SEND2025050209-1.LOG", "2025-05-02T09:00:00.000Z,c,s,0,l,r,+,,\n", LogKindSend},
		{"tracking by file name", "/x/MSGTRKMD2025050209-1.LOG", "", LogKindTracking},
		{"header-less defaults to receive", "paste.txt", "2017-04-14T17:00:41.125Z,S\\C,ID,20,,,*,,Sending certificate\n", LogKindReceive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := detectLogKind(tt.file, []byte(tt.head)); got != tt.want {
				t.Errorf("detectLogKind = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLogCertHasName(t *testing.T) {
	cert := &logCert{subject: "CN=mail.contoso.com, O=\"Contoso, Ltd\", C=US", sans: []string{"autodiscover.contoso.com", "*.mail.contoso.com", "DNS Name=legacy.contoso.com"}}
	bare := &logCert{subject: "CN=SERVER1", sans: []string{"SERVER1", "SERVER1.contoso.local"}}
	tests := []struct {
		cert *logCert
		name string
		want bool
	}{
		{cert, "mail.contoso.com", true},
		{cert, "MAIL.contoso.com.", true},
		{cert, "autodiscover.contoso.com", true},
		{cert, "eu.mail.contoso.com", true}, // SAN wildcard
		{cert, "a.b.mail.contoso.com", false},
		{cert, "legacy.contoso.com", true},
		{cert, "contoso.com", false},
		{cert, "*.contoso.com", true},      // mail.contoso.com is one host under it
		{cert, "*.mail.contoso.com", true}, // the same wildcard
		{cert, "*.fabrikam.com", false},
		{bare, "mail.contoso.com", false},
		{bare, "server1", true},
		{bare, "SERVER1.contoso.local", true},
	}
	for _, tt := range tests {
		if got := logCertHasName(tt.cert, tt.name); got != tt.want {
			t.Errorf("%s has %q = %v, want %v", tt.cert.subject, tt.name, got, tt.want)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2025, 5, 2, 9, 0, 0, 0, time.UTC)
	bar := NewProgressBar(&out, func() time.Time { return now })
	bar.Update(Progress{File: "/logs/RECV2025050209-1.LOG", FilesDone: 0, Files: 2, BytesDone: 50 << 20, BytesTotal: 100 << 20})
	first := out.String()
	if !strings.HasPrefix(first, "\r[===============               ]  50% 50.0 MiB/100.0 MiB, file 1 of 2 RECV2025050209-1.LOG") {
		t.Errorf("bar = %q", first)
	}
	now = now.Add(10 * time.Millisecond)
	bar.Update(Progress{File: "x", BytesDone: 60 << 20, BytesTotal: 100 << 20, Files: 2})
	if out.String() != first {
		t.Errorf("redrawn within the interval: %q", out.String())
	}
	now = now.Add(time.Second)
	bar.Update(Progress{File: "x", FilesDone: 1, BytesDone: 100 << 20, BytesTotal: 100 << 20, Files: 2})
	if !strings.Contains(out.String(), "100%") {
		t.Errorf("bar = %q", out.String())
	}
	bar.Update(Progress{Finished: true})
	if !strings.HasSuffix(out.String(), "\r\033[K") {
		t.Errorf("bar not erased at the end: %q", out.String())
	}
}

func TestAnalyzeLogsReportsProgress(t *testing.T) {
	var calls []Progress
	r := analyze(t, Options{Progress: func(p Progress) { calls = append(calls, p) }}, subjectMismatchLog, trackingLog)
	if len(r.Files) != 2 || len(calls) < 3 {
		t.Fatalf("files %d, progress calls %d", len(r.Files), len(calls))
	}
	last := calls[len(calls)-1]
	if !last.Finished || last.FilesDone != 2 || last.BytesDone != last.BytesTotal || last.BytesTotal == 0 {
		t.Errorf("last progress = %+v", last)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].BytesDone < calls[i-1].BytesDone {
			t.Errorf("progress went backwards: %+v then %+v", calls[i-1], calls[i])
		}
	}
}

func TestReportOutputs(t *testing.T) {
	for _, tc := range []struct {
		golden string
		paths  []string
	}{
		{"subjectmismatch.golden", []string{subjectMismatchLog}},
		// The tracking part is left out: its titles and fixes are
		// explain's text, asserted in TestAnalyzeTracking.
		{"half.golden", []string{halfDir}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			r := analyze(t, Options{Expect: []string{"mail.contoso.com"}}, tc.paths...)
			var text bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tc.golden)
			if logsUpdateGolden() {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, text.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestReportOutputs -update to create it)", err)
			}
			if !bytes.Equal(text.Bytes(), want) {
				t.Errorf("text report differs from %s (rerun with -update after checking):\n%s", path, text.String())
			}

			var js bytes.Buffer
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatalf("JSON does not parse: %v", err)
			}
			if len(back.Findings) != len(r.Findings) || len(back.Connectors) != len(r.Connectors) || back.Findings[0].Summary != r.Findings[0].Summary {
				t.Errorf("JSON round trip lost data")
			}
			if !strings.Contains(js.String(), `"kind": "certificate-name-mismatch"`) {
				t.Errorf("JSON lacks the finding kind:\n%s", js.String())
			}
		})
	}
}

func TestGenerateProtocolLog(t *testing.T) {
	var a, b bytes.Buffer
	if err := GenerateProtocolLog(&a, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := GenerateProtocolLog(&b, 1<<20); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("generator output is not deterministic")
	}
	if a.Len() < 1<<20 || a.Len() > 1<<20+64<<10 {
		t.Errorf("generated %d bytes for 1 MiB", a.Len())
	}
	an := NewAnalyzer(Options{Expect: []string{"mail.contoso.com"}, Now: fixedNow("2025-06-01T00:00:00Z")})
	if err := an.ReadLog("gen.LOG", bytes.NewReader(a.Bytes())); err != nil {
		t.Fatal(err)
	}
	r := an.Report()
	if r.Files[0].Malformed != 0 || len(r.Connectors) != 2 {
		t.Fatalf("malformed %d, connectors %d", r.Files[0].Malformed, len(r.Connectors))
	}
	if len(r.Findings) != 0 {
		t.Errorf("a healthy generated log has findings: %v", findingKinds(r))
	}
	for _, c := range r.Connectors {
		if c.Sessions < 100 || c.StartTLSUsed == 0 || len(c.Certificates) != 1 || len(c.TLSFailures) != 1 || c.TLSFailures[0].Error != "SocketError" {
			t.Errorf("connector %s = sessions %d, used %d, certificates %d, failures %v", c.Connector, c.Sessions, c.StartTLSUsed, len(c.Certificates), c.TLSFailures)
		}
		if c.Certificates[0].Count != c.TLSNegotiated+c.TLSFailures[0].Count {
			t.Errorf("%s: certificate sent %d times, handshakes %d+%d", c.Connector, c.Certificates[0].Count, c.TLSNegotiated, c.TLSFailures[0].Count)
		}
	}
	if r.Limits != (Limits{}) {
		t.Errorf("limits reached: %+v", r.Limits)
	}
}
