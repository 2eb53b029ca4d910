package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// testSink runs the Go sink in this process on loopback; its progress
// lines feed the returned counter as bench/run feeds it from the child.
func testSink(t *testing.T, withTLS bool) (string, *sinkCounter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	counter := &sinkCounter{}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Split(splitCRLF)
		for sc.Scan() {
			counter.feed(sc.Bytes())
		}
		counter.close()
	}()
	s := &sink{out: bufio.NewWriter(pw)}
	if withTLS {
		s.tls = sinkTLS(testCert(t, "ecdsa-p256"))
	}
	done := make(chan error, 1)
	go func() { done <- s.acceptLoop(ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
		pw.Close()
	})
	return ln.Addr().String(), counter
}

func testCert(t *testing.T, keyType string) tls.Certificate {
	t.Helper()
	c, err := certs.Generate(certs.Template{Subject: "CN=sink.bench.test", SANs: benchNames, KeyType: keyType})
	if err != nil {
		t.Fatal(err)
	}
	return *c.TLS()
}

func TestDriveRelayAgainstSink(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "starttls"}[withTLS], func(t *testing.T) {
			addr, counter := testSink(t, withTLS)
			const n = 40
			res := driveRelay(context.Background(), loadSpec{Addr: addr, Sessions: 4, Messages: n, Size: 1024, TLS: withTLS, Timeout: 30 * time.Second})
			if res.Errors != 0 || res.Accepted != n {
				t.Fatalf("accepted %d, %d errors (first %v)", res.Accepted, res.Errors, res.FirstErr)
			}
			if len(res.Latencies) != n || res.Latencies[0] > res.Latencies[n-1] {
				t.Errorf("latencies not collected and sorted: %v", res.Latencies)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := counter.wait(ctx, n); err != nil {
				t.Fatal(err)
			}
			if got := counter.count(); got != n {
				t.Errorf("sink counted %d, want %d", got, n)
			}
		})
	}
}

// A sink without STARTTLS fails a TLS run with a clear error rather than
// sending in clear.
func TestDriveRelayNeedsSTARTTLS(t *testing.T) {
	addr, counter := testSink(t, false)
	res := driveRelay(context.Background(), loadSpec{Addr: addr, Sessions: 2, Messages: 3, Size: 10, TLS: true, Timeout: 30 * time.Second})
	if res.Errors != 3 || res.FirstErr == nil || !strings.Contains(res.FirstErr.Error(), "STARTTLS not offered") {
		t.Fatalf("errors %d, first %v", res.Errors, res.FirstErr)
	}
	if counter.count() != 0 {
		t.Errorf("sink received %d messages", counter.count())
	}
}

func TestDriveHandshakes(t *testing.T) {
	addr, _ := testSink(t, true)
	res := driveHandshakes(context.Background(), handshakeSpec{Addr: addr, SMTP: true, Workers: 2, Duration: 200 * time.Millisecond, Timeout: 30 * time.Second})
	if res.Errors != 0 || res.Sessions == 0 || res.Rate() <= 0 {
		t.Fatalf("SMTP: %d sessions, %d errors (first %v)", res.Sessions, res.Errors, res.FirstErr)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- rawTLSLoop(ln, &tls.Config{Certificates: []tls.Certificate{testCert(t, "ecdsa-p256")}, SessionTicketsDisabled: true})
	}()
	defer func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	res = driveHandshakes(context.Background(), handshakeSpec{Addr: ln.Addr().String(), Workers: 2, Duration: 200 * time.Millisecond, Timeout: 30 * time.Second})
	if res.Errors != 0 || res.Sessions == 0 {
		t.Fatalf("raw: %d sessions, %d errors (first %v)", res.Sessions, res.Errors, res.FirstErr)
	}
}

func TestOpenIdle(t *testing.T) {
	addr, _ := testSink(t, true)
	for _, withTLS := range []bool{false, true} {
		cs, err := openIdle(context.Background(), addr, 10, 30, 7, withTLS, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 30 {
			t.Fatalf("%d sessions", len(cs))
		}
		// Sessions 10…39 at 7 per address: from 127.1.0.2 to 127.1.0.6.
		first := cs[0].conn.LocalAddr().(*net.TCPAddr).IP.String()
		last := cs[29].conn.LocalAddr().(*net.TCPAddr).IP.String()
		if first != "127.1.0.2" || last != "127.1.0.6" {
			t.Errorf("sources %s … %s, want 127.1.0.2 … 127.1.0.6", first, last)
		}
		for _, c := range cs {
			if c.tls != withTLS {
				t.Fatalf("session TLS = %v, want %v", c.tls, withTLS)
			}
		}
		closeAll(cs)
	}
}

func TestSkipData(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		rest     string // what must remain after the end of data
		ok       bool
	}{
		{"simple", "a\r\nb\r\n.\r\nQUIT\r\n", "QUIT\r\n", true},
		{"stuffed dot is content", "..\r\n.x\r\n.\r\nNOOP\r\n", "NOOP\r\n", true},
		{"dot inside a line", "a.\r\n.\r\n", "", true},
		{"long line with a dot at the buffer edge", strings.Repeat("x", 40000) + "\r\n.\r\nRSET\r\n", "RSET\r\n", true},
		{"no end", "a\r\nb\r\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			err := skipData(r)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, ok %v", err, tc.ok)
			}
			rest, _ := io.ReadAll(r)
			if tc.ok && string(rest) != tc.rest {
				t.Errorf("rest %q, want %q", rest, tc.rest)
			}
		})
	}
}
