package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// memory is part 3: mailflow's resident memory with many idle sessions
// (after EHLO; and after STARTTLS and EHLO again), and the bytes each one
// costs: (RSS at the largest count − RSS before any session) / count.
// Sessions come from many 127.1.x.y addresses, perIP at most from each, to
// stay under max_connections_per_ip as real senders would.
func (h *harness) memory(ctx context.Context) error {
	counts := slices.Clone(h.opts.idle)
	slices.Sort(counts)
	maxN := counts[len(counts)-1]
	// This process holds one socket per session, mailflow another; Go has
	// already raised our soft limit to the hard one (as it does for
	// mailflow), so the hard limit is what counts.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(maxN+256) {
		h.skip("memory: %d idle sessions need more than %d open files (ulimit -n); bench/run raises it when run as root, or pass --idle", maxN, lim.Cur)
		return nil
	}
	const perIP = 50
	dir := filepath.Join(h.work, "memory")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cert, err := makeCert(dir, "idle-ecdsa", "ecdsa-p256")
	if err != nil {
		return err
	}
	for _, useTLS := range []bool{false, true} {
		mode := "EHLO"
		if useTLS {
			mode = "STARTTLS, EHLO"
		}
		rss := make([][]float64, len(counts)) // MiB per count, per round
		var perSession []float64              // KiB
		for r := range h.opts.memRounds {
			name := fmt.Sprintf("idle-tls%v-%d", useTLS, r+1)
			mf, err := h.startMailflow(ctx, "mailflow-listener.yaml.tmpl", filepath.Join(dir, name), mailflowParams{
				CertFile: cert.PEM, MaxConnections: maxN + 100, MaxConnectionsPerIP: 2 * perIP,
			}, "idle-"+strconv.FormatBool(useTLS))
			if err != nil {
				return err
			}
			base, err := rssBytes(mf.pid())
			if err != nil {
				mf.stop()
				return err
			}
			var open []*client
			for i, n := range counts {
				more, err := openIdle(ctx, mf.addr, len(open), n-len(open), perIP, useTLS, time.Minute)
				if err != nil {
					closeAll(open)
					mf.stop()
					return fmt.Errorf("open %d idle sessions: %w", n, err)
				}
				open = append(open, more...)
				v, err := rssBytes(mf.pid())
				if err != nil {
					closeAll(open)
					mf.stop()
					return err
				}
				rss[i] = append(rss[i], float64(v)/(1<<20))
				if n == maxN {
					perSession = append(perSession, float64(v-base)/float64(n)/1024)
					if err := mf.heapProfile(ctx); err != nil {
						closeAll(open)
						mf.stop()
						return err
					}
				}
				fmt.Printf("  round %d %-15s %6d sessions: RSS %.1f MiB (%.1f MiB before any)\n", r+1, mode, n, float64(v)/(1<<20), float64(base)/(1<<20))
			}
			closeAll(open)
			mf.stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		part := "memory, idle sessions (" + mode + ")"
		for i, n := range counts {
			h.add(newRow(part, fmt.Sprintf("RSS with %d sessions", n), "MiB", rss[i], "", nil, nil))
		}
		h.add(newRow(part, "bytes per session", "KiB", perSession, "", nil,
			&goal{Kind: "max_value", Value: 64, Text: "≤ 64 KiB"}))
	}
	return nil
}
