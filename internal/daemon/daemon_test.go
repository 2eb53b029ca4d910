package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/daemon"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

func start(t *testing.T) (*daemon.Daemon, string) {
	t.Helper()
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	cfg := filepath.Join(dir, "onprem.yaml")
	testkit.WriteFile(t, cfg, testkit.LabOnPrem+"admin:\n  listen: 127.0.0.1:0\nmetrics:\n  listen: 127.0.0.1:0\n"+testkit.DefaultFrontend(port, pki.Server1.Name()))
	d, err := daemon.Start(cfg, daemon.Options{Logger: testkit.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return d, fmt.Sprintf("127.0.0.1:%d", port)
}

func status(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestGracefulStop: on stop, readiness turns 503 and new connections are
// refused at once, while a session in the middle of a transaction may
// finish it (250) before Close returns.
func TestGracefulStop(t *testing.T) {
	d, smtp := start(t)
	metrics := "http://" + d.MetricsAddr.String()
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := status(metrics + p); code != http.StatusOK {
			t.Fatalf("GET %s before stop: %d %s", p, code, body)
		}
		if code, body := status("http://" + d.API.Addr() + p); code != http.StatusOK {
			t.Fatalf("GET %s on the admin listener (no token): %d %s", p, code, body)
		}
	}
	s, err := testkit.DialTLS(smtp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mail("admin@contoso.com", nil); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		closed <- d.Close(ctx)
	}()
	testkit.Poll(t, 10*time.Second, "readiness to turn 503", func() (bool, string) {
		code, body := status(metrics + "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "shutting down"), fmt.Sprint(code, body)
	})
	testkit.Eventually(t, 10*time.Second, "new connections to be refused", func() bool {
		c, err := net.DialTimeout("tcp", smtp, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a session was in flight", err)
	default:
	}
	code, err := s.Finish("user@contoso.com", "Subject: in flight\r\n\r\nfinished during shutdown\r\n")
	if err != nil || code != 250 {
		t.Fatalf("finishing the transaction during shutdown: %d %v", code, err)
	}
	s.Quit()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return after the last session ended")
	}
}

// TestStopTimeoutClosesIdleSessions: a session that does not finish is
// closed when the shutdown timeout ends, and Close returns.
func TestStopTimeoutClosesIdleSessions(t *testing.T) {
	d, smtp := start(t)
	s, err := testkit.Dial(smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Close(ctx) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return after its timeout with an idle session open")
	}
	if _, err := s.Noop(); err == nil {
		t.Error("the idle session still answers after the shutdown timeout")
	}
}
