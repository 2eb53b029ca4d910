package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// TestGroupCommit holds the first commit open while more Puts arrive, then
// checks that they were committed together and that no Put returned before
// its commit.
func TestGroupCommit(t *testing.T) {
	const n = 32
	path := filepath.Join(t.TempDir(), "queue.db")
	bs, err := OpenBoltStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		batches []int
	)
	inFirst, release := make(chan struct{}), make(chan struct{})
	bs.beforeCommit = func(ops int) {
		mu.Lock()
		batches = append(batches, ops)
		first := len(batches) == 1
		mu.Unlock()
		if first {
			close(inFirst)
			<-release
		}
	}
	queued := make(chan struct{}, n)
	bs.enqueued = func() { queued <- struct{}{} }

	o := testOptions("", testkit.NewClock(t0), nil, nil)
	o.Store = bs
	q := mustOpen(t, o)
	defer bs.Close()

	var returned atomic.Int32
	ids := make(chan string, n)
	var wg sync.WaitGroup
	put := func() {
		defer wg.Done()
		id, err := q.Put(context.Background(), sampleEnv("bob@fabrikam.com"), []byte(sampleBody("group")))
		if err != nil {
			t.Error(err)
		}
		returned.Add(1)
		ids <- id
	}
	wg.Add(1)
	go put()
	<-inFirst // the first Put is inside a commit that cannot finish
	<-queued
	for range n - 1 {
		wg.Add(1)
		go put()
	}
	for range n - 1 {
		<-queued // every other Put has handed its write to the committer
	}
	if r := returned.Load(); r != 0 {
		t.Fatalf("%d Put calls returned before their commit finished", r)
	}
	close(release)
	wg.Wait()
	close(ids)

	mu.Lock()
	got := append([]int(nil), batches...)
	mu.Unlock()
	if len(got) != 2 || got[0] != 1 || got[1] != n-1 {
		t.Fatalf("commit batches = %v, want [1 %d]: %d Puts should take 2 commits", got, n-1, n)
	}
	if c := bs.Commits(); c != 2 {
		t.Fatalf("Commits() = %d, want 2", c)
	}
	// Each returned id is readable from the file by a new transaction, i.e.
	// it was committed.
	for id := range ids {
		rc, err := bs.Body(context.Background(), id)
		if err != nil {
			t.Fatalf("body of %s after Put returned: %v", id, err)
		}
		rc.Close()
	}
}

