package tracking_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// BenchmarkLog measures what a transport stage pays per tracking event.
func BenchmarkLog(b *testing.B) {
	w, err := tracking.NewWriter(tracking.Options{Dir: b.TempDir(), FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	e := fullEvent(time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Log(e)
		if i%8192 == 8191 {
			b.StopTimer()
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

// BenchmarkReader reports tracking log read throughput.
func BenchmarkReader(b *testing.B) {
	dir := b.TempDir()
	clk := testkit.NewClock(t0)
	w, err := tracking.NewWriter(tracking.Options{Dir: dir, Now: clk.Now, FlushInterval: time.Hour, MaxFileSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 20000; i++ {
		w.Log(fullEvent(t0))
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	rc, err := tracking.Open(dir + "/MSGTRK2017041417-1.LOG")
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := tracking.NewReader(bytes.NewReader(data))
		n := 0
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 20000 {
			b.Fatalf("%d events", n)
		}
	}
}
