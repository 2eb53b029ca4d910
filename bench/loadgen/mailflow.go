package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// mailflowParams fill bench/configs/mailflow-*.yaml.tmpl.
type mailflowParams struct {
	DataDir             string
	CertFile            string
	Port                int
	SinkPort            int
	TLS                 bool
	MaxConnections      int
	MaxConnectionsPerIP int
	IdleConnector       bool   // relay: an anonymous connector for 127.0.0.0/8 (the scale part's idle sessions)
	NodeName            string // server.name (the postgres part's two nodes); default BENCH
	QueueDSN            string // relay: the queue in PostgreSQL instead of bbolt (the postgres part)
	AdminPort           int    // relay: the admin listener (web admin center, /metrics) on 127.0.0.1:AdminPort; 0 = off (the dashboard part)
}

// mailflowInstance is a running `mailflow serve` (or, with --profile,
// `loadgen serve`, the same transport in a profiled process).
type mailflowInstance struct {
	*proc
	addr      string
	profiled  bool
	heapWrote chan struct{} // a "heap profile written" line, when profiled
}

var listeningLine = regexp.MustCompile(`^mailflow: listening on (\S+)`)

// startMailflow renders template (a file in configs) into dir and serves
// it. profile names the CPU and heap profiles when profiling.
func (h *harness) startMailflow(ctx context.Context, template, dir string, p mailflowParams, profile string) (*mailflowInstance, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mailflow instance: %w", err)
	}
	if p.Port == 0 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p.Port = port
	}
	p.DataDir = filepath.Join(dir, "data")
	if p.MaxConnections == 0 {
		p.MaxConnections = 5000
	}
	if p.MaxConnectionsPerIP == 0 {
		p.MaxConnectionsPerIP = p.MaxConnections
	}
	cfg, err := renderTemplate(filepath.Join(h.opts.configs, template), p)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "mailflow.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return nil, fmt.Errorf("mailflow config: %w", err)
	}
	argv := []string{h.opts.mailflow, "serve", "--config", cfgPath}
	profiled := h.opts.profileDir != "" && profile != ""
	if profiled {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		argv = []string{self, "serve", "--config", cfgPath,
			"--cpuprofile", filepath.Join(h.opts.profileDir, profile+".cpu.pprof"),
			"--heapprofile", filepath.Join(h.opts.profileDir, profile+".heap.pprof")}
	}
	inst := &mailflowInstance{profiled: profiled, heapWrote: make(chan struct{}, 16)}
	pr, addr, err := startProc(ctx, procSpec{
		name: "mailflow-" + filepath.Base(dir), argv: argv, logDir: dir,
		ready: listeningLine, timeout: time.Minute,
		onToken: func(tok []byte) {
			if heapWritten.Match(tok) {
				inst.heapWrote <- struct{}{}
			}
		},
	})
	if err != nil {
		return nil, err
	}
	if addr != "127.0.0.1:"+strconv.Itoa(p.Port) {
		pr.stop()
		return nil, fmt.Errorf("mailflow listens on %s, expected 127.0.0.1:%d", addr, p.Port)
	}
	inst.proc, inst.addr = pr, addr
	return inst, nil
}

var heapWritten = regexp.MustCompile(`^loadgen: heap profile written`)

// heapProfile asks a profiled instance for a heap profile now and waits
// until it is written; without --profile it does nothing.
func (m *mailflowInstance) heapProfile(ctx context.Context) error {
	if !m.profiled {
		return nil
	}
	if err := m.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-m.heapWrote:
		return nil
	case <-m.done:
		return fmt.Errorf("heap profile: mailflow exited%s", m.tail())
	case <-t.C:
		return fmt.Errorf("heap profile: not written within a minute")
	case <-ctx.Done():
		return ctx.Err()
	}
}
