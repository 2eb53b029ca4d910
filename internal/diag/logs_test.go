package diag

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/logfile"
	"github.com/mailflowhq/mailflow/internal/protolog"
)

const (
	seedLog         = "testdata/logs/seed000_RECV2017041417-1.LOG"
	seedGzipLog     = "testdata/logs/gzip/RECV2017041417-1.LOG.gz"
	exchange2019Log = "testdata/logs/exchange2019_RECV2023011115-1.LOG"
	halfDir         = "testdata/logs/half"
	noCredsLog      = "testdata/logs/nocredentials_SEND2025050210-1.LOG"
	noStartTLSLog   = "testdata/logs/nostarttls_RECV2025050211-1.LOG"
	trackingLog     = "testdata/logs/tracking_MSGTRK2025050209-1.LOG"

	seedConnector  = `SERVER1\Default Frontend SERVER1`
	seedThumbprint = "9876534210FEDCBA9876534210FEDCBA123456789"
)

// logsUpdateGolden reads the -update flag whichever test file registered it
// (explain_test.go does, conditionally).
func logsUpdateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func fixedNow(s string) func() time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return t }
}

func analyze(t *testing.T, opts LogOptions, paths ...string) *LogReport {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow("2025-06-01T00:00:00Z")
	}
	r := AnalyzeLogs(paths, opts)
	for _, f := range r.Files {
		if f.Error != "" {
			t.Fatalf("%s: %s", f.Path, f.Error)
		}
	}
	return r
}

func findingKinds(r *LogReport) []string {
	var kinds []string
	for _, f := range r.Findings {
		kinds = append(kinds, f.Kind)
	}
	return kinds
}

func findingOf(t *testing.T, r *LogReport, kind string) LogFinding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Kind == kind {
			return f
		}
	}
	t.Fatalf("no %s finding in %v", kind, findingKinds(r))
	return LogFinding{}
}

func connectorOf(t *testing.T, r *LogReport, name string) ConnectorSummary {
	t.Helper()
	for _, c := range r.Connectors {
		if c.Connector == name {
			return c
		}
	}
	t.Fatalf("no connector %q in the report", name)
	return ConnectorSummary{}
}

func mustTime(s string) time.Time {
	t, err := logfile.ParseTime(s)
	if err != nil {
		panic(err)
	}
	return t
}

