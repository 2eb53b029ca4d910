package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"
)

// handshakes is part 2: fresh STARTTLS sessions per second on one
// connector, for an ECDSA P-256 and an RSA-2048 certificate, against a bare
// crypto/tls server with the same certificate measured by the same client
// (the physical limit on this machine). A third server, the Go sink without
// session tickets, speaks the same SMTP exchange as mailflow (greeting,
// EHLO, STARTTLS, handshake, EHLO, QUIT) with nothing behind it: the gap
// between it and the bare handshake is what the protocol costs, the gap
// between mailflow and it is what mailflow costs.
func (h *harness) handshakes(ctx context.Context) error {
	dir := filepath.Join(h.work, "handshake")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, kt := range []struct{ key, label string }{{"ecdsa-p256", "ECDSA P-256"}, {"rsa2048", "RSA-2048"}} {
		if err := h.handshakeKey(ctx, filepath.Join(dir, kt.key), kt.key, kt.label); err != nil {
			return fmt.Errorf("%s: %w", kt.label, err)
		}
	}
	return nil
}

func (h *harness) handshakeKey(ctx context.Context, dir, keyType, label string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cert, err := makeCert(dir, keyType, keyType)
	if err != nil {
		return err
	}
	mf, err := h.startMailflow(ctx, "mailflow-listener.yaml.tmpl", filepath.Join(dir, "mailflow"),
		mailflowParams{CertFile: cert.PEM, MaxConnections: 5000, MaxConnectionsPerIP: 5000}, "handshake-"+keyType)
	if err != nil {
		return err
	}
	defer mf.stop()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	raw, rawAddr, err := startProc(ctx, procSpec{
		name: "tls-server-" + keyType, argv: []string{self, "tls-server", "--cert", cert.PEM}, logDir: dir, ready: listeningOn,
	})
	if err != nil {
		return err
	}
	defer raw.stop()

	minArgv := []string{self, "sink", "--cert", cert.PEM, "--session-tickets=false"}
	if h.opts.profileDir != "" {
		// The baseline profiled too: mailflow's profile minus this one is
		// what mailflow adds to the same exchange.
		minArgv = append(minArgv, "--cpuprofile", filepath.Join(h.opts.profileDir, "handshake-minimal-"+keyType+".cpu.pprof"))
	}
	minimal, minAddr, err := startProc(ctx, procSpec{
		name: "minimal-starttls-" + keyType, argv: minArgv, logDir: dir, ready: listeningOn,
	})
	if err != nil {
		return err
	}
	defer minimal.stop()

	specs := [3]handshakeSpec{ // 0 raw crypto/tls (baseline), 1 mailflow, 2 minimal STARTTLS responder
		{Addr: rawAddr, SMTP: false, Workers: h.opts.hsWorkers, Timeout: 30 * time.Second},
		{Addr: mf.addr, SMTP: true, Workers: h.opts.hsWorkers, Timeout: 30 * time.Second},
		{Addr: minAddr, SMTP: true, Workers: h.opts.hsWorkers, Timeout: 30 * time.Second},
	}
	names := [3]string{"raw crypto/tls", "mailflow", "minimal STARTTLS"}
	pids := [3]int{raw.pid(), mf.pid(), minimal.pid()}
	for i := range specs {
		warm := specs[i]
		warm.Duration = min(h.opts.hsDuration/3, time.Second)
		if r := driveHandshakes(ctx, warm); r.Errors > 0 {
			return fmt.Errorf("%s warm-up: %d errors; first: %w", names[i], r.Errors, r.FirstErr)
		}
	}
	// rates: sessions per second of wall time, client and server sharing
	// the machine; perCPU: sessions per CPU-second of the server process
	// alone, which the client's share and the neighbours' load barely move.
	var rates, perCPU [3][]float64
	for r := range h.opts.hsRounds {
		for _, i := range rotation(r, len(specs)) {
			spec := specs[i]
			spec.Duration = h.opts.hsDuration
			cpu0, err := cpuSeconds(pids[i])
			if err != nil {
				return err
			}
			res := driveHandshakes(ctx, spec)
			cpu1, err := cpuSeconds(pids[i])
			if err != nil {
				return err
			}
			if res.Errors > 0 {
				return fmt.Errorf("%s round %d: %d of %d sessions failed; first: %w", names[i], r+1, res.Errors, res.Errors+res.Sessions, res.FirstErr)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rates[i] = append(rates[i], res.Rate())
			cpuRate := math.NaN() // below the 10 ms tick: too short to tell
			if cpu1 > cpu0 {
				cpuRate = float64(res.Sessions) / (cpu1 - cpu0)
				perCPU[i] = append(perCPU[i], cpuRate)
			}
			fmt.Printf("  round %d %-11s %-16s %6.0f sessions/s, %6.0f per server CPU-second\n", r+1, label, names[i], res.Rate(), cpuRate)
		}
	}
	part := "fresh STARTTLS sessions, " + label
	h.add(newRow(part, "per second", "/s", rates[1], "raw crypto/tls handshakes", rates[0],
		&goal{Kind: "min_ratio", Value: 0.85, Text: "≥ 0.85× raw"}))
	h.add(newRow(part, "per second", "/s", rates[1], "minimal STARTTLS responder", rates[2], nil))
	h.add(newRow(part, "per server CPU-second", "/CPU-s", perCPU[1], "raw crypto/tls handshakes", perCPU[0],
		&goal{Kind: "min_ratio", Value: 0.85, Text: "≥ 0.85× raw"}))
	h.add(newRow(part, "per server CPU-second", "/CPU-s", perCPU[1], "minimal STARTTLS responder", perCPU[2], nil))
	return nil
}
