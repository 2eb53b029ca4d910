package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are bench/run's flags.
type options struct {
	mailflow     string
	configs      string
	out          string
	workDir      string
	keep         bool
	parts        map[string]bool
	rounds       int
	messages     int
	sessions     int
	size         int
	hsDuration   time.Duration
	hsRounds     int
	memRounds    int
	hsWorkers    int
	idle         []int
	logSize      int64
	pythonRounds int
	profileDir   string
	smoke        bool
	revision     string
	largeSize    int64
	sizes        []int
	pollInterval time.Duration
}

var allParts = []string{"relay", "sizes", "scale", "postgres", "large", "dashboard", "handshake", "memory", "logs"}

func parseRunFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&o.mailflow, "mailflow", "", "mailflow binary to benchmark (bench/run builds it)")
	fs.StringVar(&o.configs, "configs", "bench/configs", "directory of the configuration templates")
	fs.StringVar(&o.out, "out", "bench/results/latest.json", "JSON results file")
	fs.StringVar(&o.workDir, "workdir", "", "directory for instances, certificates and the generated log (default: a new temporary directory)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (configurations, logs, maillog) for inspection")
	parts := fs.String("parts", strings.Join(allParts, ","), "parts to run: "+strings.Join(allParts, ", "))
	largeSize := fs.String("large-size", "1G", "size of the one message of the large part")
	sizes := fs.String("sizes", "100000,10000000", "message sizes in bytes of the sizes part")
	fs.DurationVar(&o.pollInterval, "poll-interval", 2*time.Second, "how often the dashboard part's browser opens an admin page (and scrapes /metrics)")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds of the relay and log measurements; the systems alternate and medians are reported")
	fs.IntVar(&o.messages, "messages", 2000, "messages per relay round")
	fs.IntVar(&o.sessions, "sessions", 20, "concurrent sessions of the relay load")
	fs.IntVar(&o.size, "size", 1024, "message payload in bytes")
	fs.DurationVar(&o.hsDuration, "handshake-duration", time.Second, "duration of one handshake-rate measurement")
	fs.IntVar(&o.hsRounds, "handshake-rounds", 9, "rounds of the handshake measurement (short and many: the rates swing with the neighbours' load)")
	fs.IntVar(&o.memRounds, "memory-rounds", 2, "rounds of the memory measurement (a fresh server each)")
	fs.IntVar(&o.hsWorkers, "handshake-workers", 16, "concurrent clients in the handshake measurement")
	idle := fs.String("idle", "1000,10000", "idle session counts for the memory part")
	logSize := fs.String("log-size", "1G", "size of the generated protocol log")
	fs.IntVar(&o.pythonRounds, "python-rounds", 1, "rounds of the (slow) Python baseline in the log part; 0 = as many as --rounds")
	fs.StringVar(&o.profileDir, "profile", "", "run mailflow in-process in `loadgen serve` and write CPU and heap profiles to this directory")
	fs.BoolVar(&o.smoke, "smoke", false, "tiny sizes: check the harness works end to end in seconds (figures meaningless)")
	fs.StringVar(&o.revision, "revision", "", "source revision to record in the results")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.mailflow == "" {
		return o, errors.New("--mailflow is required (bench/run builds the binary and passes it)")
	}
	o.parts = map[string]bool{}
	for _, p := range strings.Split(*parts, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		known := false
		for _, a := range allParts {
			known = known || a == p
		}
		if !known {
			return o, fmt.Errorf("--parts: unknown part %q (have %s)", p, strings.Join(allParts, ", "))
		}
		o.parts[p] = true
	}
	for _, s := range strings.Split(*idle, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("--idle: %q is not a session count", s)
		}
		o.idle = append(o.idle, n)
	}
	var err error
	if o.logSize, err = parseSize(*logSize); err != nil {
		return o, fmt.Errorf("--log-size: %w", err)
	}
	if o.largeSize, err = parseSize(*largeSize); err != nil {
		return o, fmt.Errorf("--large-size: %w", err)
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("--sizes: %q is not a size in bytes", s)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.smoke {
		// Small enough for a test run in seconds; every code path still runs.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("rounds", func() { o.rounds = 1 })
		def("handshake-rounds", func() { o.hsRounds = 1 })
		def("memory-rounds", func() { o.memRounds = 1 })
		def("messages", func() { o.messages = 100 })
		def("handshake-duration", func() { o.hsDuration = 300 * time.Millisecond })
		def("idle", func() { o.idle = []int{20, 100} })
		def("log-size", func() { o.logSize = 4 << 20 })
		def("large-size", func() { o.largeSize = 64 << 20 })
		def("sizes", func() { o.sizes = []int{100000, 1000000} })
	}
	if o.rounds < 1 || o.hsRounds < 1 || o.memRounds < 1 || o.messages < 1 || o.sessions < 1 || o.size < 1 || o.hsWorkers < 1 || o.hsDuration <= 0 || o.pollInterval <= 0 || o.pythonRounds < 0 {
		return o, errors.New("--rounds, --handshake-rounds, --memory-rounds, --messages, --sessions, --size, --handshake-workers --handshake-duration and --poll-interval must be positive")
	}
	for _, p := range []*string{&o.mailflow, &o.configs, &o.out} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	if o.profileDir != "" {
		if o.profileDir, err = filepath.Abs(o.profileDir); err != nil {
			return o, err
		}
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return o, fmt.Errorf("--profile: %w", err)
		}
	}
	return o, nil
}

