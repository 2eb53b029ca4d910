package smtp_test

import (
	"strconv"

	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

const smtpSink = "/usr/sbin/smtp-sink"

// TestClientAgainstSmtpSink delivers through Postfix's smtp-sink, a receiver
// nobody here wrote: EHLO parsing, a PIPELINING envelope and DATA framing must
// satisfy it, and the dumped message must match what we sent.
func TestClientAgainstSmtpSink(t *testing.T) {
	if _, err := os.Stat(smtpSink); err != nil {
		t.Skipf("%s not installed (package postfix): %v", smtpSink, err)
	}
	port := strconv.Itoa(testkit.FreePort(t))
	dir := t.TempDir()
	// smtp-sink drops to nobody before it writes the dump: open the way.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"-h", "sink.test.example", "-d", filepath.Join(dir, "msg-"), "127.0.0.1:" + port, "10"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.CommandContext(ctx, smtpSink, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start smtp-sink: %v", err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel() // kills smtp-sink: its -n (exit after n sessions) does not end it
		<-exited
	})

	conn := dialWhenListening(t, "127.0.0.1:"+port, exited, &waitErr)
	c := smtp.NewClient(conn, smtp.ClientOptions{Timeout: 10 * time.Second})
	defer c.Close()
	if r, err := c.Greeting(); err != nil || !strings.Contains(r.Text(), "sink.test.example") {
		t.Fatalf("Greeting = %+v, %v", r, err)
	}
	if _, err := c.Hello("client.contoso.com"); err != nil {
		t.Fatal(err)
	}
	if !c.HasExtension("PIPELINING") {
		t.Fatalf("smtp-sink offers PIPELINING, parsed %v", c.Extensions())
	}
	mail, rcpts, err := c.SendEnvelope("sender@contoso.com", nil, []string{"a@fabrikam.com", "b@fabrikam.com"})
	if err != nil || !mail.Positive() || len(rcpts) != 2 || !rcpts[0].Positive() || !rcpts[1].Positive() {
		t.Fatalf("SendEnvelope = %+v %+v %v", mail, rcpts, err)
	}
	body := "Subject: sink test\r\n\r\n.a line starting with a dot\r\nlast line\r\n"
	if r, err := c.Data(strings.NewReader(body)); err != nil || !r.Positive() {
		t.Fatalf("Data = %+v, %v", r, err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	dumps, _ := filepath.Glob(filepath.Join(dir, "msg-*"))
	if len(dumps) != 1 {
		t.Fatalf("dump files: %v", dumps)
	}
	dump, err := os.ReadFile(dumps[0])
	if err != nil {
		t.Fatal(err)
	}
	// smtp-sink closes the dump before it answers the final dot, and writes
	// it with LF line endings and the transparency dot removed.
	for _, want := range []string{"X-Mail-Args: <sender@contoso.com>", "X-Rcpt-Args: <a@fabrikam.com>", "X-Rcpt-Args: <b@fabrikam.com>",
		"Received: from client.contoso.com", "\n.a line starting with a dot\nlast line\n"} {
		if !bytes.Contains(dump, []byte(want)) {
			t.Errorf("dump lacks %q:\n%s", want, dump)
		}
	}
	if bytes.Contains(dump, []byte("\n..a line")) {
		t.Error("dot-stuffing reached the message: the sink saw a doubled dot")
	}
}

// dialWhenListening connects once the external process listens. The only
// signal an external process gives is that connect succeeds, so this polls,
// bounded, and gives up early when the process exits.
func dialWhenListening(t *testing.T, addr string, exited <-chan struct{}, waitErr *error) net.Conn {
	t.Helper()
	backoff := time.Millisecond
	for attempt := 0; attempt < 200; attempt++ {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn
		}
		timer := time.NewTimer(backoff)
		select {
		case <-exited:
			timer.Stop()
			t.Fatalf("smtp-sink exited before listening: %v", *waitErr)
		case <-timer.C:
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
	t.Fatalf("smtp-sink never listened on %s", addr)
	return nil
}