// The first seed: Exchange Online connects, the Default Frontend connector
// presents the self-signed CN=SERVER1, Exchange Online hangs up.
func TestAnalyzeSeedSession(t *testing.T) {
	r := analyze(t, LogOptions{Expect: []string{"mail.contoso.com"}}, seedLog)

	if len(r.Files) != 1 || r.Files[0].Kind != LogKindReceive || r.Files[0].Records != 18 || r.Files[0].Malformed != 0 {
		t.Fatalf("files = %+v", r.Files)
	}
	if len(r.Connectors) != 1 {
		t.Fatalf("connectors = %d, want 1", len(r.Connectors))
	}
	c := r.Connectors[0]
	if c.Connector != seedConnector || c.Direction != "receive" {
		t.Errorf("connector = %q %s", c.Connector, c.Direction)
	}
	if c.Sessions != 2 || c.EHLOSessions != 1 || c.StartTLSOffered != 1 || c.StartTLSUsed != 1 || c.TLSNegotiated != 1 {
		t.Errorf("sessions %d, ehlo %d, offered %d, used %d, negotiated %d; want 2 1 1 1 1",
			c.Sessions, c.EHLOSessions, c.StartTLSOffered, c.StartTLSUsed, c.TLSNegotiated)
	}
	if want := []RangeCount{{"155.39.36.0/24", 2}}; !slices.Equal(c.RemoteRanges, want) {
		t.Errorf("ranges = %v, want %v", c.RemoteRanges, want)
	}
	if len(c.Certificates) != 1 {
		t.Fatalf("certificates = %+v", c.Certificates)
	}
	cert := c.Certificates[0]
	if cert.Thumbprint != seedThumbprint || cert.Subject != "CN=SERVER1" || cert.Issuer != "CN=SERVER1" ||
		cert.Serial != "1234567890ABCDEF1234567890ABCDEF" || !slices.Equal(cert.SANs, []string{"SERVER1"}) || !cert.SelfSigned {
		t.Errorf("certificate = %+v", cert)
	}
	if first := mustTime("2017-04-14T17:00:41.125Z"); cert.Count != 1 || !cert.FirstSeen.Equal(first) || !cert.LastSeen.Equal(first) {
		t.Errorf("certificate count %d, first %v, last %v", cert.Count, cert.FirstSeen, cert.LastSeen)
	}
	if len(c.PeerCertificates) != 0 || len(c.TLSFailures) != 0 {
		t.Errorf("peer certificates %v, failures %v; want none", c.PeerCertificates, c.TLSFailures)
	}

	if got, want := findingKinds(r), []string{"certificate-name-mismatch", "self-signed-certificate"}; !slices.Equal(got, want) {
		t.Fatalf("findings = %v, want %v", got, want)
	}
	f := r.Findings[0]
	want := `connector SERVER1\Default Frontend SERVER1 presented CN=SERVER1 (thumbprint ` + seedThumbprint + `) which lacks mail.contoso.com`
	if f.Summary != want {
		t.Errorf("summary:\n got %s\nwant %s", f.Summary, want)
	}
	if f.Severity != SeverityError || f.Connector != seedConnector || f.Thumbprint != seedThumbprint || f.Count != 1 {
		t.Errorf("finding = %+v", f)
	}
	if len(f.Fix) == 0 || !strings.Contains(f.Fix[0], `Set-ReceiveConnector "SERVER1\Default Frontend SERVER1" -TlsCertificateName`) {
		t.Errorf("fix does not pin the connector's certificate: %q", f.Fix)
	}
	ss := r.Findings[1]
	if ss.Count != 1 || !strings.Contains(ss.Detail, "Exchange Online") || !strings.Contains(ss.Detail, "hung up right after the TLS handshake") {
		t.Errorf("self-signed finding = %+v", ss)
	}
	if r.ExitCode() != 1 {
		t.Errorf("exit code %d, want 1", r.ExitCode())
	}

	// Without --expect the name cannot be judged; the self-signed
	// certificate to Exchange Online still is a finding.
	r = analyze(t, LogOptions{}, seedLog)
	if got, want := findingKinds(r), []string{"self-signed-certificate"}; !slices.Equal(got, want) {
		t.Errorf("without --expect: findings = %v, want %v", got, want)
	}
}

func TestAnalyzeGzipMatchesPlain(t *testing.T) {
	opts := LogOptions{Expect: []string{"mail.contoso.com"}}
	plain := analyze(t, opts, seedLog)
	gz := analyze(t, opts, seedGzipLog)
	if gz.Files[0].Records != plain.Files[0].Records {
		t.Fatalf("gzip read %d records, plain %d", gz.Files[0].Records, plain.Files[0].Records)
	}
	pj, _ := json.Marshal(plain.Connectors)
	gj, _ := json.Marshal(gz.Connectors)
	if !bytes.Equal(pj, gj) {
		t.Errorf("connectors differ:\nplain %s\ngzip  %s", pj, gj)
	}
	if !slices.Equal(findingKinds(plain), findingKinds(gz)) || plain.Findings[0].Summary != gz.Findings[0].Summary {
		t.Errorf("findings differ: %v vs %v", plain.Findings, gz.Findings)
	}
}

