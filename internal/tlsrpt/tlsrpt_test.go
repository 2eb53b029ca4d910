package tlsrpt

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/tlsrpt/tlsrpttest"
)

func TestParseRecord(t *testing.T) {
	rua, err := ParseRecord("v=TLSRPTv1; rua=mailto:tls%2Brpt@example.com, https://reports.example.com/v1/tlsrpt ,ftp://x")
	if err != nil || len(rua) != 2 || rua[0] != "mailto:tls+rpt@example.com" || rua[1] != "https://reports.example.com/v1/tlsrpt" {
		t.Fatalf("rua = %q, %v", rua, err)
	}
	for _, bad := range []string{"v=TLSRPTv2; rua=mailto:a@b", "v=TLSRPTv1;", "v=TLSRPTv1; rua=ftp://x", "v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d"} {
		if _, err := ParseRecord(bad); err == nil {
			t.Errorf("ParseRecord(%q) accepted", bad)
		}
	}
	if _, err := pickRecord([]string{"v=spf1"}); !IsNoRecord(err) {
		t.Errorf("no record: %v", err)
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add("v=TLSRPTv1; rua=mailto:a@b.c,https://x.y/z")
	f.Add("v=TLSRPTv1;rua=mailto:%zz")
	f.Fuzz(func(t *testing.T, s string) {
		rua, err := ParseRecord(s)
		if err == nil && len(rua) == 0 {
			t.Fatal("accepted a record without an address")
		}
	})
}

var day1 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func stsOutcome(result string) Outcome {
	return Outcome{
		Time: day1, PolicyDomain: "Example.TEST", PolicyType: PolicySTS,
		PolicyString: []string{"version: STSv1", "mode: enforce", "mx: mx.example.test", "max_age: 86400"},
		MXHost:       []string{"mx.example.test"}, ResultType: result,
		SendingMTAIP: "127.0.0.1", ReceivingMXHostname: "mx2.example.test", ReceivingIP: "127.0.0.9",
	}
}

func TestStoreCountsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Record(stsOutcome(""))
	s.Record(stsOutcome(""))
	s.Record(stsOutcome(ResultValidationFailure))
	s.Record(stsOutcome(ResultValidationFailure))
	s.Record(stsOutcome(ResultSTARTTLSNotSupported))
	s.Record(Outcome{Time: day1.Add(24 * time.Hour), PolicyDomain: "../../etc", PolicyType: PolicySTS}) // never a path
	s2, err := OpenStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Days(); len(got) != 1 || got[0] != "2026-03-04" {
		t.Fatalf("days %q", got)
	}
	r, err := s2.Report("2026-03-04", "example.test", Meta{OrganizationName: "Contoso", ContactInfo: "postmaster@contoso.com", Submitter: "mail.contoso.com"})
	if err != nil || r == nil {
		t.Fatalf("report: %v", err)
	}
	p := r.Policies[0]
	if p.Summary.Successful != 2 || p.Summary.Failed != 3 || len(p.FailureDetails) != 2 || p.FailureDetails[0].FailedSessionCount != 2 {
		t.Fatalf("counts %+v", p)
	}
	if r.DateRange.End.Sub(r.DateRange.Start) != 24*time.Hour-time.Second {
		t.Errorf("date range %+v", r.DateRange)
	}
}

// TestReportMessageInPython: Python's email and json modules — code nobody
// here wrote — read the report message and check RFC 8460's structure and
// field names.
func TestReportMessageInPython(t *testing.T) {
	s, _ := OpenStore("", nil)
	s.Record(stsOutcome(""))
	s.Record(stsOutcome(ResultCertificateMismatch))
	r, _ := s.Report("2026-03-04", "example.test", Meta{OrganizationName: "Contoso", ContactInfo: "postmaster@contoso.com", Submitter: "mail.contoso.com"})
	msg, err := Message(r, "example.test", "mail.contoso.com", "postmaster@contoso.com", "tlsrpt@example.test", day1.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := tlsrpttest.CheckWithPython(t, msg); got != "OK sts example.test 1 1 certificate-host-mismatch" {
		t.Fatalf("python says: %s", got)
	}
}

type fakeTXT map[string][]string

func (f fakeTXT) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := f[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

type fakeQueue struct {
	mu   sync.Mutex
	envs []queue.Envelope
}

func (q *fakeQueue) Put(_ context.Context, env queue.Envelope, body []byte) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.envs = append(q.envs, env)
	return "0000000000000001", nil
}

func TestReporterMailsAndPosts(t *testing.T) {
	var posted []byte
	var ctype string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctype = r.Header.Get("Content-Type")
		zr, err := gzip.NewReader(r.Body)
		if err == nil {
			posted, _ = io.ReadAll(zr)
		}
	}))
	defer srv.Close()
	s, _ := OpenStore(t.TempDir(), nil)
	s.Record(stsOutcome(""))
	s.Record(Outcome{Time: day1, PolicyDomain: "quiet.test", PolicyType: PolicySTS}) // no TLS-RPT record
	today := Outcome{Time: day1.Add(24 * time.Hour), PolicyDomain: "example.test", PolicyType: PolicySTS}
	s.Record(today)
	q := &fakeQueue{}
	rep := &Reporter{
		Store: s, Queue: q, HTTP: srv.Client(), From: "postmaster@contoso.com",
		Meta:     Meta{OrganizationName: "Contoso", ContactInfo: "postmaster@contoso.com", Submitter: "mail.contoso.com"},
		Resolver: fakeTXT{"_smtp._tls.example.test": {"v=TLSRPTv1; rua=mailto:tlsrpt@example.test," + srv.URL + "/report"}},
		Now:      func() time.Time { return day1.Add(24 * time.Hour) },
	}
	sent := rep.SendDue(context.Background())
	if len(sent) != 2 || sent[0].Err != nil || sent[1].Err != nil {
		t.Fatalf("sent %+v", sent)
	}
	if len(q.envs) != 1 || q.envs[0].To[0] != "tlsrpt@example.test" || q.envs[0].From != "postmaster@contoso.com" {
		t.Fatalf("queued %+v", q.envs)
	}
	var r Report
	if err := json.Unmarshal(posted, &r); err != nil || ctype != "application/tlsrpt+gzip" || r.Policies[0].Summary.Successful != 1 {
		t.Fatalf("posted %s (%s): %v", posted, ctype, err)
	}
	if days := s.Days(); len(days) != 1 || days[0] != "2026-03-05" {
		t.Errorf("after sending, days left %q (today's counts must stay)", days)
	}
}
