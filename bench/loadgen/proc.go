package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailflowhq/mailflow/internal/loopback"
)

// proc is a child process bench/run started (mailflow, a sink, the raw TLS
// server) and stops again: SIGINT first, SIGKILL if it lingers.
type proc struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{}
	stderr string // file holding the child's stderr
}

// procSpec says how to start a child and how to know it is ready.
type procSpec struct {
	name    string
	argv    []string
	logDir  string
	ready   *regexp.Regexp // a stdout line that says it is ready; nil = ready at once
	onToken func([]byte)   // every stdout line (CR or LF separated), optional
	onEOF   func()         // stdout closed, optional
	timeout time.Duration
}

// startProc starts the child and returns once it printed its ready line
// (and the line's first submatch, e.g. the listening address).
func startProc(ctx context.Context, s procSpec) (*proc, string, error) {
	errPath := filepath.Join(s.logDir, s.name+".stderr")
	errFile, err := os.Create(errPath)
	if err != nil {
		return nil, "", fmt.Errorf("start %s: %w", s.name, err)
	}
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Stderr = errFile
	// Its own process group: a Ctrl-C on bench/run reaches us, and we stop
	// the children in order instead of the terminal killing them at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		errFile.Close()
		return nil, "", fmt.Errorf("start %s: %w", s.name, err)
	}
	if err := cmd.Start(); err != nil {
		errFile.Close()
		return nil, "", fmt.Errorf("start %s (%s): %w", s.name, s.argv[0], err)
	}
	errFile.Close()
	p := &proc{name: s.name, cmd: cmd, done: make(chan struct{}), stderr: errPath}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Split(splitCRLF)
		sent := s.ready == nil
		for sc.Scan() {
			if !sent {
				if m := s.ready.FindStringSubmatch(sc.Text()); m != nil {
					ready <- m[len(m)-1]
					sent = true
				}
			}
			if s.onToken != nil {
				s.onToken(sc.Bytes())
			}
		}
		if s.onEOF != nil {
			s.onEOF()
		}
		close(ready)
	}()
	go func() { cmd.Wait(); close(p.done) }()
	if s.ready == nil {
		return p, "", nil
	}
	timeout := s.timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m, ok := <-ready:
		if ok {
			return p, m, nil
		}
		<-p.done
		return nil, "", fmt.Errorf("%s exited before it was ready (%s)%s", s.name, cmd.ProcessState, p.tail())
	case <-t.C:
		p.stop()
		return nil, "", fmt.Errorf("%s not ready within %s%s", s.name, timeout, p.tail())
	case <-ctx.Done():
		p.stop()
		return nil, "", ctx.Err()
	}
}

// pid is the child's process id (for /proc/PID/status).
func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends the child: SIGINT, then SIGKILL after 20 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the end of the child's stderr for error messages.
func (p *proc) tail() string {
	b, err := os.ReadFile(p.stderr)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "; its stderr ends:\n" + string(b)
}

// waitPort returns once addr accepts TCP connections.
func waitPort(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s: %w", addr, timeout, err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort() (int, error) { return loopback.FreePort() }

// rssBytes reads a process's resident set size from /proc.
func rssBytes(pid int) (int64, error) { return statusBytes(pid, "VmRSS:") }

// statusBytes reads a size field ("VmRSS:", "VmHWM:" — the peak resident
// size) of /proc/PID/status.
func statusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("read RSS: %q: %w", line, err)
				}
				return kb << 10, nil
			}
		}
	}
	return 0, fmt.Errorf("read RSS: no %s line in /proc/%d/status", field, pid)
}

// cpuSeconds reads a process's user plus system CPU time, all threads,
// from /proc/PID/stat (in clock ticks of 1/100 s, Linux's fixed USER_HZ).
func cpuSeconds(pid int) (float64, error) { return statCPU(pid, false) }

// cpuSecondsWithChildren is cpuSeconds plus the CPU time of the children
// the process has waited for (cutime, cstime).
func cpuSecondsWithChildren(pid int) (float64, error) { return statCPU(pid, true) }

func statCPU(pid int, children bool) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	// The command name in parentheses may hold spaces: fields start after
	// its closing parenthesis, with field 3 (state) first.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("read CPU time: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, fmt.Errorf("read CPU time: short /proc/%d/stat", pid)
	}
	fields := f[11:13] // utime, stime
	if children {
		fields = f[11:15] // and cutime, cstime
	}
	var ticks int64
	for _, v := range fields {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read CPU time: /proc/%d/stat field %q", pid, v)
		}
		ticks += n
	}
	return float64(ticks) / 100, nil
}
