package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// stepClock is a clock that moves one millisecond per reading.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// writeReceiveLog writes two sessions with protolog's writer: an early one
// from 127.0.0.9 and a TLS session from 127.0.0.2 with a certificate, a
// comma in a field and a domain-secure verdict.
func writeReceiveLog(t *testing.T, logDir string, clock *stepClock) (split time.Time) {
	t.Helper()
	w, err := protolog.NewWriter(protolog.Options{Dir: filepath.Join(logDir, "ProtocolLog", "SmtpReceive"), Kind: protolog.Receive, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	early := w.Session(`SERVER1\Default Frontend SERVER1`, "127.0.0.1:25", "127.0.0.9:4000")
	early.Connect()
	early.Sent("220 hello")
	early.Disconnect("Local")
	split = clock.now()
	s := w.Session(`SERVER1\Inbound from Office 365`, "127.0.0.1:25", "127.0.0.2:5000")
	s.Connect()
	s.Info("SMTPSubmit", "Set Session Permissions")
	s.Received("STARTTLS")
	s.Certificate("Sending certificate", "CN=mail.contoso.com, O=Contoso", "CN=Contoso Lab CA", "01AB", "ABCDEF0123456789ABCDEF0123456789ABCDEF01", []string{"mail.contoso.com", "autodiscover.contoso.com"})
	s.Info("", "TLS protocol TLS 1.3 negotiation succeeded using TLS_AES_128_GCM_SHA256")
	s.Certificate("Received certificate", "CN=mail.protection.outlook.com", "CN=Contoso Lab CA", "02", "0123456789ABCDEF0123456789ABCDEF01234567", []string{"mail.protection.outlook.com"})
	s.Info("", "TlsDomainCapabilities='None'; Status='Success'; Domain='mail.protection.outlook.com'")
	s.Info("SMTPSubmit SMTPAcceptAnySender", "Set Session Permissions")
	s.Info("ID1;<lab-1@x>;1", "receiving message")
	s.Sent("250 2.6.0 <lab-1@x> [InternalId=ID1, Hostname=mail.contoso.com] Queued mail for delivery")
	s.Disconnect("Local")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return split
}

func TestReadSessionsAndTLSLines(t *testing.T) {
	logDir := t.TempDir()
	clock := &stepClock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	split := writeReceiveLog(t, logDir, clock)

	all, err := readSessions(logDir, "SmtpReceive", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].remoteIP() != "127.0.0.9" || all[1].remoteIP() != "127.0.0.2" {
		t.Fatalf("sessions: %+v", all)
	}
	later, err := readSessions(logDir, "SmtpReceive", split)
	if err != nil {
		t.Fatal(err)
	}
	if len(later) != 1 || later[0].Connector != `SERVER1\Inbound from Office 365` {
		t.Fatalf("since filter kept %d sessions", len(later))
	}
	s := later[0]
	if got := sessionsFrom(all, "127.0.0.2", "Inbound from Office 365"); len(got) != 1 || got[0] != all[1] {
		t.Errorf("sessionsFrom = %v", got)
	}
	if got := sessionsFrom(all, "127.0.0.2", "Default Frontend SERVER1"); len(got) != 0 {
		t.Errorf("sessionsFrom with another connector = %v", got)
	}
	if sessionWith(all, "lab-1@x") != all[1] || sessionWith(all, "lab-2@x") != nil {
		t.Error("sessionWith does not find by Message-ID")
	}

	sent, ok := s.certificate("Sending certificate")
	if !ok || sent.Subject != "CN=mail.contoso.com, O=Contoso" || sent.Thumbprint != "ABCDEF0123456789ABCDEF0123456789ABCDEF01" {
		t.Errorf("sending certificate = %+v, %v", sent, ok)
	}
	got, ok := s.certificate("Received certificate")
	if !ok || got.Thumbprint != "0123456789ABCDEF0123456789ABCDEF01234567" {
		t.Errorf("received certificate = %+v, %v", got, ok)
	}

	// Every formatted record is the line as the writer wrote it.
	raw, err := os.ReadFile(onlyLog(t, filepath.Join(logDir, "ProtocolLog", "SmtpReceive")))
	if err != nil {
		t.Fatal(err)
	}
	var fileLines []string
	for _, l := range strings.Split(string(raw), "\r\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			fileLines = append(fileLines, l)
		}
	}
	var formatted []string
	for _, sess := range all {
		for i := range sess.Records {
			formatted = append(formatted, formatRecord(&sess.Records[i]))
		}
	}
	if !slices.Equal(formatted, fileLines) {
		t.Errorf("formatted records differ from the file:\n%s\n---\n%s", strings.Join(formatted, "\n"), strings.Join(fileLines, "\n"))
	}

	// tlsLines: both certificate blocks, the negotiation, the verdict and
	// the permissions after TLS; not the commands, not the permissions
	// before TLS, not the message lines.
	var contexts []string
	for _, l := range s.tlsLines() {
		contexts = append(contexts, l[strings.LastIndexByte(l, ',')+1:])
	}
	want := []string{
		"Sending certificate", "Certificate subject", "Certificate issuer name", "Certificate serial number", "Certificate thumbprint", "Certificate alternate names",
		"TLS protocol TLS 1.3 negotiation succeeded using TLS_AES_128_GCM_SHA256",
		"Received certificate", "Certificate subject", "Certificate issuer name", "Certificate serial number", "Certificate thumbprint", "Certificate alternate names",
		"TlsDomainCapabilities='None'; Status='Success'; Domain='mail.protection.outlook.com'",
		"Set Session Permissions",
	}
	if !slices.Equal(contexts, want) {
		t.Errorf("tlsLines contexts:\n%s\nwant:\n%s", strings.Join(contexts, "\n"), strings.Join(want, "\n"))
	}
	if got := s.lines('>', "250 2.6.0"); len(got) != 1 || !strings.Contains(got[0], "InternalId=ID1") {
		t.Errorf("lines('>', 250 2.6.0) = %v", got)
	}
}

func onlyLog(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "RECV*.LOG"))
	if err != nil || len(files) != 1 {
		t.Fatalf("log files in %s: %v %v", dir, files, err)
	}
	return files[0]
}

