package main

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"
)

// smtp-sink -c rewrites one status line in place with carriage returns;
// every token must be seen.
func TestSinkCounterFollowsSmtpSinkOutput(t *testing.T) {
	c := &sinkCounter{}
	sc := bufio.NewScanner(strings.NewReader("sess=1 quit=0 mesg=0\rsess=1 quit=0 mesg=1\rsess=2 quit=1 mesg=2\r\nmesg=3\ngarbage\r"))
	sc.Split(splitCRLF)
	for sc.Scan() {
		c.feed(sc.Bytes())
	}
	if got := c.count(); got != 3 {
		t.Fatalf("count = %d, want 3", got)
	}
	c.feed([]byte("mesg=2")) // never goes down
	if got := c.count(); got != 3 {
		t.Fatalf("count after a lower value = %d, want 3", got)
	}
}

func TestSinkCounterWait(t *testing.T) {
	c := &sinkCounter{}
	done := make(chan error, 1)
	go func() { done <- c.wait(context.Background(), 5) }()
	c.feed([]byte("mesg=4"))
	select {
	case err := <-done:
		t.Fatalf("wait returned at 4 of 5: %v", err)
	default:
	}
	c.feed([]byte("mesg=5"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.wait(context.Background(), 5); err != nil {
		t.Errorf("wait for a count already reached: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.wait(ctx, 6); err == nil {
		t.Error("wait with a cancelled context should fail")
	}

	// A sink that exits releases its waiters with an error.
	go func() { done <- c.wait(context.Background(), 10) }()
	c.close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "5 of 10") {
			t.Errorf("after close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait not released by close")
	}
	if err := c.wait(context.Background(), 11); err == nil {
		t.Error("wait on a closed counter should fail at once")
	}
}
