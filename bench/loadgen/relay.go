package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// relaySystem is one relay under test (Postfix or mailflow) with its own
// sink, so each system's end-to-end count is its own.
type relaySystem struct {
	name string
	addr string
	sink *sinkCounter
}

// relayRun is one round of one system.
type relayRun struct {
	accepted float64 // messages/s until the last final 250
	e2e      float64 // messages/s until the sink had them all
	p50, p99 float64 // final-250 wait, ms (NaN for smtp-source)
}

// relay is part 1: relay throughput with durable queues, plain SMTP with
// smtp-source → relay → smtp-sink, then STARTTLS on both legs with the Go
// load generator → relay → the Go TLS sink.
func (h *harness) relay(ctx context.Context) error {
	if why := postfixMissing(); why != "" {
		h.skip("relay: %s", why)
		return nil
	}
	dir := filepath.Join(h.work, "relay")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cert, err := makeCert(dir, "relay-ecdsa", "ecdsa-p256")
	if err != nil {
		return err
	}
	if err := h.relayLeg(ctx, false, cert); err != nil {
		return fmt.Errorf("plain SMTP: %w", err)
	}
	if err := h.relayLeg(ctx, true, cert); err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	return nil
}

func (h *harness) relayLeg(ctx context.Context, useTLS bool, cert certFiles) error {
	leg := "plain"
	if useTLS {
		leg = "tls"
	}
	dir := filepath.Join(h.work, "relay", leg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// 0 Postfix (the baseline), 1 mailflow, 2 an earlier mailflow build
	// (--before REV) when given.
	names := []string{"postfix", "mailflow"}
	if h.opts.before != "" {
		names = append(names, "mailflow-before")
	}
	systems := make([]*relaySystem, len(names))
	sinkPorts := make([]int, len(names))
	for i, name := range names {
		sink, port, stop, err := h.startSink(ctx, dir, "sink-for-"+name, useTLS, cert)
		if err != nil {
			return err
		}
		defer stop()
		sinkPorts[i] = port
		systems[i] = &relaySystem{sink: sink}
	}
	pf, err := startPostfix(ctx, h.opts.configs, filepath.Join(dir, "postfix"), postfixParams{
		SinkPort: sinkPorts[0], TLS: useTLS, KeyFile: cert.Key, CertFile: cert.Cert,
	})
	if err != nil {
		return err
	}
	defer pf.stop()
	pfName := "Postfix " + postfixVersion(pf.etc)
	h.res.Environment["postfix"] = pfName
	systems[0].name, systems[0].addr = pfName, pf.addr()

	mf, err := h.startMailflow(ctx, "mailflow-relay.yaml.tmpl", filepath.Join(dir, "mailflow"), mailflowParams{
		CertFile: cert.PEM, SinkPort: sinkPorts[1], TLS: useTLS,
	}, "relay-"+leg)
	if err != nil {
		return err
	}
	defer mf.stop()
	systems[1].name, systems[1].addr = "mailflow", mf.addr
	if len(systems) > 2 {
		old, err := h.startMailflowBinary(ctx, h.opts.before, "mailflow-relay.yaml.tmpl", filepath.Join(dir, "mailflow-before"), mailflowParams{
			CertFile: cert.PEM, SinkPort: sinkPorts[2], TLS: useTLS,
		}, "")
		if err != nil {
			return fmt.Errorf("the earlier build (--before-mailflow): %w", err)
		}
		defer old.stop()
		systems[2].name, systems[2].addr = "mailflow "+cmp.Or(h.opts.beforeRev, "before"), old.addr
	}

	// Warm-up, not measured: page cache, Postfix's process pool, Go's heap.
	for _, s := range systems {
		if _, err := h.goRelay(ctx, s, useTLS, max(h.opts.messages/10, 50)); err != nil {
			return fmt.Errorf("%s warm-up: %w", s.name, err)
		}
	}

	source := make([][]relayRun, len(systems))
	goRuns := make([][]relayRun, len(systems))
	for r := range h.opts.rounds {
		if !useTLS {
			for _, i := range rotation(r, len(systems)) {
				run, err := h.smtpSource(ctx, systems[i])
				if err != nil {
					return fmt.Errorf("%s, smtp-source round %d: %w", systems[i].name, r+1, err)
				}
				source[i] = append(source[i], run)
				fmt.Printf("  round %d %-22s smtp-source: accepted %.0f msg/s, end-to-end %.0f msg/s\n", r+1, systems[i].name, run.accepted, run.e2e)
			}
		}
		for _, i := range rotation(r, len(systems)) {
			run, err := h.goRelay(ctx, systems[i], useTLS, h.opts.messages)
			if err != nil {
				return fmt.Errorf("%s, Go load generator round %d: %w", systems[i].name, r+1, err)
			}
			goRuns[i] = append(goRuns[i], run)
			fmt.Printf("  round %d %-22s Go loadgen:  accepted %.0f msg/s, end-to-end %.0f msg/s, final 250 p50 %.1f ms p99 %.1f ms\n",
				r+1, systems[i].name, run.accepted, run.e2e, run.p50, run.p99)
		}
	}

	// Connections the relays opened to their sinks per relayed message,
	// over the whole leg, warm-up included: a kept connection carries
	// messages across rounds. (Postfix caches plaintext connections; with
	// TLS its default smtp_tls_connection_reuse = no opens one per
	// message.)
	connsPerMsg := make([][]float64, len(systems))
	for i, s := range systems {
		connsPerMsg[i] = []float64{float64(s.sink.sessions()) / float64(max(s.sink.count(), 1))}
	}
	conns := func(part string) {
		h.add(newRow(part, "send connections per message", "conn/msg", connsPerMsg[1], systems[0].name, connsPerMsg[0],
			&goal{Kind: "max_value", Value: 0.1, Text: "≈ 1/20 (≤ 0.1)"}))
	}
	twice := &goal{Kind: "min_ratio", Value: 2, Text: "≥ 2× Postfix"}
	pick := func(runs []relayRun, f func(relayRun) float64) []float64 {
		out := make([]float64, len(runs))
		for i, r := range runs {
			out[i] = f(r)
		}
		return out
	}
	acc := func(r relayRun) float64 { return r.accepted }
	e2e := func(r relayRun) float64 { return r.e2e }
	p50 := func(r relayRun) float64 { return r.p50 }
	p99 := func(r relayRun) float64 { return r.p99 }
	add := func(part, metric, unit string, runs [][]relayRun, f func(relayRun) float64, g *goal) {
		h.add(newRow(part, metric, unit, pick(runs[1], f), systems[0].name, pick(runs[0], f), g))
	}
	// Against the earlier build: throughput at least as high, within
	// the rounds' noise.
	asBefore := &goal{Kind: "min_ratio", Value: 0.95, Text: "≥ 0.95× the earlier build"}
	addBefore := func(part, metric, unit string, runs [][]relayRun, f func(relayRun) float64, g *goal) {
		if len(systems) > 2 {
			h.add(newRow(part, metric, unit, pick(runs[1], f), systems[2].name, pick(runs[2], f), g))
		}
	}
	if !useTLS {
		part := "relay, plain (smtp-source → smtp-sink)"
		add(part, "accepted", "msg/s", source, acc, twice)
		add(part, "end to end", "msg/s", source, e2e, twice)
		addBefore(part, "accepted", "msg/s", source, acc, asBefore)
		addBefore(part, "end to end", "msg/s", source, e2e, asBefore)
		part = "relay, plain (Go loadgen → smtp-sink)"
		add(part, "accepted", "msg/s", goRuns, acc, twice)
		add(part, "final 250 p50", "ms", goRuns, p50, nil)
		add(part, "final 250 p99", "ms", goRuns, p99, nil)
		addBefore(part, "accepted", "msg/s", goRuns, acc, asBefore)
		addBefore(part, "final 250 p99", "ms", goRuns, p99, nil)
		conns("relay, plain (both generators → smtp-sink)")
		return nil
	}
	part := "relay, STARTTLS both legs (Go loadgen → Go TLS sink)"
	add(part, "accepted", "msg/s", goRuns, acc, twice)
	add(part, "end to end", "msg/s", goRuns, e2e, twice)
	add(part, "final 250 p50", "ms", goRuns, p50, nil)
	add(part, "final 250 p99", "ms", goRuns, p99, nil)
	addBefore(part, "accepted", "msg/s", goRuns, acc, asBefore)
	addBefore(part, "end to end", "msg/s", goRuns, e2e, asBefore)
	addBefore(part, "final 250 p99", "ms", goRuns, p99, nil)
	conns(part)
	return nil
}

// roundTimeout bounds one relay round: generous, so only a stuck system
// trips it.
func (h *harness) roundTimeout(messages int) time.Duration {
	return time.Minute + time.Duration(messages)*20*time.Millisecond
}

// smtpSource runs one smtp-source round against s.
func (h *harness) smtpSource(ctx context.Context, s *relaySystem) (relayRun, error) {
	ctx, cancel := context.WithTimeout(ctx, h.roundTimeout(h.opts.messages))
	defer cancel()
	base := s.sink.count()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "smtp-source",
		"-s", strconv.Itoa(h.opts.sessions), "-m", strconv.Itoa(h.opts.messages), "-l", strconv.Itoa(h.opts.size),
		"-f", "a@x.test", "-t", "b@example.com", s.addr)
	out, err := cmd.CombinedOutput()
	accepted := time.Since(start)
	if err != nil {
		return relayRun{}, fmt.Errorf("smtp-source: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := s.sink.wait(ctx, base+int64(h.opts.messages)); err != nil {
		return relayRun{}, err
	}
	n := float64(h.opts.messages)
	return relayRun{accepted: n / accepted.Seconds(), e2e: n / time.Since(start).Seconds(), p50: math.NaN(), p99: math.NaN()}, nil
}

// goRelay runs one round of the Go load generator against s.
func (h *harness) goRelay(ctx context.Context, s *relaySystem, useTLS bool, messages int) (relayRun, error) {
	return h.goRelaySized(ctx, s, useTLS, messages, h.opts.size)
}

// goRelaySized is goRelay with messages of size bytes.
func (h *harness) goRelaySized(ctx context.Context, s *relaySystem, useTLS bool, messages, size int) (relayRun, error) {
	ctx, cancel := context.WithTimeout(ctx, h.roundTimeout(messages)+time.Duration(messages)*time.Duration(size/(1<<20))*50*time.Millisecond)
	defer cancel()
	base := s.sink.count()
	start := time.Now()
	res := driveRelay(ctx, loadSpec{Addr: s.addr, Sessions: h.opts.sessions, Messages: messages, Size: size, TLS: useTLS, Timeout: time.Minute})
	if res.Errors > 0 {
		return relayRun{}, fmt.Errorf("%d of %d messages failed; first: %w", res.Errors, messages, res.FirstErr)
	}
	if err := s.sink.wait(ctx, base+int64(res.Accepted)); err != nil {
		return relayRun{}, err
	}
	n := float64(res.Accepted)
	return relayRun{
		accepted: n / res.Elapsed.Seconds(), e2e: n / time.Since(start).Seconds(),
		p50: percentile(res.Latencies, 50), p99: percentile(res.Latencies, 99),
	}, nil
}

var listeningOn = regexp.MustCompile(`^listening on (\S+)`)

// startSink starts smtp-sink (plain) or the Go TLS sink and follows its
// message count.
func (h *harness) startSink(ctx context.Context, dir, name string, useTLS bool, cert certFiles) (*sinkCounter, int, func(), error) {
	counter := &sinkCounter{}
	if useTLS {
		self, err := os.Executable()
		if err != nil {
			return nil, 0, nil, err
		}
		p, addr, err := startProc(ctx, procSpec{
			name: name, argv: []string{self, "sink", "--listen", "127.0.0.1:0", "--cert", cert.PEM}, logDir: dir,
			ready: listeningOn, onToken: counter.feed, onEOF: counter.close,
		})
		if err != nil {
			return nil, 0, nil, err
		}
		_, portStr, _ := strings.Cut(addr, ":")
		port, err := strconv.Atoi(portStr)
		if err != nil {
			p.stop()
			return nil, 0, nil, fmt.Errorf("sink address %q", addr)
		}
		return counter, port, p.stop, nil
	}
	port, err := freePort()
	if err != nil {
		return nil, 0, nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// -c: progress counters on stdout; -u: as root it must drop to a user.
	p, _, err := startProc(ctx, procSpec{
		name: name, argv: []string{"smtp-sink", "-u", "nobody", "-c", addr, "1000"}, logDir: dir,
		onToken: counter.feed, onEOF: counter.close,
	})
	if err != nil {
		return nil, 0, nil, err
	}
	if err := waitPort(ctx, addr, 30*time.Second); err != nil {
		p.stop()
		return nil, 0, nil, fmt.Errorf("smtp-sink: %w%s", err, p.tail())
	}
	return counter, port, p.stop, nil
}