func TestFormatRecord(t *testing.T) {
	tests := []struct {
		name string
		rec  protolog.Record
		want string
	}{
		{"plain", protolog.Record{DateTime: "2026-01-01T00:00:00.000Z", ConnectorID: `S\C`, SessionID: "0A", Seq: 3, Local: "1.2.3.4:25", Remote: "5.6.7.8:9", Event: '*', Data: "CN=SERVER1", Context: "Certificate subject"},
			`2026-01-01T00:00:00.000Z,S\C,0A,3,1.2.3.4:25,5.6.7.8:9,*,CN=SERVER1,Certificate subject`},
		{"comma quoted", protolog.Record{Event: '*', Data: "CN=a, O=b", Context: "Certificate subject"},
			`,,,0,,,*,"CN=a, O=b",Certificate subject`},
		{"quote doubled", protolog.Record{Event: '>', Data: `530 5.7.1 "x"`},
			`,,,0,,,>,"530 5.7.1 ""x""",`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatRecord(&tc.rec); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestLaterOutcomes(t *testing.T) {
	evs := []tracking.Event{{EventID: "RECEIVE"}, {EventID: "DEFER"}, {EventID: "DEFER"}, {EventID: "SEND"}, {EventID: "DSN"}}
	tests := []struct {
		after int
		want  []string
	}{
		{0, []string{"DEFER", "DEFER", "SEND"}},
		{1, []string{"DEFER", "SEND"}},
		{2, []string{"SEND"}},
		{3, nil},
	}
	for _, tc := range tests {
		var got []string
		for _, e := range laterOutcomes(evs, tc.after) {
			got = append(got, e.EventID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("after %d: %v, want %v", tc.after, got, tc.want)
		}
	}
	if n := outcomes(evs); n != 3 {
		t.Errorf("outcomes = %d, want 3", n)
	}
	if e, ok := lastEvent(evs, "DEFER", "SEND"); !ok || e.EventID != "SEND" {
		t.Errorf("lastEvent = %v %v", e, ok)
	}
}
