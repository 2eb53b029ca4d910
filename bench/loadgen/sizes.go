package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// sizes is the "sizes" part: relay throughput with larger messages (the
// relay part measures 1 KB), plain SMTP, Go load generator → relay →
// smtp-sink, Postfix and mailflow back to back in each round. Fewer
// messages per round as they grow, so each round moves a similar volume.
func (h *harness) sizes(ctx context.Context) error {
	if why := postfixMissing(); why != "" {
		h.skip("sizes: %s", why)
		return nil
	}
	dir := filepath.Join(h.work, "sizes")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cert, err := makeCert(dir, "sizes-ecdsa", "ecdsa-p256")
	if err != nil {
		return err
	}
	var systems [2]*relaySystem
	var sinkPorts [2]int
	for i, name := range []string{"postfix", "mailflow"} {
		sink, port, stop, err := h.startSink(ctx, dir, "sink-for-"+name, false, cert)
		if err != nil {
			return err
		}
		defer stop()
		sinkPorts[i] = port
		systems[i] = &relaySystem{sink: sink}
	}
	pf, err := startPostfix(ctx, h.opts.configs, filepath.Join(dir, "postfix"), postfixParams{SinkPort: sinkPorts[0]})
	if err != nil {
		return err
	}
	defer pf.stop()
	systems[0].name, systems[0].addr = "Postfix "+postfixVersion(pf.etc), pf.addr()
	mf, err := h.startMailflow(ctx, "mailflow-relay.yaml.tmpl", filepath.Join(dir, "mailflow"), mailflowParams{CertFile: cert.PEM, SinkPort: sinkPorts[1]}, "sizes")
	if err != nil {
		return err
	}
	defer mf.stop()
	systems[1].name, systems[1].addr = "mailflow", mf.addr

	for _, size := range h.opts.sizes {
		// A quarter of the 1 KB count at 100 KB (2,000 → 500), one per
		// session at 10 MB: tens to hundreds of MB per round.
		messages := max(h.opts.messages*25_000/size, h.opts.sessions)
		messages = min(messages, h.opts.messages)
		var runs [2][]relayRun
		for r := range h.opts.rounds {
			for _, i := range order(r) {
				run, err := h.goRelaySized(ctx, systems[i], false, messages, size)
				if err != nil {
					return fmt.Errorf("%s, %d-byte messages, round %d: %w", systems[i].name, size, r+1, err)
				}
				runs[i] = append(runs[i], run)
				fmt.Printf("  round %d %-22s %s × %d: accepted %.1f msg/s, end-to-end %.1f msg/s, final 250 p99 %.1f ms\n",
					r+1, systems[i].name, sizeName(size), messages, run.accepted, run.e2e, run.p99)
			}
		}
		pick := func(rs []relayRun, f func(relayRun) float64) []float64 {
			out := make([]float64, len(rs))
			for i, r := range rs {
				out[i] = f(r)
			}
			return out
		}
		part := fmt.Sprintf("relay, plain, %s messages (Go loadgen → smtp-sink)", sizeName(size))
		for _, m := range []struct {
			metric, unit string
			f            func(relayRun) float64
			g            *goal
		}{
			{"end to end", "msg/s", func(r relayRun) float64 { return r.e2e }, &goal{Kind: "min_ratio", Value: 1, Text: "≥ Postfix"}},
			{"end to end", "MB/s", func(r relayRun) float64 { return r.e2e * float64(size) / 1e6 }, nil},
			{"final 250 p99", "ms", func(r relayRun) float64 { return r.p99 }, nil},
		} {
			h.add(newRow(part, m.metric, m.unit, pick(runs[1], m.f), systems[0].name, pick(runs[0], m.f), m.g))
		}
	}
	return nil
}

func sizeName(size int) string {
	switch {
	case size >= 1e6:
		return fmt.Sprintf("%g MB", float64(size)/1e6)
	case size >= 1e3:
		return fmt.Sprintf("%g KB", float64(size)/1e3)
	}
	return fmt.Sprintf("%d B", size)
}
