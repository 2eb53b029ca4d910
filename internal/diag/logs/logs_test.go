package logs

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/logfile"
	"github.com/mailflowhq/mailflow/internal/protolog"
)

const (
	subjectMismatchLog     = "testdata/subjectmismatch_RECV2017041417-1.LOG"
	subjectMismatchGzipLog = "testdata/gzip/RECV2017041417-1.LOG.gz"
	exchange2019Log        = "testdata/exchange2019_RECV2023011115-1.LOG"
	halfDir                = "testdata/half"
	noCredsLog             = "testdata/nocredentials_SEND2025050210-1.LOG"
	noStartTLSLog          = "testdata/nostarttls_RECV2025050211-1.LOG"
	trackingLog            = "testdata/tracking_MSGTRK2025050209-1.LOG"

	frontendConnector = `SERVER1\Default Frontend SERVER1`
	server1Thumbprint = "9876534210FEDCBA9876534210FEDCBA123456789"
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

func analyze(t *testing.T, opts Options, paths ...string) *Report {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow("2025-06-01T00:00:00Z")
	}
	r := Analyze(paths, opts)
	for _, f := range r.Files {
		if f.Error != "" {
			t.Fatalf("%s: %s", f.Path, f.Error)
		}
	}
	return r
}

func findingKinds(r *Report) []string {
	var kinds []string
	for _, f := range r.Findings {
		kinds = append(kinds, f.Kind)
	}
	return kinds
}

func findingOf(t *testing.T, r *Report, kind string) Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Kind == kind {
			return f
		}
	}
	t.Fatalf("no %s finding in %v", kind, findingKinds(r))
	return Finding{}
}

func connectorOf(t *testing.T, r *Report, name string) ConnectorSummary {
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

// The SmtpReceive log published with the April 2017 450 4.7.320
// SubjectMismatch report: Exchange Online connects, the Default Frontend
// connector presents the self-signed CN=SERVER1, Exchange Online hangs up.
func TestAnalyzeSubjectMismatchSession(t *testing.T) {
	r := analyze(t, Options{Expect: []string{"mail.contoso.com"}}, subjectMismatchLog)

	if len(r.Files) != 1 || r.Files[0].Kind != LogKindReceive || r.Files[0].Records != 18 || r.Files[0].Malformed != 0 {
		t.Fatalf("files = %+v", r.Files)
	}
	if len(r.Connectors) != 1 {
		t.Fatalf("connectors = %d, want 1", len(r.Connectors))
	}
	c := r.Connectors[0]
	if c.Connector != frontendConnector || c.Direction != "receive" {
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
	if cert.Thumbprint != server1Thumbprint || cert.Subject != "CN=SERVER1" || cert.Issuer != "CN=SERVER1" ||
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
	want := `connector SERVER1\Default Frontend SERVER1 presented CN=SERVER1 (thumbprint ` + server1Thumbprint + `) which lacks mail.contoso.com`
	if f.Summary != want {
		t.Errorf("summary:\n got %s\nwant %s", f.Summary, want)
	}
	if f.Severity != SeverityError || f.Connector != frontendConnector || f.Thumbprint != server1Thumbprint || f.Count != 1 {
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
	r = analyze(t, Options{}, subjectMismatchLog)
	if got, want := findingKinds(r), []string{"self-signed-certificate"}; !slices.Equal(got, want) {
		t.Errorf("without --expect: findings = %v, want %v", got, want)
	}
}

func TestAnalyzeGzipMatchesPlain(t *testing.T) {
	opts := Options{Expect: []string{"mail.contoso.com"}}
	plain := analyze(t, opts, subjectMismatchLog)
	gz := analyze(t, opts, subjectMismatchGzipLog)
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
			r := analyze(t, Options{Expect: tt.expect, Now: fixedNow(tt.now)}, exchange2019Log)
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
	r := analyze(t, Options{Expect: []string{"mail.contoso.com"}}, halfDir)
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
			r := analyzeString(t, Options{}, l.String())
			got := slices.Contains(findingKinds(r), "inconsistent-certificates")
			if got != tt.want {
				t.Errorf("inconsistent finding = %v, want %v: %v", got, tt.want, r.Findings)
			}
		})
	}
}

func TestAnalyzeNoCredentials(t *testing.T) {
	r := analyze(t, Options{Expect: []string{"mail.contoso.com"}}, noCredsLog)
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
	r := analyze(t, Options{}, noStartTLSLog)
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
	r := analyze(t, Options{}, trackingLog)
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
			var opts Options
			if tt.since != "" {
				opts.Since, _ = time.Parse(time.RFC3339Nano, tt.since)
			}
			if tt.until != "" {
				opts.Until, _ = time.Parse(time.RFC3339Nano, tt.until)
			}
			r := analyze(t, opts, subjectMismatchLog)
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
	r := analyze(t, Options{Since: since}, trackingLog)
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
	r := analyze(t, Options{Expect: []string{"mx1.contoso.com"}}, dir)
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