// Exchange 2019 writes the certificate on one line, with its dates.
func TestAnalyzeExchange2019(t *testing.T) {
	tests := []struct {
		name   string
		now    string
		expect []string
		kinds  []string
	}{
		{"valid, name present", "2023-02-01T00:00:00Z", []string{"mail.contoso.com"}, nil},
		{"SAN matches", "2023-02-01T00:00:00Z", []string{"autodiscover.contoso.com"}, nil},
		{"wildcard expectation", "2023-02-01T00:00:00Z", []string{"*.contoso.com"}, nil},
		{"name missing", "2023-02-01T00:00:00Z", []string{"mail.fabrikam.com"}, []string{"certificate-name-mismatch"}},
		{"expiring in 8 days", "2023-10-25T00:00:00Z", nil, []string{"certificate-expiring"}},
		{"expired after the logs", "2024-01-01T00:00:00Z", nil, []string{"certificate-expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := analyze(t, LogOptions{Expect: tt.expect, Now: fixedNow(tt.now)}, exchange2019Log)
			if got := findingKinds(r); !slices.Equal(got, tt.kinds) {
				t.Fatalf("findings = %v, want %v: %+v", got, tt.kinds, r.Findings)
			}
			c := connectorOf(t, r, `SRV\Default Frontend SRV`)
			if c.Sessions != 2 || c.StartTLSOffered != 2 || c.StartTLSUsed != 2 || c.TLSNegotiated != 2 {
				t.Errorf("connector counts = %+v", c)
			}
			if len(c.Certificates) != 1 {
				t.Fatalf("certificates = %+v", c.Certificates)
			}
			cert := c.Certificates[0]
			// Two sessions: the second comes from the one-line cache.
			if cert.Count != 2 || cert.Thumbprint != "5A1E7B0C9D2F3A4B5C6D7E8F9A0B1C2D3E4F5A6B" ||
				cert.Subject != "CN=mail.contoso.com, O=Contoso Ltd, L=Redmond, S=Washington, C=US" ||
				cert.Issuer != "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US" ||
				!slices.Equal(cert.SANs, []string{"mail.contoso.com", "autodiscover.contoso.com"}) || cert.SelfSigned {
				t.Errorf("certificate = %+v", cert)
			}
			if !cert.NotAfter.Equal(time.Date(2023, 11, 2, 23, 59, 59, 0, time.UTC)) || !cert.LastSeen.Equal(mustTime("2023-01-11T16:10:02.500Z")) {
				t.Errorf("not after %v, last seen %v", cert.NotAfter, cert.LastSeen)
			}
			if c.TLSDomainStatus["NoRemoteCertificate"] != 2 || c.TLSDomainStatus["chain EmptyCertificate"] != 2 {
				t.Errorf("TLS domain status = %v", c.TLSDomainStatus)
			}
			wantExit := 0
			if len(tt.kinds) > 0 {
				wantExit = 1
			}
			if r.ExitCode() != wantExit {
				t.Errorf("exit code %d, want %d", r.ExitCode(), wantExit)
			}
		})
	}
}

// Two servers behind one name answer the same Exchange Online addresses,
// one with its self-signed default certificate: half the messages fail.
func TestAnalyzeHalfTheMessagesFail(t *testing.T) {
	r := analyze(t, LogOptions{Expect: []string{"mail.contoso.com"}}, halfDir)
	if len(r.Files) != 2 {
		t.Fatalf("files = %+v, want both servers' logs", r.Files)
	}
	want := []string{"certificate-name-mismatch", "inconsistent-certificates", "self-signed-certificate"}
	if got := findingKinds(r); !slices.Equal(got, want) {
		t.Fatalf("findings = %v, want %v", got, want)
	}
	mm := findingOf(t, r, "certificate-name-mismatch")
	if mm.Connector != `SERVER1\Default Frontend SERVER1` || mm.Count != 3 {
		t.Errorf("name mismatch = %+v", mm)
	}
	// The fix names the good certificate the other server presented.
	pin := `-TlsCertificateName "<I>CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US<S>CN=mail.contoso.com, O=Contoso Ltd, C=US"`
	if !strings.Contains(mm.Fix[0], pin) {
		t.Errorf("fix %q lacks %s", mm.Fix[0], pin)
	}
	inc := findingOf(t, r, "inconsistent-certificates")
	for _, s := range []string{"2 remote address(es) (40.107.22.75, 40.107.22.76)", "B1E2C3D4A5F60718293A4B5C6D7E8F9012345678", "4C0FA622D0D66E777AA123B1AF123456F001AE23",
		`by connector SERVER1\Default Frontend SERVER1 3 time(s)`, `by connector SERVER2\Default Frontend SERVER2 2 time(s)`} {
		if !strings.Contains(inc.Summary, s) {
			t.Errorf("inconsistent summary lacks %q: %s", s, inc.Summary)
		}
	}
	if inc.Count != 5 || inc.Connector != "" {
		t.Errorf("inconsistent count %d connector %q; want 5 and none (two connectors)", inc.Count, inc.Connector)
	}
	s1 := connectorOf(t, r, `SERVER1\Default Frontend SERVER1`)
	s2 := connectorOf(t, r, `SERVER2\Default Frontend SERVER2`)
	if s1.Sessions != 3 || s2.Sessions != 2 || s1.Certificates[0].Count != 3 || s2.Certificates[0].Count != 2 {
		t.Errorf("sessions %d/%d, certificates %d/%d", s1.Sessions, s2.Sessions, s1.Certificates[0].Count, s2.Certificates[0].Count)
	}
}

