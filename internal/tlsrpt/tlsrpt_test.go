package tlsrpt

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/queue"
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
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	s, _ := OpenStore("", nil)
	s.Record(stsOutcome(""))
	s.Record(stsOutcome(ResultCertificateMismatch))
	r, _ := s.Report("2026-03-04", "example.test", Meta{OrganizationName: "Contoso", ContactInfo: "postmaster@contoso.com", Submitter: "mail.contoso.com"})
	msg, err := Message(r, "example.test", "mail.contoso.com", "postmaster@contoso.com", "tlsrpt@example.test", day1.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "report.eml")
	os.WriteFile(file, msg, 0o600)
	out, err := exec.Command(py, "-c", pythonCheck, file).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "OK sts example.test 1 1 certificate-host-mismatch") {
		t.Fatalf("python says:\n%s", out)
	}
}

// pythonCheck validates a TLS-RPT report message given as argv[1] and
// prints "OK <policy-type> <domain> <successes> <failures> <result-type>".
const pythonCheck = `
import sys, email, email.policy, gzip, json
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
assert not m.defects, m.defects
assert m.get_content_type() == 'multipart/report', m.get_content_type()
assert m.get_param('report-type') == 'tlsrpt', m.get_param('report-type')
assert m['TLS-Report-Domain'] and m['TLS-Report-Submitter'], 'report header fields missing'
parts = [p for p in m.iter_parts() if p.get_content_type() == 'application/tlsrpt+gzip']
assert len(parts) == 1, [p.get_content_type() for p in m.iter_parts()]
fn = parts[0].get_filename()
assert fn.endswith('.json.gz') and fn.count('!') == 3, fn
r = json.loads(gzip.decompress(parts[0].get_content()))
assert set(r) == {'organization-name', 'date-range', 'contact-info', 'report-id', 'policies'}, set(r)
assert set(r['date-range']) == {'start-datetime', 'end-datetime'}
for k in ('start-datetime', 'end-datetime'):
    assert r['date-range'][k].endswith('Z'), r['date-range'][k]
p = r['policies'][0]
assert set(p['policy']) <= {'policy-type', 'policy-string', 'policy-domain', 'mx-host'}, set(p['policy'])
assert p['policy']['policy-type'] in ('tlsa', 'sts', 'no-policy-found')
assert set(p['summary']) == {'total-successful-session-count', 'total-failure-session-count'}
allowed = {'result-type', 'sending-mta-ip', 'receiving-mx-hostname', 'receiving-mx-helo', 'receiving-ip', 'failed-session-count', 'additional-information', 'failure-reason-code'}
for d in p.get('failure-details', []):
    assert set(d) <= allowed, set(d) - allowed
    assert isinstance(d['failed-session-count'], int)
assert m['TLS-Report-Domain'] == p['policy']['policy-domain']
print('OK', p['policy']['policy-type'], p['policy']['policy-domain'], p['summary']['total-successful-session-count'], p['summary']['total-failure-session-count'], p['failure-details'][0]['result-type'])
`

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