// TestCommitFailureOfOneWrite checks that one write failing on its own does
// not fail the others in its batch.
func TestCommitFailureOfOneWrite(t *testing.T) {
	bs, err := OpenBoltStore(filepath.Join(t.TempDir(), "queue.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	inFirst, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	bs.beforeCommit = func(int) {
		if calls.Add(1) == 1 {
			close(inFirst)
			<-release
		}
	}
	queued := make(chan struct{}, 8)
	bs.enqueued = func() { queued <- struct{}{} }

	good := func(id string) *Message {
		return &Message{ID: id, Recipients: []Recipient{{Addr: "a@b.c", State: StateReady}}}
	}
	errs := make(chan error, 3)
	go func() { errs <- bs.Put(context.Background(), good("0000000000000001"), BytesBody([]byte("1"))) }()
	<-inFirst
	<-queued
	go func() { errs <- bs.Update(context.Background(), good("00000000000000FF")) }() // not stored: fails alone
	<-queued
	go func() { errs <- bs.Put(context.Background(), good("0000000000000002"), BytesBody([]byte("2"))) }()
	<-queued
	close(release)
	var failures int
	for range 3 {
		if err := <-errs; err != nil {
			failures++
		}
	}
	if failures != 1 {
		t.Fatalf("%d writes failed, want only the bad one", failures)
	}
	for _, id := range []string{"0000000000000001", "0000000000000002"} {
		if _, err := bs.Body(context.Background(), id); err != nil {
			t.Errorf("good write %s lost: %v", id, err)
		}
	}
}

func TestCorruptRecordIsQuarantined(t *testing.T) {
	validJSONBadMessage := []byte(`{"id":"0000000000000001","recipients":[]}`)
	tests := []struct {
		name   string
		damage func(tx *bolt.Tx, id []byte) error
		reason string
	}{
		{"garbage", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketMessages).Put(id, []byte("\x00\xff garbage"))
		}, "version"},
		{"truncated", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketMessages).Put(id, []byte{1, 2})
		}, "truncated"},
		{"flipped bit", func(tx *bolt.Tx, id []byte) error {
			v := bytes.Clone(tx.Bucket(bucketMessages).Get(id))
			v[len(v)/2] ^= 0x10
			return tx.Bucket(bucketMessages).Put(id, v)
		}, "checksum"},
		{"checksummed nonsense", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketMessages).Put(id, withCRC([]byte("{not json")))
		}, "decode"},
		{"invalid message", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketMessages).Put(id, withCRC(validJSONBadMessage))
		}, "no recipients"},
		{"misfiled record", func(tx *bolt.Tx, id []byte) error {
			b := tx.Bucket(bucketMessages)
			c := b.Cursor()
			k, v := c.First() // the good message, put first
			if bytes.Equal(k, id) {
				k, v = c.Next()
			}
			return b.Put(id, bytes.Clone(v))
		}, "holds message"},
		{"missing body", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketBodies).Delete(id)
		}, "body is missing"},
		{"orphan body", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketMessages).Delete(id)
		}, "body without"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := testkit.NewClock(t0)
			q := mustOpen(t, testOptions(dir, clock, nil, nil))
			good := mustPut(t, q, sampleEnv("bob@fabrikam.com"), "good")
			bad := mustPut(t, q, sampleEnv("carol@fabrikam.com"), "bad body")
			q.Close()

			path := filepath.Join(dir, "queue.db")
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return tc.damage(tx, []byte(bad)) }); err != nil {
				t.Fatal(err)
			}
			db.Close()

			var logs logBuffer
			o := testOptions(dir, clock, nil, nil)
			o.Logger = logs.Logger()
			q2 := mustOpen(t, o)
			list := q2.List()
			if len(list) != 1 || list[0].ID != good {
				t.Fatalf("recovered %v, want only %s", list, good)
			}
			if l := logs.String(); !strings.Contains(l, "quarantined") || !strings.Contains(l, bad) || !strings.Contains(l, tc.reason) {
				t.Fatalf("log does not report the quarantine of %s (%s):\n%s", bad, tc.reason, l)
			}
			q2.Close()

			// The damaged bytes are kept, not deleted.
			db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var kept int
			db.View(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketQuarantine).ForEach(func(k, _ []byte) error {
					if strings.HasPrefix(string(k), bad+".") {
						kept++
					}
					return nil
				})
			})
			if kept == 0 {
				t.Fatal("nothing of the damaged record was kept in quarantine")
			}
		})
	}
}

func withCRC(payload []byte) []byte {
	b := make([]byte, 5+len(payload))
	b[0] = recordVersion
	binary.BigEndian.PutUint32(b[1:5], crcOf(payload))
	copy(b[5:], payload)
	return b
}

func TestUnreadableStoreFileIsSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	garbage := bytes.Repeat([]byte("not a database "), 4096)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	o := testOptions(dir, testkit.NewClock(t0), nil, nil)
	o.Logger = logs.Logger()
	q := mustOpen(t, o)
	if len(q.List()) != 0 {
		t.Fatal("queue from a garbage file is not empty")
	}
	mustPut(t, q, sampleEnv("bob@fabrikam.com"), "x") // the fresh store works
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("set-aside files = %v, want one", aside)
	}
	kept, err := os.ReadFile(aside[0])
	if err != nil || !bytes.Equal(kept, garbage) {
		t.Fatalf("set-aside file does not hold the original bytes (err %v)", err)
	}
	if !strings.Contains(logs.String(), "set aside") {
		t.Fatalf("no log about the set-aside file:\n%s", logs.String())
	}
}

func TestStoreLockedByAnotherOpener(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the lock timeout")
	}
	dir := t.TempDir()
	q := mustOpen(t, testOptions(dir, testkit.NewClock(t0), nil, nil))
	_ = q
	if _, err := Open(testOptions(dir, testkit.NewClock(t0), nil, nil)); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open on the same directory = %v, want a lock error", err)
	}
}
