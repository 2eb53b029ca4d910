package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// dashboardPages are what the poller opens in turn: the pages an admin
// leaves open on a wall screen, each reading the live node (the map reads
// every connector and certificate, the queue page the whole queue).
var dashboardPages = []string{"/map", "/queues", "/certificates", "/trace"}

// dashboard is the "dashboard" part: does the web admin center slow the
// transport? One mailflow relay (plain, durable, as the relay part) with
// its admin listener on; rounds alternate between the relay load alone and
// the same load while headless chromium, logged in, opens an admin page
// every --poll-interval and a Prometheus-style client scrapes /metrics at
// the same pace. Reported: throughput and final-250 latency with the
// browser against without, on the same instance, paired per round.
func (h *harness) dashboard(ctx context.Context) error {
	if why := postfixMissing(); why != "" { // smtp-sink is the relay's peer
		h.skip("dashboard: %s", why)
		return nil
	}
	if _, err := os.Stat(testkit.Chromium); err != nil {
		h.skip("dashboard: chromium is not installed at %s (Debian: apt-get install chromium)", testkit.Chromium)
		return nil
	}
	dir := filepath.Join(h.work, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cert, err := makeCert(dir, "dashboard-ecdsa", "ecdsa-p256")
	if err != nil {
		return err
	}
	sink, sinkPort, stopSink, err := h.startSink(ctx, dir, "sink", false, cert)
	if err != nil {
		return err
	}
	defer stopSink()
	adminPort, err := freePort()
	if err != nil {
		return err
	}
	mfDir := filepath.Join(dir, "mailflow")
	mf, err := h.startMailflow(ctx, "mailflow-relay.yaml.tmpl", mfDir, mailflowParams{
		CertFile: cert.PEM, SinkPort: sinkPort, AdminPort: adminPort,
	}, "dashboard")
	if err != nil {
		return err
	}
	defer mf.stop()
	base := "http://127.0.0.1:" + strconv.Itoa(adminPort)
	if err := waitPort(ctx, "127.0.0.1:"+strconv.Itoa(adminPort), 30*time.Second); err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	token, err := os.ReadFile(filepath.Join(mfDir, "data", "admin.token"))
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	sys := &relaySystem{name: "mailflow", addr: mf.addr, sink: sink}

	profileDir := filepath.Join(dir, "chromium")
	browser, closeBrowser, err := startBrowser(ctx, profileDir)
	if err != nil {
		return err
	}
	defer closeBrowser()
	login, cancelLogin := context.WithTimeout(browser, time.Minute)
	defer cancelLogin()
	if err := chromedp.Do(login,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=token]`), strings.TrimSpace(string(token))),
		chromedp.Click(chromedp.CSS(`#login`)),
		chromedp.WaitVisible(chromedp.CSS(`#flowmap`)),
	); err != nil {
		return fmt.Errorf("log in to the admin center in chromium: %w", err)
	}

	// Warm-up, not measured, with the poller on so that both the
	// transport and the admin center's templates are warm.
	p := startPoller(ctx, browser, base, strings.TrimSpace(string(token)), h.opts.pollInterval)
	_, err = h.goRelay(ctx, sys, false, max(h.opts.messages/10, 50))
	if perr := p.stop(); err == nil && perr != nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}

	// Rounds five times the relay part's, so that each polled round sees
	// several page loads and scrapes rather than one.
	messages := 5 * h.opts.messages
	var runs [2][]relayRun     // 0 alone, 1 with the browser polling
	var cpuPerMsg [2][]float64 // mailflow's own CPU, ms per 1,000 messages
	var browserShare []float64 // chromium's CPU in a polled round, % of one core
	var pages, scrapes int64
	var serverMs []float64
	for r := range h.opts.rounds {
		for _, i := range order(r) {
			var p *poller
			if i == 1 {
				p = startPoller(ctx, browser, base, strings.TrimSpace(string(token)), h.opts.pollInterval)
			}
			cpu0, cerr := cpuSeconds(mf.pid())
			b0 := treeCPUSeconds(profileDir)
			start := time.Now()
			run, err := h.goRelay(ctx, sys, false, messages)
			cpu1, cerr2 := cpuSeconds(mf.pid())
			if i == 1 {
				browserShare = append(browserShare, 100*(treeCPUSeconds(profileDir)-b0)/time.Since(start).Seconds())
			}
			if p != nil {
				if perr := p.stop(); err == nil && perr != nil {
					err = perr
				}
				pages += p.pages.Load()
				scrapes += p.scrapes.Load()
				serverMs = append(serverMs, p.serverMs...)
			}
			if err == nil {
				err = errors.Join(cerr, cerr2)
			}
			if err != nil {
				return fmt.Errorf("round %d: %w", r+1, err)
			}
			runs[i] = append(runs[i], run)
			cpuPerMsg[i] = append(cpuPerMsg[i], (cpu1-cpu0)*1e6/float64(messages))
			what := "alone"
			if i == 1 {
				what = "browser polling"
			}
			fmt.Printf("  round %d mailflow %-16s accepted %.0f msg/s, final 250 p50 %.1f ms p99 %.1f ms\n", r+1, what, run.accepted, run.p50, run.p99)
		}
	}
	if pages == 0 || scrapes == 0 {
		return fmt.Errorf("the poller opened %d pages and scraped /metrics %d times during the measured rounds: it did not poll", pages, scrapes)
	}
	fmt.Printf("  during the polled rounds: %d admin pages opened in chromium (server time to first byte median %.1f ms), %d scrapes of /metrics\n",
		pages, median(serverMs), scrapes)
	pick := func(rs []relayRun, f func(relayRun) float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		return out
	}
	part := fmt.Sprintf("relay with chromium polling the admin center every %s (Go loadgen → smtp-sink)", h.opts.pollInterval)
	baseline := "mailflow, no browser"
	h.add(newRow(part, "accepted", "msg/s", pick(runs[1], func(r relayRun) float64 { return r.accepted }), baseline,
		pick(runs[0], func(r relayRun) float64 { return r.accepted }), &goal{Kind: "min_ratio", Value: 0.9, Text: "≥ 0.9× without (within noise)"}))
	h.add(newRow(part, "final 250 p50", "ms", pick(runs[1], func(r relayRun) float64 { return r.p50 }), baseline,
		pick(runs[0], func(r relayRun) float64 { return r.p50 }), nil))
	h.add(newRow(part, "final 250 p99", "ms", pick(runs[1], func(r relayRun) float64 { return r.p99 }), baseline,
		pick(runs[0], func(r relayRun) float64 { return r.p99 }), nil))
	// What the admin center itself costs the transport: mailflow's own CPU
	// per message, serving the pages and scrapes included. (The browser's
	// CPU is not mailflow's: on a 2-core machine it competes with the
	// relay for the cores, which the throughput row shows.)
	h.add(newRow(part, "mailflow CPU per 1,000 messages", "ms", cpuPerMsg[1], baseline, cpuPerMsg[0],
		&goal{Kind: "max_ratio", Value: 1.1, Text: "≤ 1.1× without"}))
	h.add(newRow(part, "admin page, server time to first byte", "ms", serverMs, "", nil, nil))
	h.add(newRow(part, "chromium's own CPU while polling", "% of a core", browserShare, "", nil, nil))
	return nil
}