// A certificate replaced by its renewal is not "different certificates";
// two certificates in service at once are, even on one connector.
func TestInconsistentCertificatesVersusRenewal(t *testing.T) {
	const ip = "40.107.22.75"
	old := testCert{thumb: "1111111111111111111111111111111111111111", subject: "CN=mail.contoso.com"}
	renewed := testCert{thumb: "2222222222222222222222222222222222222222", subject: "CN=mail.contoso.com"}
	t0 := time.Date(2025, 5, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		certs []testCert // one session each, ten minutes apart
		want  bool
	}{
		{"one certificate", []testCert{old, old, old}, false},
		{"renewal", []testCert{old, old, renewed, renewed}, false},
		{"alternating", []testCert{old, renewed, old, renewed}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLog("SMTP Receive Protocol Log")
			for i, c := range tt.certs {
				l.tlsSession(t0.Add(time.Duration(i)*10*time.Minute), `EX1\Default Frontend EX1`, fmt.Sprintf("08DD0000000000%02X", i), ip, c, false)
			}
			r := analyzeString(t, LogOptions{}, l.String())
			got := slices.Contains(findingKinds(r), "inconsistent-certificates")
			if got != tt.want {
				t.Errorf("inconsistent finding = %v, want %v: %v", got, tt.want, r.Findings)
			}
		})
	}
}

func TestAnalyzeNoCredentials(t *testing.T) {
	r := analyze(t, LogOptions{Expect: []string{"mail.contoso.com"}}, noCredsLog)
	if r.Files[0].Kind != LogKindSend {
		t.Fatalf("kind = %q", r.Files[0].Kind)
	}
	c := connectorOf(t, r, "Outbound to Office 365")
	if c.Direction != "send" || c.Sessions != 2 || c.StartTLSOffered != 2 || c.StartTLSUsed != 2 || c.TLSNegotiated != 0 {
		t.Errorf("connector = %+v", c)
	}
	if len(c.TLSFailures) != 1 || c.TLSFailures[0].Error != "NoCredentials" || c.TLSFailures[0].Count != 2 {
		t.Errorf("failures = %+v", c.TLSFailures)
	}
	if got, want := findingKinds(r), []string{"tls-credentials"}; !slices.Equal(got, want) {
		t.Fatalf("findings = %v, want %v", got, want)
	}
	f := r.Findings[0]
	const thumb = "4C0FA622D0D66E777AA123B1AF123456F001AE23"
	if f.Count != 2 || f.Thumbprint != thumb || !strings.Contains(f.Summary, "NoCredentials 2 time(s)") {
		t.Errorf("finding = %+v", f)
	}
	joined := strings.Join(f.Fix, "\n")
	if !strings.Contains(joined, "Enable-ExchangeCertificate -Thumbprint "+thumb) || !strings.Contains(joined, `Set-SendConnector "Outbound to Office 365"`) {
		t.Errorf("fixes are not specific to the connector and certificate:\n%s", joined)
	}
}

func TestAnalyzeStartTLSNotOffered(t *testing.T) {
	r := analyze(t, LogOptions{}, noStartTLSLog)
	if got, want := findingKinds(r), []string{"starttls-not-offered"}; !slices.Equal(got, want) {
		t.Fatalf("findings = %v, want %v", got, want)
	}
	f := r.Findings[0]
	if f.Count != 2 || f.Summary != `connector SERVER3\Default Frontend SERVER3 did not offer STARTTLS in 2 of 2 EHLO replies` {
		t.Errorf("finding = %+v", f)
	}
	if !strings.Contains(f.Detail, "40.107.22.80, 40.107.22.81") || !strings.Contains(f.Detail, "12014") {
		t.Errorf("detail = %s", f.Detail)
	}
}

