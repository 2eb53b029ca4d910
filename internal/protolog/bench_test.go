package protolog_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/logfile"
	"github.com/mailflowhq/mailflow/internal/protolog"
)

// realisticLog builds about size bytes of receive log: interleaved sessions
// with banners (quoted: they hold commas), EHLO replies, certificate lines,
// TLS lines (quoted) and envelope commands.
func realisticLog(size int) []byte {
	var b bytes.Buffer
	b.WriteString("#Software: Microsoft Exchange Server\r\n#Version: 15.0.0.0\r\n#Log-type: SMTP Receive Protocol Log\r\n" +
		"#Date: 2023-01-11T15:00:00.000Z\r\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n")
	script := []struct{ ev, data, ctx string }{
		{"+", "", ""},
		{"*", "SMTPSubmit SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender AcceptRoutingHeaders", "Set Session Permissions"},
		{">", `"220 SRV.DOMAIN.TEST Microsoft ESMTP MAIL Service ready at Wed, 11 Jan 2023 16:59:51 +0100"`, ""},
		{"<", "EHLO mail.fabrikam.com", ""},
		{">", "250  SRV.DOMAIN.TEST Hello [95.10.20.33] SIZE 37748736 PIPELINING DSN ENHANCEDSTATUSCODES STARTTLS X-ANONYMOUSTLS AUTH NTLM X-EXPS GSSAPI NTLM 8BITMIME BINARYMIME CHUNKING XRDST", ""},
		{"<", "STARTTLS", ""},
		{">", "220 2.0.0 SMTP server ready", ""},
		{"*", " CN=SRV CN=SRV 12DEABC6565646512346ABDC13456894 0123456789ABCDEF0123456789ABCDEF01234567 2020-01-17T15:15:33.000Z 2025-01-17T15:15:33.000Z SRV;SRV.DOMAIN.TEST", "Sending certificate Subject Issuer name Serial number Thumbprint Not before Not after Subject alternate names"},
		{"*", "", `"TLS protocol SP_PROT_TLS1_2_SERVER negotiation succeeded using bulk encryption algorithm CALG_AES_128 with strength 128 bits, MAC hash algorithm CALG_SHA_256 with strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 256 bits"`},
		{"<", "MAIL FROM:<someone@fabrikam.com> SIZE=4096", ""},
		{">", "250 2.1.0 Sender OK", ""},
		{"<", "RCPT TO:<user@contoso.com>", ""},
		{">", "250 2.1.5 Recipient OK", ""},
		{"<", "BDAT 4096 LAST", ""},
		{">", `"250 2.6.0 <A1B2@fabrikam.com> [InternalId=123, Hostname=SRV.DOMAIN.TEST] 4096 bytes in 0.012, 333 KB/sec Queued mail for delivery"`, ""},
		{"-", "", "Local"},
	}
	ts := time.Date(2023, 1, 11, 15, 0, 0, 0, time.UTC)
	for s := 0; b.Len() < size; s++ {
		id := fmt.Sprintf("08DAF3%010X", s)
		for seq, l := range script {
			fmt.Fprintf(&b, "%s,SRV\\Default Frontend SRV,%s,%d,10.10.10.10:25,95.10.%d.%d:%d,%s,%s,%s\r\n",
				logfile.AppendTime(nil, ts), id, seq, s%250, seq, 40000+s%20000, l.ev, l.data, l.ctx)
			ts = ts.Add(time.Millisecond)
		}
	}
	return b.Bytes()
}

// BenchmarkReader reports read throughput (MB/s via SetBytes); the goal is
// at least 300 MB/s per core.
func BenchmarkReader(b *testing.B) {
	data := realisticLog(8 << 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	records := 0
	for i := 0; i < b.N; i++ {
		r := protolog.NewReader(bytes.NewReader(data))
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if rec.Event == 0 {
				b.Fatal("empty event")
			}
			records++
		}
		if r.Malformed() != 0 {
			b.Fatalf("%d malformed", r.Malformed())
		}
	}
	b.ReportMetric(float64(records)/float64(b.N), "records/op")
}

// BenchmarkSessionLine measures what a session pays per logged line (format
// plus buffered append); disk writes happen in Flush, outside the timer.
func BenchmarkSessionLine(b *testing.B) {
	w, err := protolog.NewWriter(protolog.Options{Dir: b.TempDir(), FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	s := w.Session(`SRV\Default Frontend SRV`, "10.10.10.10:25", "95.10.20.33:56026")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Sent("250 2.1.5 Recipient OK")
		if i%16384 == 16383 {
			b.StopTimer()
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	if w.Dropped() != 0 {
		b.Fatalf("%d lines dropped", w.Dropped())
	}
}

// BenchmarkSessionLineParallel shows contention on the shared buffer when
// many sessions log at once; the background flusher runs as in production.
func BenchmarkSessionLineParallel(b *testing.B) {
	w, err := protolog.NewWriter(protolog.Options{Dir: b.TempDir(), FlushInterval: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		s := w.Session(`SRV\Default Frontend SRV`, "10.10.10.10:25", "95.10.20.33:56026")
		for pb.Next() {
			s.Received("RCPT TO:<user@contoso.com>")
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(w.Dropped())/float64(b.N), "dropped/op")
}
