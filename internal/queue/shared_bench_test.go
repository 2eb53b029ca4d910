package queue

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// BenchmarkQueueThroughput measures the queue from Put to delivered, with a
// Deliverer that accepts at once (so the store is what is measured): bbolt
// on one node, PostgreSQL (fsync on) with one and with two nodes sharing
// it. It reports delivered msgs/s and the p50/p99 latency of Put (the
// time a client waits for its 250). 1 KiB bodies, 32 concurrent senders.
func BenchmarkQueueThroughput(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pg := testkit.StartDurablePostgres(b) // for the whole benchmark, not one run of a sub-benchmark
	dbs := 0
	for _, tc := range []struct {
		name  string
		nodes int
	}{{"bbolt", 1}, {"postgres-1node", 1}, {"postgres-2nodes", 2}} {
		b.Run(tc.name, func(b *testing.B) {
			var delivered atomic.Int64
			d := DelivererFunc(func(_ context.Context, _ *Message, _ func() (io.ReadCloser, error), rcpts []string) []Result {
				delivered.Add(1)
				out := make([]Result, len(rcpts))
				for i, r := range rcpts {
					out[i] = Result{Rcpt: r, Outcome: outcome.Delivered, Status: "250 OK"}
				}
				return out
			})
			var queues []*Queue
			dsn := ""
			if tc.name != "bbolt" {
				dbs++
				dsn = pg.CreateDatabase(b, fmt.Sprintf("bench_%d", dbs))
			}
			for n := range tc.nodes {
				o := Options{Logger: quiet, ServerFQDN: "bench.local", Deliverer: d, Concurrency: 20}
				if dsn == "" {
					o.Dir = b.TempDir()
				} else {
					s, err := OpenPostgresStore(context.Background(), PostgresOptions{DSN: dsn, Node: fmt.Sprintf("n%d", n), Logger: quiet})
					if err != nil {
						b.Fatal(err)
					}
					o.Store, o.CloseStore = s, true
				}
				q, err := Open(o)
				if err != nil {
					b.Fatal(err)
				}
				queues = append(queues, q)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var runs sync.WaitGroup
			for _, q := range queues {
				runs.Add(1)
				go func() { defer runs.Done(); q.Run(ctx) }()
			}
			body := make([]byte, 1<<10)
			env := sampleEnv("bob@fabrikam.com")
			var latMu sync.Mutex
			var lat []time.Duration
			var next atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					q := queues[int(next.Add(1))%len(queues)]
					t0 := time.Now()
					if _, err := q.Put(context.Background(), env, body); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				latMu.Lock()
				lat = append(lat, mine...)
				latMu.Unlock()
			})
			for delivered.Load() < int64(b.N) {
				time.Sleep(time.Millisecond) // benchmark drain, not a test's synchronisation
			}
			b.StopTimer()
			cancel()
			runs.Wait()
			for _, q := range queues {
				q.Close()
			}
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "delivered/s")
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "put-p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "put-p99-ms")
			}
		})
	}
}