func TestAnalyzeTracking(t *testing.T) {
	r := analyze(t, LogOptions{}, trackingLog)
	if r.Files[0].Kind != LogKindTracking || r.Files[0].Records != 8 {
		t.Fatalf("files = %+v", r.Files)
	}
	if len(r.Connectors) != 0 || r.Tracking == nil {
		t.Fatalf("connectors %d, tracking %v", len(r.Connectors), r.Tracking)
	}
	tr := r.Tracking
	if tr.Events != 8 || tr.EventCounts["DEFER"] != 4 || tr.EventCounts["FAIL"] != 1 || tr.EventCounts["RECEIVE"] != 2 {
		t.Errorf("events %d, counts %v", tr.Events, tr.EventCounts)
	}
	if len(tr.Reasons) != 3 {
		t.Fatalf("reasons = %+v", tr.Reasons)
	}
	var cert ReasonSummary
	for _, rs := range tr.Reasons {
		if rs.Topic == "cert.SubjectMismatch" {
			cert = rs
		}
	}
	// Three DEFER events (one with two recipients) with different retry
	// times group as one reason.
	if cert.Event != "DEFER" || cert.Reason != "450 4.7.320 Certificate validation failed (SubjectMismatch)" ||
		cert.Recipients != 4 || cert.Events != 3 || !slices.Equal(cert.Targets, []string{"mail.fabrikam.com (203.0.113.7)"}) {
		t.Errorf("4.7.320 reason = %+v", cert)
	}
	if !cert.FirstSeen.Equal(mustTime("2025-05-02T09:01:02.000Z")) || !cert.LastSeen.Equal(mustTime("2025-05-02T09:11:02.000Z")) {
		t.Errorf("first %v last %v", cert.FirstSeen, cert.LastSeen)
	}
	if !slices.Equal(cert.ExampleRecipients, []string{"carol@fabrikam.com", "dave@fabrikam.com", "erin@fabrikam.com"}) {
		t.Errorf("examples = %v", cert.ExampleRecipients)
	}
	if tr.Reasons[0].Event != "FAIL" {
		t.Errorf("failures should lead: %+v", tr.Reasons[0])
	}
	want := []string{"tracking-failed", "tracking-deferred", "tracking-deferred"}
	if got := findingKinds(r); !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
	if f := r.Findings[2]; !strings.Contains(f.Summary, "4 recipient(s) deferred: 450 4.7.320") && !strings.Contains(r.Findings[1].Summary, "4 recipient(s) deferred: 450 4.7.320") {
		t.Errorf("no 4.7.320 deferral finding: %v", r.Findings)
	}
}

func TestAnalyzeTimeWindow(t *testing.T) {
	tests := []struct {
		name         string
		since, until string
		records      int64
		sessions     int64
	}{
		{"everything", "", "", 18, 2},
		{"until before the second session", "", "2017-04-14T17:00:40.949Z", 5, 1},
		{"since the second session", "2017-04-14T17:00:40.950Z", "", 13, 2},
		{"since after the end", "2017-04-14T18:00:00Z", "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts LogOptions
			if tt.since != "" {
				opts.Since, _ = time.Parse(time.RFC3339Nano, tt.since)
			}
			if tt.until != "" {
				opts.Until, _ = time.Parse(time.RFC3339Nano, tt.until)
			}
			r := analyze(t, opts, seedLog)
			f := r.Files[0]
			if f.Records != tt.records || f.Records+f.Skipped != 18 {
				t.Errorf("records %d skipped %d, want %d of 18", f.Records, f.Skipped, tt.records)
			}
			var sessions int64
			for _, c := range r.Connectors {
				sessions += c.Sessions
			}
			if sessions != tt.sessions {
				t.Errorf("sessions = %d, want %d", sessions, tt.sessions)
			}
		})
	}
	// Tracking events are filtered by their time too.
	since, _ := time.Parse(time.RFC3339, "2025-05-02T09:15:00Z")
	r := analyze(t, LogOptions{Since: since}, trackingLog)
	if r.Tracking == nil || r.Tracking.Events != 2 || len(r.Tracking.Reasons) != 1 {
		t.Errorf("tracking since 09:15: %+v", r.Tracking)
	}
}

