// Package tlsrpttest checks TLS-RPT report messages with code nobody here
// wrote: Python's email, gzip and json modules read the message and verify
// RFC 8460's structure and field names.
package tlsrpttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CheckWithPython validates a report message and returns Python's summary
// line "OK <policy-type> <domain> <successes> <failures> <first result-type>";
// it fails the test when the message does not hold up, and skips it when
// python3 is missing.
func CheckWithPython(t testing.TB, msg []byte) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	file := filepath.Join(t.TempDir(), "report.eml")
	if err := os.WriteFile(file, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", pythonCheck, file).CombinedOutput()
	if err != nil {
		t.Fatalf("python rejects the report: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
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
fd = p.get("failure-details") or [{"result-type": "-"}]
print("OK", p['policy']['policy-type'], p['policy']['policy-domain'], p['summary']['total-successful-session-count'], p['summary']['total-failure-session-count'], fd[0]["result-type"])
`
