package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// spoolFiles lists the half-written DATA spool files of a configuration's
// data directory.
func spoolFiles(cfg string) []string {
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(cfg), "data", "queue", "spool", "data-*"))
	return files
}

// TestKillDuringLargeDataLeavesNoSpoolFile kills the server with SIGKILL
// while a client is in the middle of a message large enough to be spooled
// to disk, restarts it and checks that recovery removed the spool file and
// that nothing of the unfinished message was queued (it never got 250).
func TestKillDuringLargeDataLeavesNoSpoolFile(t *testing.T) {
	rig := newCrashRig(t)
	victim := startServe(t, rig.victimCfg)

	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(rig.victimPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(pollDeadline))
	r := bufio.NewReader(conn)
	expect := func(cmd string, want int) {
		t.Helper()
		if cmd != "" {
			fmt.Fprintf(conn, "%s\r\n", cmd)
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", cmd, err)
			}
			if len(line) >= 4 && line[3] == ' ' {
				if code, _ := strconv.Atoi(line[:3]); code != want {
					t.Fatalf("after %q: %q, want %d", cmd, line, want)
				}
				return
			}
		}
	}
	expect("", 220)
	expect("EHLO client.contoso.com", 250)
	expect("MAIL FROM:<load@contoso.com>", 250)
	expect("RCPT TO:<user@fabrikam.com>", 250)
	expect("DATA", 354)
	// 2 MB: well above the 256 KiB kept in memory, and no end of data.
	fmt.Fprintf(conn, "Subject: unfinished\r\n\r\n")
	line := strings.Repeat("z", 98) + "\r\n"
	for range 20000 {
		if _, err := conn.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	pollUntil(t, "a spool file for the unfinished message", func() (bool, string) {
		return len(spoolFiles(rig.victimCfg)) > 0, "none in " + filepath.Join(filepath.Dir(rig.victimCfg), "data", "queue", "spool")
	})
	victim.kill()
	conn.Close()

	startServe(t, rig.victimCfg)
	c := awaitAdmin(t, rig.victimCfg)
	if files := spoolFiles(rig.victimCfg); len(files) != 0 {
		t.Fatalf("spool files left after recovery: %v", files)
	}
	msgs, err := c.Queue()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 0 {
		t.Fatalf("the unacknowledged message was queued: %+v", msgs)
	}
	if bodies, _ := os.ReadDir(filepath.Join(filepath.Dir(rig.victimCfg), "data", "queue", "bodies")); len(bodies) != 0 {
		t.Fatalf("body files left after recovery: %d", len(bodies))
	}
}
