package queue

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
)

// BenchmarkPutParallel measures accepted messages per second with fsync on
// (every Put returns only after its group commit is on disk). It reports
// msgs/s and msgs/commit, the group-commit factor.
func BenchmarkPutParallel(b *testing.B) {
	for _, size := range []int{1 << 10, 32 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			bs, err := OpenBoltStore(filepath.Join(b.TempDir(), "queue.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			defer bs.Close()
			q, err := Open(Options{Store: bs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ServerFQDN: "bench.local"})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			body := make([]byte, size)
			env := sampleEnv("bob@fabrikam.com")
			b.SetBytes(int64(size))
			b.SetParallelism(16) // many SMTP sessions per core, as in a real server
			start := bs.Commits()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := q.Put(context.Background(), env, body); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			commits := bs.Commits() - start
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if commits > 0 {
				b.ReportMetric(float64(b.N)/float64(commits), "msgs/commit")
			}
		})
	}
}

// BenchmarkPutSerial is one session at a time: one fsync per message, the
// floor that group commit improves on.
func BenchmarkPutSerial(b *testing.B) {
	bs, err := OpenBoltStore(filepath.Join(b.TempDir(), "queue.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	q, err := Open(Options{Store: bs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ServerFQDN: "bench.local"})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	body := make([]byte, 1<<10)
	env := sampleEnv("bob@fabrikam.com")
	for b.Loop() {
		if _, err := q.Put(context.Background(), env, body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func byteSize(n int) string { return fmt.Sprintf("%dKiB", n>>10) }
