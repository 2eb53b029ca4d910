package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// handshakes is part 2: fresh STARTTLS sessions per second on one
// connector, for an ECDSA P-256 and an RSA-2048 certificate, against a bare
// crypto/tls server with the same certificate measured by the same client
// (the physical limit on this machine).
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

	specs := [2]handshakeSpec{ // 0 raw crypto/tls (baseline), 1 mailflow
		{Addr: rawAddr, SMTP: false, Workers: h.opts.hsWorkers, Timeout: 30 * time.Second},
		{Addr: mf.addr, SMTP: true, Workers: h.opts.hsWorkers, Timeout: 30 * time.Second},
	}
	names := [2]string{"raw crypto/tls", "mailflow"}
	for i := range specs {
		warm := specs[i]
		warm.Duration = min(h.opts.hsDuration/3, time.Second)
		if r := driveHandshakes(ctx, warm); r.Errors > 0 {
			return fmt.Errorf("%s warm-up: %d errors; first: %w", names[i], r.Errors, r.FirstErr)
		}
	}
	var rates [2][]float64
	for r := range h.opts.hsRounds {
		for _, i := range order(r) {
			spec := specs[i]
			spec.Duration = h.opts.hsDuration
			res := driveHandshakes(ctx, spec)
			if res.Errors > 0 {
				return fmt.Errorf("%s round %d: %d of %d sessions failed; first: %w", names[i], r+1, res.Errors, res.Errors+res.Sessions, res.FirstErr)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rates[i] = append(rates[i], res.Rate())
			fmt.Printf("  round %d %-8s %-15s %6.0f sessions/s\n", r+1, label, names[i], res.Rate())
		}
	}
	h.add(newRow("fresh STARTTLS sessions/s", label, "sessions/s", rates[1], "raw crypto/tls handshakes", rates[0],
		&goal{Kind: "min_ratio", Value: 0.85, Text: "≥ 0.85× raw"}))
	return nil
}
