package logs

// Protocol logs built line by line for the tests.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/logfile"
)

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

func analyzeString(t *testing.T, opts Options, log string) *Report {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow("2025-06-01T00:00:00Z")
	}
	a := NewAnalyzer(opts)
	if err := a.ReadLog("test.LOG", strings.NewReader(log)); err != nil {
		t.Fatal(err)
	}
	return a.Report()
}
