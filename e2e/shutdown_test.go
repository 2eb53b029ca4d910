package e2e

import (
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// TestSIGTERMStopsGracefully sends SIGTERM to mailflow serve (as systemd
// does) while a session is in the middle of a transaction: the process
// stops accepting (GET /readyz turns 503, new SMTP connections are
// refused), the held session still gets its 250, and the process then
// exits 0 with its logs flushed.
func TestSIGTERMStopsGracefully(t *testing.T) {
	cfg, addr, _ := liveConfig(t)
	p := startServe(t, cfg)
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + c.Admin.Listen + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz before stop: %v %v", resp, err)
	}
	resp.Body.Close()
	held := holdSessions(t, addr, 1)[0]
	mark := p.mark()
	p.signal(t, syscall.SIGTERM)
	p.waitLog(t, mark, 20*time.Second, "shutting down", "signal=terminated")
	testkit.Poll(t, 20*time.Second, "readiness to turn 503", func() (bool, string) {
		resp, err := http.Get("http://" + c.Admin.Listen + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable, resp.Status
	})
	testkit.Eventually(t, 20*time.Second, "new connections to be refused", func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	})
	select {
	case <-p.exited:
		t.Fatal("mailflow exited while a session was in the middle of a transaction")
	default:
	}
	code, err := held.Finish("user@contoso.com", heldMessage)
	if err != nil || code != 250 {
		t.Fatalf("the held session during shutdown: %d %v", code, err)
	}
	held.Quit()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("mailflow did not exit after its last session ended")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0:\n%s", code, p.Stderr())
	}
	// The message accepted during shutdown is in the tracking log on disk.
	var found bool
	dir := c.LogDir() + "/MessageTracking"
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(dir + "/" + e.Name())
		found = found || strings.Contains(string(b), "held")
	}
	if !found {
		t.Errorf("the message accepted during shutdown is not in the flushed tracking log (%s)", dir)
	}
}