// mailflow's own receive log (written by protolog.Writer: one '>' line per
// reply line, per-field certificate lines) reads the same way.
func TestAnalyzeMailflowOwnLog(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2025, 5, 2, 9, 0, 0, 0, time.UTC)
	w, err := protolog.NewWriter(protolog.Options{Dir: dir, Kind: protolog.Receive, Now: func() time.Time { return now }, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s := w.Session("mx1\\Default Frontend mx1", "127.0.0.1:2525", "127.0.0.2:40000")
	s.Connect()
	s.Sent("220 mx1.contoso.com Microsoft ESMTP MAIL Service ready at Fri, 02 May 2025 09:00:00 +0000 (mailflow)")
	s.Received("EHLO client.fabrikam.example")
	s.Sent("250-mx1.contoso.com Hello [127.0.0.2]")
	s.Sent("250-STARTTLS")
	s.Sent("250 SIZE 37748736")
	s.Received("STARTTLS")
	s.Sent("220 2.0.0 SMTP server ready")
	s.Certificate("Sending certificate", "CN=mx1.contoso.com", "CN=Contoso Lab CA", "01AB", "ABCDEF0123456789ABCDEF0123456789ABCDEF01", []string{"mx1.contoso.com"})
	s.Info("", "TLS protocol TLS 1.3 negotiation succeeded using TLS_AES_128_GCM_SHA256")
	s.Certificate("Received certificate", "", "", "", "FEDCBA9876543210FEDCBA9876543210FEDCBA98", nil)
	s.Info("", "TlsDomainCapabilities='None'; Status='Success'; Domain='fabrikam.example'")
	s.Received("EHLO client.fabrikam.example")
	s.Sent("250-mx1.contoso.com Hello [127.0.0.2]")
	s.Sent("250 SIZE 37748736")
	s.Received("QUIT")
	s.Sent("221 2.0.0 Service closing transmission channel")
	s.Disconnect("Local")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := analyze(t, LogOptions{Expect: []string{"mx1.contoso.com"}}, dir)
	c := connectorOf(t, r, `mx1\Default Frontend mx1`)
	if c.Sessions != 1 || c.EHLOSessions != 1 || c.StartTLSOffered != 1 || c.StartTLSUsed != 1 || c.TLSNegotiated != 1 {
		t.Errorf("connector = %+v", c)
	}
	if len(c.Certificates) != 1 || c.Certificates[0].Thumbprint != "ABCDEF0123456789ABCDEF0123456789ABCDEF01" || c.Certificates[0].SelfSigned {
		t.Errorf("certificates = %+v", c.Certificates)
	}
	if len(c.PeerCertificates) != 1 || c.PeerCertificates[0].Thumbprint != "FEDCBA9876543210FEDCBA9876543210FEDCBA98" {
		t.Errorf("client certificates = %+v", c.PeerCertificates)
	}
	if c.TLSDomainStatus["Success"] != 1 {
		t.Errorf("status = %v", c.TLSDomainStatus)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings = %+v", r.Findings)
	}
}

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
	a := NewLogAnalyzer(LogOptions{MaxOpenSessions: 4, Now: fixedNow("2025-06-01T00:00:00Z")})
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
			r := AnalyzeLogs([]string{tt.path, seedLog}, LogOptions{Now: fixedNow("2025-06-01T00:00:00Z")})
			if r.ExitCode() != 2 {
				t.Errorf("exit code %d, want 2", r.ExitCode())
			}
			var bad *LogFile
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
				t.Errorf("the seed log was not analysed alongside: %+v", r.Connectors)
			}
		})
	}
	if r := AnalyzeLogs(nil, LogOptions{}); r.ExitCode() != 2 {
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
	bar.Update(LogProgress{File: "/logs/RECV2025050209-1.LOG", FilesDone: 0, Files: 2, BytesDone: 50 << 20, BytesTotal: 100 << 20})
	first := out.String()
	if !strings.HasPrefix(first, "\r[===============               ]  50% 50.0 MiB/100.0 MiB, file 1 of 2 RECV2025050209-1.LOG") {
		t.Errorf("bar = %q", first)
	}
	now = now.Add(10 * time.Millisecond)
	bar.Update(LogProgress{File: "x", BytesDone: 60 << 20, BytesTotal: 100 << 20, Files: 2})
	if out.String() != first {
		t.Errorf("redrawn within the interval: %q", out.String())
	}
	now = now.Add(time.Second)
	bar.Update(LogProgress{File: "x", FilesDone: 1, BytesDone: 100 << 20, BytesTotal: 100 << 20, Files: 2})
	if !strings.Contains(out.String(), "100%") {
		t.Errorf("bar = %q", out.String())
	}
	bar.Update(LogProgress{Finished: true})
	if !strings.HasSuffix(out.String(), "\r\033[K") {
		t.Errorf("bar not erased at the end: %q", out.String())
	}
}

