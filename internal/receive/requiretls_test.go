package receive

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRequireTLSWithPythonSmtplib: a real client (Python's smtplib) sees
// REQUIRETLS only after STARTTLS, MAIL FROM … REQUIRETLS is refused in
// plaintext and accepted under TLS, and the flag (and TLS-Required: No)
// travels with the message into the queue.
func TestRequireTLSWithPythonSmtplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	h := newHarness(t, harnessConfig("", defaultConnector))
	host, port, _ := strings.Cut(h.addr, ":")
	script := `
import smtplib, ssl, sys
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), local_hostname='client.fabrikam.com')
s.ehlo()
print('plain offers REQUIRETLS:', s.has_extn('requiretls'))
try:
    s.sendmail('alice@fabrikam.com', ['bob@contoso.com'], b'Subject: plain\r\n\r\nhi\r\n', mail_options=['REQUIRETLS'])
    print('plain REQUIRETLS accepted')
except smtplib.SMTPSenderRefused as e:
    print('plain REQUIRETLS refused:', e.smtp_code, e.smtp_error.decode())
s.rset()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
s.ehlo()
print('tls offers REQUIRETLS:', s.has_extn('requiretls'))
s.sendmail('alice@fabrikam.com', ['bob@contoso.com'], b'Subject: one\r\nTLS-Required: No\r\n\r\nhi\r\n', mail_options=['REQUIRETLS'])
s.sendmail('alice@fabrikam.com', ['bob@contoso.com'], b'Subject: two\r\nTLS-Required: No\r\n\r\nhi\r\n')
s.sendmail('alice@fabrikam.com', ['bob@contoso.com'], b'Subject: three\r\n\r\nhi\r\n')
s.quit()
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"plain offers REQUIRETLS: False",
		"plain REQUIRETLS refused: 530 5.7.10 REQUIRETLS needs an encrypted session",
		"tls offers REQUIRETLS: True",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("python output lacks %q:\n%s", want, got)
		}
	}
	msgs := h.sub.messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages queued, want 3:\n%s", len(msgs), got)
	}
	for i, want := range []struct{ requireTLS, optional bool }{
		{true, false}, // REQUIRETLS wins over the header (RFC 8689 §4.1)
		{false, true},
		{false, false},
	} {
		env := msgs[i].Env
		if env.RequireTLS != want.requireTLS || env.TLSOptional != want.optional {
			t.Errorf("message %d (%s): RequireTLS=%v TLSOptional=%v, want %v %v", i+1, env.Subject, env.RequireTLS, env.TLSOptional, want.requireTLS, want.optional)
		}
	}
}
