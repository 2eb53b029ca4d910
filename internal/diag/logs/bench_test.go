package logs

import (
	"bytes"
	"testing"
	"time"
)

// BenchmarkAnalyze measures protocol-log analysis throughput (MB/s via
// SetBytes) over a realistic generated log; the goal is at least 300 MB/s
// per core.
func BenchmarkAnalyze(b *testing.B) {
	var buf bytes.Buffer
	if err := GenerateProtocolLog(&buf, 32<<20); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		a := NewAnalyzer(Options{Expect: []string{"mail.contoso.com"}, Now: func() time.Time { return now }})
		if err := a.ReadLog("bench.LOG", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		r := a.Report()
		if r.Files[0].Malformed != 0 || len(r.Connectors) != 2 {
			b.Fatalf("unexpected report: %d malformed, %d connectors", r.Files[0].Malformed, len(r.Connectors))
		}
	}
}
