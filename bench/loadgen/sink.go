package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// sinkCmd runs `loadgen sink`: an SMTP server that accepts every message
// and throws it away, like smtp-sink, but able to offer STARTTLS (the
// relay's TLS leg needs a sink that speaks TLS, and smtp-sink does not).
// It prints "listening on ADDR" when ready and then "mesg=N" after every
// message, the progress form smtp-sink -c uses, so bench/run follows both
// sinks the same way.
func sinkCmd(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	certFile := fs.String("cert", "", "PEM file with certificate chain and key: offer STARTTLS with it")
	tickets := fs.Bool("session-tickets", true, "issue TLS session tickets (mailflow's receive side does not)")
	maxSize := fs.Int64("max-size", 100<<20, "message size limit announced with SIZE")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (bench/run --profile: the minimal responder beside mailflow)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stop, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stop()
	var cfg *tls.Config
	if *certFile != "" {
		c, err := certs.LoadFile(*certFile, "", "")
		if err != nil {
			return fmt.Errorf("sink certificate: %w", err)
		}
		cfg = sinkTLS(*c.TLS())
		cfg.SessionTicketsDisabled = !*tickets
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "listening on %s\n", ln.Addr())
	out.Flush()
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		<-sigs
		ln.Close()
	}()
	return (&sink{tls: cfg, out: out, maxSize: *maxSize}).acceptLoop(ln)
}

// sinkTLS is the sink's TLS side: X25519 and P-256 only, like the load
// generator. Postfix 3.7 on OpenSSL 3.0 has no hybrid post-quantum key
// exchange, Go has it by default, and both relays should pay for the same
// handshakes.
func sinkTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}}
}

type sink struct {
	tls      *tls.Config // nil: no STARTTLS
	maxSize  int64
	count    atomic.Int64
	sessions atomic.Int64 // connections accepted
	mu       sync.Mutex
	out      *bufio.Writer // progress lines
}

// acceptLoop serves every connection until the listener is closed.
func (s *sink) acceptLoop(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("sink accept: %w", err)
		}
		s.sessions.Add(1)
		go s.serve(conn)
	}
}

func (s *sink) received() {
	n := s.count.Add(1)
	s.mu.Lock()
	fmt.Fprintf(s.out, "sess=%d mesg=%d\n", s.sessions.Load(), n)
	s.out.Flush()
	s.mu.Unlock()
}

// serve answers one session. Replies are flushed only when the client has
// nothing more buffered, so pipelined commands get their replies together
// as a real server's would.
func (s *sink) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 16<<10)
	w := bufio.NewWriterSize(conn, 4<<10)
	secure := false
	w.WriteString("220 sink.bench.test ESMTP bench sink\r\n")
	w.Flush()
	for {
		conn.SetDeadline(time.Now().Add(5 * time.Minute))
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		verb := ""
		if f := bytes.Fields(line); len(f) > 0 {
			verb = strings.ToUpper(string(f[0]))
		}
		switch {
		case verb == "EHLO":
			fmt.Fprintf(w, "250-sink.bench.test\r\n250-PIPELINING\r\n250-SIZE %d\r\n250-8BITMIME\r\n", s.maxSize)
			if s.tls != nil && !secure {
				w.WriteString("250-STARTTLS\r\n")
			}
			w.WriteString("250 ENHANCEDSTATUSCODES\r\n")
		case verb == "HELO":
			w.WriteString("250 sink.bench.test\r\n")
		case verb == "STARTTLS" && s.tls != nil && !secure:
			w.WriteString("220 2.0.0 Ready to start TLS\r\n")
			w.Flush()
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, secure = tc, true
			r.Reset(tc)
			w.Reset(tc)
			continue
		case verb == "MAIL", verb == "RCPT", verb == "RSET", verb == "NOOP":
			w.WriteString("250 2.0.0 Ok\r\n")
		case verb == "DATA":
			w.WriteString("354 End data with <CR><LF>.<CR><LF>\r\n")
			w.Flush()
			if err := skipData(r); err != nil {
				return
			}
			s.received()
			w.WriteString("250 2.0.0 Ok: queued\r\n")
		case verb == "QUIT":
			w.WriteString("221 2.0.0 Bye\r\n")
			w.Flush()
			return
		default:
			w.WriteString("502 5.5.2 Error: command not recognized\r\n")
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// skipData reads message content up to the line holding a single dot.
func skipData(r *bufio.Reader) error {
	atLineStart := true
	for {
		line, err := r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if atLineStart && (string(line) == ".\r\n" || string(line) == ".\n") {
			return nil
		}
		atLineStart = err == nil
	}
}