func TestAnalyzeLogsReportsProgress(t *testing.T) {
	var calls []LogProgress
	r := analyze(t, LogOptions{Progress: func(p LogProgress) { calls = append(calls, p) }}, seedLog, trackingLog)
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
		{"seed.golden", []string{seedLog}},
		// The tracking part is left out: its titles and fixes are
		// explain's text, asserted in TestAnalyzeTracking.
		{"half.golden", []string{halfDir}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			r := analyze(t, LogOptions{Expect: []string{"mail.contoso.com"}}, tc.paths...)
			var text bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "logs", "golden", tc.golden)
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
			var back LogReport
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
	an := NewLogAnalyzer(LogOptions{Expect: []string{"mail.contoso.com"}, Now: fixedNow("2025-06-01T00:00:00Z")})
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
	if r.Limits != (LogLimits{}) {
		t.Errorf("limits reached: %+v", r.Limits)
	}
}

// ---- helpers building protocol logs ----

type testCert struct{ thumb, subject string }

type testLog struct{ b []byte }

func newTestLog(kind string) *testLog {
	l := &testLog{}
	l.b = append(l.b, "#Software: Microsoft Exchange Server\r\n#Version: 15.0.0.0\r\n#Log-type: "+kind+
		"\r\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n"...)
	return l
}

func (l *testLog) String() string { return string(l.b) }

func (l *testLog) line(t time.Time, connector, session string, seq int, remote string, event byte, data, context string) {
	b := logfile.AppendTime(l.b, t)
	b = append(b, ',')
	b = logfile.AppendField(b, connector)
	b = append(b, ',')
	b = append(b, session...)
	b = append(b, fmt.Sprintf(",%d,10.0.0.1:25,%s,%c,", seq, remote, event)...)
	b = logfile.AppendField(b, data)
	b = append(b, ',')
	b = logfile.AppendField(b, context)
	l.b = append(b, '\r', '\n')
}

// tlsSession writes a whole session presenting cert in the one-line form.
func (l *testLog) tlsSession(t time.Time, connector, session, ip string, cert testCert, hangUp bool) {
	remote := ip + ":40000"
	lines := []struct {
		ev        byte
		data, ctx string
	}{
		{'+', "", ""},
		{'>', "220 EX1.contoso.com Microsoft ESMTP MAIL Service ready at Fri, 2 May 2025 09:00:00 +0000", ""},
		{'<', "EHLO mail.fabrikam.example", ""},
		{'>', "250  EX1.contoso.com Hello [" + ip + "] SIZE 37748736 PIPELINING STARTTLS 8BITMIME", ""},
		{'<', "STARTTLS", ""},
		{'>', "220 2.0.0 SMTP server ready", ""},
		{'*', " " + cert.subject + " CN=Contoso CA 0A1B " + cert.thumb + " 2025-01-01T00:00:00.000Z 2026-01-01T00:00:00.000Z mail.contoso.com",
			"Sending certificate Subject Issuer name Serial number Thumbprint Not before Not after Subject alternate names"},
		{'*', "", "TLS protocol SP_PROT_TLS1_2_SERVER negotiation succeeded using bulk encryption algorithm CALG_AES_256"},
	}
	if !hangUp {
		lines = append(lines, struct {
			ev        byte
			data, ctx string
		}{'<', "QUIT", ""})
	}
	for i, x := range lines {
		l.line(t, connector, session, i, remote, x.ev, x.data, x.ctx)
	}
	l.line(t, connector, session, len(lines), remote, '-', "", "Local")
}

func analyzeString(t *testing.T, opts LogOptions, log string) *LogReport {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow("2025-06-01T00:00:00Z")
	}
	a := NewLogAnalyzer(opts)
	if err := a.ReadLog("test.LOG", strings.NewReader(log)); err != nil {
		t.Fatal(err)
	}
	return a.Report()
}
