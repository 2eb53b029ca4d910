package queue

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// TestDSNParsesInPython has Python's email package — an implementation
// nobody here wrote — read the DSN and report what it sees.
func TestDSNParsesInPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	d := newScript(func(string, int) Result {
		return Result{Outcome: outcome.Failed, LastError: lasterror.New("550 5.4.4 Unable to route")}
	})
	q := mustOpen(t, testOptions(t.TempDir(), testkit.NewClock(t0), d, nil))
	mustPut(t, q, sampleEnv("bob@fabrikam.com", "eve@fabrikam.com"), sampleBody("Quarterly report"))
	q.ProcessDue(context.Background())
	list := q.List()
	if len(list) != 1 {
		t.Fatalf("queue %v", list)
	}
	file := filepath.Join(t.TempDir(), "dsn.eml")
	if err := os.WriteFile(file, dsnBody(t, q, list[0].ID), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, email, email.policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
assert not m.defects, m.defects
print(m.get_content_type(), m.get_param('report-type'))
parts = list(m.iter_parts())
print(' '.join(p.get_content_type() for p in parts))
status = parts[1].get_payload()  # a list of header blocks
print(status[0]['Reporting-MTA'])
for blk in status[1:]:
    print(blk['Final-Recipient'], '|', blk['Action'], '|', blk['Status'], '|', blk['Diagnostic-Code'])
`
	out, err := exec.Command(py, "-c", script, file).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := strings.Join([]string{
		"multipart/report delivery-status",
		"text/plain message/delivery-status text/rfc822-headers",
		"dns; mail.contoso.com",
		"rfc822; bob@fabrikam.com | failed | 5.4.4 | smtp; 550 5.4.4 Unable to route",
		"rfc822; eve@fabrikam.com | failed | 5.4.4 | smtp; 550 5.4.4 Unable to route",
	}, "\n")
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("python sees:\n%s\nwant:\n%s", got, want)
	}
}
