package main

import (
	"crypto/sha256"
	"os"
	"testing"
)

func TestProcReadings(t *testing.T) {
	rss, err := rssBytes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<34 {
		t.Errorf("RSS of this test process = %d bytes", rss)
	}
	before, err := cpuSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn well over one 10 ms tick of CPU.
	sum := sha256.Sum256(nil)
	for i := 0; i < 2_000_000; i++ {
		sum = sha256.Sum256(sum[:])
	}
	after, err := cpuSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("CPU time did not advance: %v → %v (%x)", before, after, sum[:2])
	}
	if _, err := rssBytes(-1); err == nil {
		t.Error("RSS of no process: want an error")
	}
	if _, err := cpuSeconds(-1); err == nil {
		t.Error("CPU time of no process: want an error")
	}
}