// harness runs the parts and collects their rows.
type harness struct {
	opts options
	work string
	res  results
}

func runCmd(args []string) error {
	o, err := parseRunFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	h := &harness{opts: o}
	h.work = o.workDir
	if h.work == "" {
		if h.work, err = os.MkdirTemp("", "mailflow-bench-"); err != nil {
			return err
		}
		// Postfix's own user must reach its queue below this directory.
		if err := os.Chmod(h.work, 0o755); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(h.work)
		}
	} else if err := os.MkdirAll(h.work, 0o755); err != nil {
		return err
	}
	h.res = results{Started: time.Now().UTC(), Smoke: o.smoke, Environment: environment(o), Settings: map[string]any{
		"rounds": o.rounds, "handshake_rounds": o.hsRounds, "memory_rounds": o.memRounds, "relay_messages_per_round": o.messages, "relay_sessions": o.sessions,
		"message_payload_bytes": o.size, "handshake_duration_seconds": o.hsDuration.Seconds(),
		"handshake_workers": o.hsWorkers, "idle_sessions": o.idle, "log_bytes": o.logSize, "python_rounds": o.pythonRounds,
		"profile_dir": o.profileDir, "large_message_bytes": o.largeSize, "sizes_bytes": o.sizes, "dashboard_poll_interval_seconds": o.pollInterval.Seconds(),
	}}
	fmt.Printf("mailflow bench: work directory %s; systems alternate within each round, medians reported\n", h.work)
	type part struct {
		name string
		run  func(context.Context) error
	}
	for _, p := range []part{{"relay", h.relay}, {"sizes", h.sizes}, {"scale", h.scale}, {"postgres", h.postgresPart}, {"large", h.large}, {"dashboard", h.dashboard}, {"handshake", h.handshakes}, {"memory", h.memory}, {"logs", h.logs}} {
		if !o.parts[p.name] || ctx.Err() != nil {
			continue
		}
		fmt.Printf("\n== %s ==\n", p.name)
		start := time.Now()
		if err := p.run(ctx); err != nil {
			h.res.Failed = append(h.res.Failed, fmt.Sprintf("%s: %v", p.name, err))
			fmt.Printf("%s FAILED: %v\n", p.name, err)
			continue
		}
		fmt.Printf("%s done in %s\n", p.name, time.Since(start).Round(time.Second))
	}
	h.res.Environment["load_average_end"] = loadAverage()
	h.res.DurationSec = num(time.Since(h.res.Started).Seconds())
	fmt.Println()
	h.res.writeTable(os.Stdout)
	if err := h.res.writeJSON(o.out); err != nil {
		return err
	}
	fmt.Printf("\nresults written to %s\n", o.out)
	if o.keep {
		fmt.Printf("work directory kept: %s\n", h.work)
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	if len(h.res.Failed) > 0 {
		return fmt.Errorf("%d part(s) failed", len(h.res.Failed))
	}
	return nil
}

func (h *harness) add(r row) {
	h.res.Rows = append(h.res.Rows, r)
	fmt.Printf("  %-30s %-34s mailflow %s", r.Part, r.Metric, format(float64(r.Mailflow), r.Unit))
	if r.Baseline != "" {
		fmt.Printf("  %s %s  ratio %.2f", r.Baseline, format(float64(r.BaselineValue), r.Unit), float64(r.Ratio))
	}
	fmt.Println()
}

func (h *harness) skip(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.res.Skipped = append(h.res.Skipped, msg)
	fmt.Println("skipped:", msg)
}

// order alternates which of two systems goes first in each round, so
// that neither always gets the machine warm or cold.
func order(round int) []int { return rotation(round, 2) }

// rotation is the order of n systems in a round: each goes first in turn.
func rotation(round, n int) []int {
	out := make([]int, n)
	for k := range n {
		out[k] = (round + k) % n
	}
	return out
}

func environment(o options) map[string]string {
	env := map[string]string{
		"go":                 runtime.Version(),
		"os_arch":            runtime.GOOS + "/" + runtime.GOARCH,
		"cpus":               strconv.Itoa(runtime.NumCPU()),
		"load_average_start": loadAverage(),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env["kernel"] = strings.TrimSpace(string(b))
	}
	if o.revision != "" {
		env["revision"] = o.revision
	}
	return env
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
