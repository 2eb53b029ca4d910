package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // the --pprof listener
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/mailflowhq/mailflow/internal/diag/logs"
	"github.com/mailflowhq/mailflow/internal/node"
)

// serveCmd runs `loadgen serve`: the same transport `mailflow serve` runs
// (node.Start, no admin API), in this process, so that it can be
// profiled. bench/run --profile DIR uses it in place of the mailflow
// binary. SIGUSR1 writes the heap profile (the idle-memory part sends it
// while its sessions are open); SIGINT/SIGTERM stop the server and write
// the CPU profile, and the heap profile if SIGUSR1 never came.
func serveCmd(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "mailflow configuration file (required)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	heapProfile := fs.String("heapprofile", "", "write a heap profile to this file on SIGUSR1 and at exit")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address, e.g. 127.0.0.1:6060")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return fmt.Errorf("serve: --config is required")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	stop, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stop()
	if *pprofAddr != "" {
		go func() {
			if err := http.ListenAndServe(*pprofAddr, nil); err != nil {
				logger.Error("pprof listener", "error", err)
			}
		}()
	}
	srv, err := node.Start(*cfgPath, node.Options{Logger: logger})
	if err != nil {
		return err
	}
	for _, a := range srv.Receiver().Addrs() {
		fmt.Printf("mailflow: listening on %s\n", a)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	heapWritten := false
	for sig := range sigs {
		if sig == syscall.SIGUSR1 {
			if err := writeHeapProfile(*heapProfile); err != nil {
				logger.Error("heap profile", "error", err)
			} else if *heapProfile != "" {
				heapWritten = true
				fmt.Printf("loadgen: heap profile written to %s\n", *heapProfile)
			}
			continue
		}
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Close(ctx)
	// The profile asked for while sessions were open is the one that
	// matters; at exit there is only a fresh one to write when none was.
	if !heapWritten {
		if herr := writeHeapProfile(*heapProfile); herr != nil && err == nil {
			err = herr
		}
	}
	return err
}

// analyzeCmd runs `loadgen analyze`: `mailflow logs analyze --json` in
// this process, with a CPU profile (bench/run --profile).
func analyzeCmd(args []string) error {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stop, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stop()
	now := time.Now()
	report := logs.Analyze(fs.Args(), logs.Options{Now: func() time.Time { return now }})
	return report.WriteJSON(os.Stdout)
}

func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("CPU profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return fmt.Errorf("heap profile %s: %w", path, err)
	}
	return nil
}
