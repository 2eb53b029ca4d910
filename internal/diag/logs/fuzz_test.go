package logs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// FuzzAnalyze: any input — protocol log, tracking log or garbage, with or
// without headers — is analysed and reported without panicking, and the
// analysis keeps its memory bounds.
func FuzzAnalyze(f *testing.F) {
	for _, path := range []string{subjectMismatchLog, exchange2019Log, noCredsLog, noStartTLSLog, trackingLog,
		halfDir + "/SERVER1_RECV2025050209-1.LOG", halfDir + "/SERVER2_RECV2025050209-1.LOG"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("#Log-type: SMTP Send Protocol Log\n2025-05-02T09:00:00.000Z,c,s,0,l,1.2.3.4:25,*,,Sending certificate\n2025-05-02T09:00:00.000Z,c,s,1,l,1.2.3.4:25,*,x,Certificate thumbprint\n"))
	f.Add([]byte("#Log-type: Message Tracking Log\n2025-05-02T09:00:00.000Z,,,,,,,SMTP,DEFER,1,<m>,n,a@b;c@d,{LED=450 4.7.320 x};{LRT=1}\n"))
	f.Add([]byte("x,y,z,0,,,*, a b 0A 0123456789012345678901234567890123456789 1/2/2025 3:04:05 PM 1/2/2026 3:04:05 PM a;b,Sending certificate Subject Issuer name\n"))
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		a := NewAnalyzer(Options{
			Expect:          []string{"mail.contoso.com", "*.contoso.com"},
			Since:           time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
			Now:             func() time.Time { return now },
			MaxOpenSessions: 8,
		})
		err := a.ReadLog("fuzz.LOG", bytes.NewReader(data))
		if err != nil && errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("a bytes.Reader cannot fail to read: %v", err)
		}
		if n := len(a.proto.sessions); n > 8 {
			t.Fatalf("%d sessions open, bound is 8", n)
		}
		r := a.Report()
		if err := r.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteJSON(io.Discard); err != nil {
			t.Fatal(err)
		}
		if c := r.ExitCode(); c < 0 || c > 2 {
			t.Fatalf("exit code %d", c)
		}
		for _, c := range r.Connectors {
			if c.StartTLSOffered > c.EHLOSessions {
				t.Fatalf("%s: STARTTLS offered in %d of %d EHLO replies", c.Connector, c.StartTLSOffered, c.EHLOSessions)
			}
		}
	})
}