// startBrowser starts headless chromium with the admin center tests'
// options (testkit.ChromiumOptions) and a fresh profile in profile.
func startBrowser(ctx context.Context, profile string) (context.Context, func(), error) {
	opts := testkit.ChromiumOptions(profile)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	done := func() { cancelB(); cancelA() }
	// The first action starts the browser and ties its life to the
	// context it is given: bctx itself, not a shorter step context.
	if err := chromedp.Do(bctx); err != nil {
		done()
		return nil, nil, fmt.Errorf("start chromium: %w", err)
	}
	return bctx, done, nil
}

// poller opens admin pages in the browser and scrapes /metrics, one of
// each per interval, until stopped.
type poller struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pages   atomic.Int64
	scrapes atomic.Int64
	mu      sync.Mutex
	err     error
	// serverMs is each page's request-to-first-byte time as chromium's
	// Navigation Timing saw it: the admin center's own cost per page.
	serverMs []float64
}

func startPoller(ctx context.Context, browser context.Context, base, token string, every time.Duration) *poller {
	p := &poller{}
	ctx, p.cancel = context.WithCancel(ctx)
	fail := func(err error) {
		if ctx.Err() != nil {
			return // stopped mid-request: not a failure
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.err == nil {
			p.err = err
		}
	}
	tick := func(f func(int) error) {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for n := 0; ; n++ {
			if err := f(n); err != nil {
				fail(err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}
	p.wg.Add(2)
	go tick(func(n int) error {
		// The browser's context is not ctx: stopping the poller must not
		// close the browser, so each page load is bounded by its own
		// deadline and the loop checks ctx between loads.
		step, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		page := dashboardPages[n%len(dashboardPages)]
		if err := chromedp.Do(step, chromedp.Navigate(base+page), chromedp.WaitReady(chromedp.CSS(`main`))); err != nil {
			return fmt.Errorf("chromium open %s: %w", page, err)
		}
		ms, err := chromedp.Run(step, chromedp.Evaluate[float64](`(() => { const n = performance.getEntriesByType('navigation')[0]; return n.responseStart - n.requestStart; })()`))
		if err != nil {
			return fmt.Errorf("chromium timing of %s: %w", page, err)
		}
		p.mu.Lock()
		p.serverMs = append(p.serverMs, ms)
		p.mu.Unlock()
		p.pages.Add(1)
		return nil
	})
	go tick(func(int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return fmt.Errorf("scrape /metrics: %w", err)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil && ctx.Err() == nil {
			return fmt.Errorf("scrape /metrics: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("scrape /metrics: %s", resp.Status)
		}
		p.scrapes.Add(1)
		return nil
	})
	return p
}

// stop ends the polling and reports the first failure, if any.
func (p *poller) stop() error {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// treeCPUSeconds is the CPU time (user + system, with reaped children) of
// every process whose command line names dir: the browser and its helper
// processes, started with --user-data-dir=dir. Processes that vanish
// between listing and reading are skipped.
func treeCPUSeconds(dir string) float64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total float64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmd), dir) {
			continue
		}
		if s, err := cpuSecondsWithChildren(pid); err == nil {
			total += s
		}
	}
	return total
}
