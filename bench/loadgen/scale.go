package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// scale is the "scale" part: the plain relay load while the largest
// --idle count of idle sessions (after EHLO, from 127.1.x.y) is held open
// on the same mailflow, against the same load on the same instance
// without them, back to back in each round. Postfix is not run: its
// default process limit (100 smtpd processes) cannot hold the idle
// sessions, so the comparison would be of queueing in the listen backlog.
func (h *harness) scale(ctx context.Context) error {
	if why := postfixMissing(); why != "" { // smtp-sink
		h.skip("scale: %s", why)
		return nil
	}
	idle := slices.Max(h.opts.idle)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(idle+1024) {
		h.skip("scale: %d idle sessions need more than %d open files (ulimit -n)", idle, lim.Cur)
		return nil
	}
	dir := filepath.Join(h.work, "scale")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cert, err := makeCert(dir, "scale-ecdsa", "ecdsa-p256")
	if err != nil {
		return err
	}
	sink, port, stop, err := h.startSink(ctx, dir, "sink", false, cert)
	if err != nil {
		return err
	}
	defer stop()
	mf, err := h.startMailflow(ctx, "mailflow-relay.yaml.tmpl", filepath.Join(dir, "mailflow"), mailflowParams{
		CertFile: cert.PEM, SinkPort: port, MaxConnections: idle + 1000, IdleConnector: true,
	}, "scale")
	if err != nil {
		return err
	}
	defer mf.stop()
	sys := &relaySystem{name: "mailflow", addr: mf.addr, sink: sink}
	if _, err := h.goRelay(ctx, sys, false, max(h.opts.messages/10, 50)); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var with, without []relayRun
	var rss []float64
	for r := range h.opts.rounds {
		for _, k := range order(r) {
			if k == 0 {
				run, err := h.goRelay(ctx, sys, false, h.opts.messages)
				if err != nil {
					return fmt.Errorf("round %d without idle sessions: %w", r+1, err)
				}
				without = append(without, run)
				fmt.Printf("  round %d %6d idle: accepted %.0f msg/s, final 250 p50 %.1f ms p99 %.1f ms\n", r+1, 0, run.accepted, run.p50, run.p99)
				continue
			}
			open, err := openIdle(ctx, mf.addr, 0, idle, 50, false, time.Minute)
			if err != nil {
				closeAll(open)
				return fmt.Errorf("open %d idle sessions: %w", idle, err)
			}
			run, err := h.goRelay(ctx, sys, false, h.opts.messages)
			v, rerr := rssBytes(mf.pid())
			closeAll(open)
			if err != nil {
				return fmt.Errorf("round %d with %d idle sessions: %w", r+1, idle, err)
			}
			if rerr != nil {
				return rerr
			}
			with = append(with, run)
			rss = append(rss, float64(v)/(1<<20))
			fmt.Printf("  round %d %6d idle: accepted %.0f msg/s, final 250 p50 %.1f ms p99 %.1f ms, RSS %.1f MiB\n", r+1, idle, run.accepted, run.p50, run.p99, float64(v)/(1<<20))
		}
	}
	pick := func(rs []relayRun, f func(relayRun) float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		return out
	}
	part := fmt.Sprintf("relay, plain, with %d idle sessions open", idle)
	base := "mailflow without idle sessions"
	h.add(newRow(part, "accepted", "msg/s", pick(with, func(r relayRun) float64 { return r.accepted }), base, pick(without, func(r relayRun) float64 { return r.accepted }), nil))
	h.add(newRow(part, "final 250 p50", "ms", pick(with, func(r relayRun) float64 { return r.p50 }), base, pick(without, func(r relayRun) float64 { return r.p50 }), nil))
	h.add(newRow(part, "final 250 p99", "ms", pick(with, func(r relayRun) float64 { return r.p99 }), base, pick(without, func(r relayRun) float64 { return r.p99 }), nil))
	h.add(newRow(part, "RSS under load", "MiB", rss, "", nil, nil))
	return nil
}
