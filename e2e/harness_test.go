package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/loopguard"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailflow-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mailflow")
	// Every mailflow process started here inherits this: a DNS query or
	// connection outside loopback fails instead of leaving the machine.
	os.Setenv(loopguard.Env, "1")
	build := exec.Command("go", "build", "-o", binary, "../cmd/mailflow")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build mailflow:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running `mailflow serve` whose stderr (the log) is read line
// by line while it runs, so a test can wait for what it logs.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process is reaped

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every new line
}

// startServe runs `mailflow serve --config cfg` and returns once it has
// printed "mailflow: ready" — every listener and the admin API are up — or
// fails the test with its log. The process is stopped when the test ends.
func startServe(t *testing.T, cfg string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--config", cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, exited: make(chan struct{}), changed: make(chan struct{})}
	ready := make(chan bool, 1)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if !sent && sc.Text() == "mailflow: ready" {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
		io.Copy(io.Discard, stdout) // a scan error must not block the process
	}()
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		// Wait only once the pipes are drained (os/exec's rule).
		readers.Wait()
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("mailflow log:\n%s", p.Stderr())
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			<-p.exited
			t.Fatalf("mailflow serve exited before it was ready:\n%s", p.Stderr())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("mailflow serve not ready within 60s:\n%s", p.Stderr())
	}
	return p
}

// Stderr returns what the process has logged so far.
func (p *proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// mark is the number of log lines so far; waitLog looks only after it.
func (p *proc) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// waitLog waits for a log line after mark that contains every part.
func (p *proc) waitLog(t *testing.T, mark int, within time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for _, l := range p.lines[min(mark, len(p.lines)):] {
			all := true
			for _, part := range parts {
				all = all && strings.Contains(l, part)
			}
			if all {
				p.mu.Unlock()
				return l
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.exited:
			t.Fatalf("mailflow exited while waiting for a log line with %q", parts)
		case <-deadline.C:
			t.Fatalf("no log line with %q within %v", parts, within)
		}
	}
}

func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// stop interrupts the process and waits for it to exit, killing it after
// 30 s; once stop returns, Stderr holds the whole log.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.t.Errorf("mailflow did not stop within 30s of SIGINT; killing it")
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// runCLI runs the built binary with args, allowing it within, and returns
// its exit code, stdout and stderr. It fails the test only when the binary
// could not be run at all.
func runCLI(t *testing.T, within time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("mailflow %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return code, stdout.String(), stderr.String()
}

// mailflow runs a CLI command (within a minute) and returns its exit code,
// stdout and stderr.
func mailflow(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, time.Minute, args...)
}

// pollDeadline bounds every wait for a state change: each poll is an
// observation of the server (admin API, files, logs); the deadline is
// generous for a loaded 2-core machine.
const pollDeadline = 60 * time.Second

// pollUntil polls check until it reports done, failing the test with the
// last observation when pollDeadline passes.
func pollUntil(t *testing.T, what string, check func() (done bool, last string)) {
	t.Helper()
	testkit.Poll(t, pollDeadline, what, check)
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI (.ci/run installs it): %v", tool, err)
			}
			t.Skipf("%s not installed (run .ci/run or apt-get install it)", tool)
		}
	}
}
