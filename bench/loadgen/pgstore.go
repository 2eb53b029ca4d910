package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mailflowhq/mailflow/internal/pglocal"
)

// pgSystem is one relay set-up of the postgres part: one or more mailflow
// nodes (the load split evenly over them) relaying to one sink.
type pgSystem struct {
	name  string
	addrs []string
	sink  *sinkCounter
}

// postgresPart is the "postgres" part: the plain relay load (Go load
// generator → relay → smtp-sink) with the queue in a private, durable
// (fsync on) PostgreSQL on loopback — one mailflow node, and two nodes
// sharing the database with the load generator's sessions split over
// both — beside mailflow on its bbolt queue and Postfix, all four back to
// back in each round.
func (h *harness) postgresPart(ctx context.Context) error {
	if why := postfixMissing(); why != "" {
		h.skip("postgres: %s", why)
		return nil
	}
	pg, err := pglocal.New(true)
	if errors.Is(err, pglocal.ErrNotInstalled) || errors.Is(err, pglocal.ErrMissingUser) {
		h.skip("postgres: %v", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer pg.Close()
	h.res.Environment["postgresql"] = filepath.Base(filepath.Dir(pglocal.Bin()))

	dir := filepath.Join(h.work, "postgres")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cert, err := makeCert(dir, "postgres-ecdsa", "ecdsa-p256")
	if err != nil {
		return err
	}
	// 0 Postfix, 1 mailflow on bbolt, 2 one node on PostgreSQL, 3 two nodes.
	names := []string{"postfix", "bbolt", "pg-one", "pg-two"}
	systems := make([]*pgSystem, len(names))
	sinkPorts := make([]int, len(names))
	for i, name := range names {
		sink, port, stop, err := h.startSink(ctx, dir, "sink-for-"+name, false, cert)
		if err != nil {
			return err
		}
		defer stop()
		sinkPorts[i] = port
		systems[i] = &pgSystem{sink: sink}
	}
	pf, err := startPostfix(ctx, h.opts.configs, filepath.Join(dir, "postfix"), postfixParams{SinkPort: sinkPorts[0]})
	if err != nil {
		return err
	}
	defer pf.stop()
	systems[0].name, systems[0].addrs = "Postfix "+postfixVersion(pf.etc), []string{pf.addr()}

	var stops []func() // the mailflow nodes, stopped when the part returns
	start := func(sys int, node, dsn string) error {
		mf, err := h.startMailflow(ctx, "mailflow-relay.yaml.tmpl", filepath.Join(dir, node), mailflowParams{
			CertFile: cert.PEM, SinkPort: sinkPorts[sys], NodeName: node, QueueDSN: dsn,
		}, "postgres-"+node)
		if err != nil {
			return fmt.Errorf("%s: %w", node, err)
		}
		stops = append(stops, mf.stop)
		systems[sys].addrs = append(systems[sys].addrs, mf.addr)
		return nil
	}
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	if err := start(1, "BBOLT", ""); err != nil {
		return err
	}
	systems[1].name = "mailflow, bbolt queue"
	dbCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	oneDSN, err := pg.CreateDatabase(dbCtx, "mailflow_one")
	if err != nil {
		return err
	}
	twoDSN, err := pg.CreateDatabase(dbCtx, "mailflow_two")
	if err != nil {
		return err
	}
	if err := start(2, "PG1", oneDSN); err != nil {
		return err
	}
	systems[2].name = "mailflow, PostgreSQL queue, one node"
	for _, node := range []string{"PG2A", "PG2B"} {
		if err := start(3, node, twoDSN); err != nil {
			return err
		}
	}
	systems[3].name = "mailflow, PostgreSQL queue, two nodes"

	for _, s := range systems {
		if _, err := h.goRelaySplit(ctx, s, max(h.opts.messages/10, 50)); err != nil {
			return fmt.Errorf("%s warm-up: %w", s.name, err)
		}
	}
	runs := make([][]relayRun, len(systems))
	for r := range h.opts.rounds {
		for _, i := range rotation(r, len(systems)) {
			run, err := h.goRelaySplit(ctx, systems[i], h.opts.messages)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", systems[i].name, r+1, err)
			}
			runs[i] = append(runs[i], run)
			fmt.Printf("  round %d %-38s accepted %.0f msg/s, end-to-end %.0f msg/s, final 250 p50 %.1f ms p99 %.1f ms\n",
				r+1, systems[i].name, run.accepted, run.e2e, run.p50, run.p99)
		}
	}
	pick := func(rs []relayRun, f func(relayRun) float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		return out
	}
	metrics := []struct {
		metric, unit string
		f            func(relayRun) float64
	}{
		{"accepted", "msg/s", func(r relayRun) float64 { return r.accepted }},
		{"end to end", "msg/s", func(r relayRun) float64 { return r.e2e }},
		{"final 250 p50", "ms", func(r relayRun) float64 { return r.p50 }},
		{"final 250 p99", "ms", func(r relayRun) float64 { return r.p99 }},
	}
	for _, i := range []int{2, 3} {
		part := fmt.Sprintf("relay, plain, PostgreSQL queue, %s (Go loadgen → smtp-sink)", map[int]string{2: "one node", 3: "two nodes"}[i])
		for _, base := range []int{1, 0} {
			for _, m := range metrics {
				h.add(newRow(part, m.metric, m.unit, pick(runs[i], m.f), systems[base].name, pick(runs[base], m.f), nil))
			}
		}
	}
	return nil
}

// goRelaySplit runs one round of the Go load generator against s, the
// sessions and messages split evenly over its nodes, all at once. The
// accepted rate is over the slowest node's time; the percentiles over
// every final 250.
func (h *harness) goRelaySplit(ctx context.Context, s *pgSystem, messages int) (relayRun, error) {
	ctx, cancel := context.WithTimeout(ctx, h.roundTimeout(messages))
	defer cancel()
	base := s.sink.count()
	start := time.Now()
	n := len(s.addrs)
	results := make([]loadResult, n)
	var wg sync.WaitGroup
	for k, addr := range s.addrs {
		spec := loadSpec{Addr: addr, Sessions: share(h.opts.sessions, n, k), Messages: share(messages, n, k), Size: h.opts.size, Timeout: time.Minute}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[k] = driveRelay(ctx, spec)
		}()
	}
	wg.Wait()
	var accepted int
	var elapsed time.Duration
	var lat []time.Duration
	for k, res := range results {
		if res.Errors > 0 {
			return relayRun{}, fmt.Errorf("node %s: %d of %d messages failed; first: %w", s.addrs[k], res.Errors, share(messages, n, k), res.FirstErr)
		}
		accepted += res.Accepted
		elapsed = max(elapsed, res.Elapsed)
		lat = append(lat, res.Latencies...)
	}
	slices.Sort(lat)
	if err := s.sink.wait(ctx, base+int64(accepted)); err != nil {
		return relayRun{}, err
	}
	return relayRun{
		accepted: float64(accepted) / elapsed.Seconds(), e2e: float64(accepted) / time.Since(start).Seconds(),
		p50: percentile(lat, 50), p99: percentile(lat, 99),
	}, nil
}

// share is part k of total split over n as evenly as possible (at least 1).
func share(total, n, k int) int {
	s := total / n
	if k < total%n {
		s++
	}
	return max(s, 1)
}
