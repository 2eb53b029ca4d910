package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// large is the "large" part: one message of --large-size through the
// mailflow relay, whose relay connector (ExchangeServers) has
// BypassMessageSizeLimit, streamed by the client and relayed to the Go
// sink. It reports mailflow's resident memory growth — the peak (VmHWM)
// at the end minus VmRSS before — which stays small only if no part of the
// path (receiving, queueing, sending) holds the whole message. Postfix is
// not run: its default message_size_limit is 10 MB.
func (h *harness) large(ctx context.Context) error {
	dir := filepath.Join(h.work, "large")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cert, err := makeCert(dir, "large-ecdsa", "ecdsa-p256")
	if err != nil {
		return err
	}
	sink, port, stop, err := h.startGoSink(ctx, dir, "sink-large", "--max-size", strconv.FormatInt(2*h.opts.largeSize+(1<<20), 10))
	if err != nil {
		return err
	}
	defer stop()
	mf, err := h.startMailflow(ctx, "mailflow-relay.yaml.tmpl", filepath.Join(dir, "mailflow"), mailflowParams{CertFile: cert.PEM, SinkPort: port}, "large")
	if err != nil {
		return err
	}
	defer mf.stop()
	before, err := rssBytes(mf.pid())
	if err != nil {
		return err
	}
	start := time.Now()
	if err := sendLarge(ctx, mf.addr, h.opts.largeSize); err != nil {
		return err
	}
	accepted := time.Since(start)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := sink.wait(wctx, 1); err != nil {
		return err
	}
	e2e := time.Since(start)
	peak, err := statusBytes(mf.pid(), "VmHWM:")
	if err != nil {
		return err
	}
	growth := float64(peak-before) / (1 << 20)
	mb := float64(h.opts.largeSize) / 1e6
	fmt.Printf("  %d MiB message: RSS %.1f MiB before, peak %.1f MiB; accepted in %s, relayed in %s\n",
		h.opts.largeSize>>20, float64(before)/(1<<20), float64(peak)/(1<<20), accepted.Round(time.Millisecond), e2e.Round(time.Millisecond))
	part := fmt.Sprintf("large message (%d MiB, BypassMessageSizeLimit)", h.opts.largeSize>>20)
	h.add(newRow(part, "RSS growth (peak − before)", "MiB", []float64{growth}, "", nil, &goal{Kind: "max_value", Value: 32, Text: "≤ 32 MiB"}))
	h.add(newRow(part, "accepted", "MB/s", []float64{mb / accepted.Seconds()}, "", nil, nil))
	h.add(newRow(part, "end to end", "MB/s", []float64{mb / e2e.Seconds()}, "", nil, nil))
	return nil
}

// sendLarge sends one message of size bytes less 1 KiB (room for the
// relay's Received header: BypassMessageSizeLimit's ceiling is 1 GiB),
// generated as it is written, so the client holds none of it.
func sendLarge(ctx context.Context, addr string, size int64) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := newClient(conn, 10*time.Minute)
	if _, err := c.expect(220, "greeting"); err != nil {
		return err
	}
	if _, err := c.hello("large.bench.test"); err != nil {
		return err
	}
	for _, step := range []struct {
		code int
		line string
	}{{250, "MAIL FROM:<a@x.test>"}, {250, "RCPT TO:<b@example.com>"}, {354, "DATA"}} {
		if _, err := c.cmd(step.code, step.line); err != nil {
			return err
		}
	}
	conn.SetWriteDeadline(time.Now().Add(30 * time.Minute))
	w := bufio.NewWriterSize(conn, 64<<10)
	hdr, _ := fmt.Fprintf(w, "From: <a@x.test>\r\nTo: <b@example.com>\r\nSubject: mailflow bench large message\r\n\r\n")
	line := strings.Repeat("0123456789", 9) + "01234567\r\n" // 100 bytes
	for n := int64(hdr); n+int64(len(line)) <= size-1024; n += int64(len(line)) {
		if _, err := w.WriteString(line); err != nil {
			return fmt.Errorf("DATA: %w", err)
		}
	}
	w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := c.expect(250, "end of data"); err != nil {
		return err
	}
	c.cmd(221, "QUIT")
	return nil
}

// startGoSink starts the Go sink in plaintext with extra flags.
func (h *harness) startGoSink(ctx context.Context, dir, name string, args ...string) (*sinkCounter, int, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, 0, nil, err
	}
	counter := &sinkCounter{}
	p, addr, err := startProc(ctx, procSpec{
		name: name, argv: append([]string{self, "sink", "--listen", "127.0.0.1:0"}, args...), logDir: dir,
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
