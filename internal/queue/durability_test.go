package queue

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"testing"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

func TestPutSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(t0)
	q := mustOpen(t, testOptions(dir, clock, nil, nil))
	envs := []Envelope{
		sampleEnv("bob@fabrikam.com"),
		sampleEnv("carol@fabrikam.com", "dave@tailspin.com"),
		{From: "", To: []string{"alice@contoso.com"}, ReceivedAt: t0}, // a bounce
	}
	var ids []string
	for i, env := range envs {
		ids = append(ids, mustPut(t, q, env, sampleBody("m"+string(rune('0'+i)))))
	}
	for i, id := range ids {
		if !validID(id) {
			t.Fatalf("id %q is not 16 upper-case hex", id)
		}
		if i > 0 && ids[i-1] >= id {
			t.Fatalf("ids do not sort in queueing order: %v", ids)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen without ever delivering: everything is recovered and due now.
	d := newScript(deliverAll)
	q2 := mustOpen(t, testOptions(dir, clock, d, nil))
	got := q2.List()
	if len(got) != len(envs) {
		t.Fatalf("recovered %d messages, want %d", len(got), len(envs))
	}
	for i, m := range got {
		if m.ID != ids[i] {
			t.Errorf("message %d id %s, want %s", i, m.ID, ids[i])
		}
		want := envs[i]
		want.Size = int64(len(sampleBody("m0")))
		if !reflect.DeepEqual(m.Env.To, want.To) || m.Env.From != want.From || !m.Env.ReceivedAt.Equal(want.ReceivedAt) ||
			m.Env.ConnectorID != want.ConnectorID || m.Env.TLS != want.TLS || m.Env.Size != want.Size {
			t.Errorf("message %d envelope %+v, want %+v", i, m.Env, want)
		}
		if !m.Expires.Equal(t0.Add(DefaultExpiry)) {
			t.Errorf("message %d expires %v", i, m.Expires)
		}
		for _, r := range m.Recipients {
			if r.State != StateReady {
				t.Errorf("recipient %s state %s, want Ready", r.Addr, r.State)
			}
		}
	}
	if n := q2.ProcessDue(context.Background()); n != 3 {
		t.Fatalf("ProcessDue after reopen = %d attempts, want 3", n)
	}
	for i, id := range ids {
		if string(d.Body(id)) != sampleBody("m"+string(rune('0'+i))) {
			t.Errorf("body of %s after reopen = %q", id, d.Body(id))
		}
	}
	if left := q2.List(); len(left) != 0 {
		t.Fatalf("delivered messages still queued: %v", left)
	}
	// New ids continue above the recovered ones even though the clock has
	// not moved.
	id := mustPut(t, q2, sampleEnv("x@fabrikam.com"), "x")
	if id <= ids[len(ids)-1] {
		t.Fatalf("new id %s not above recovered %s", id, ids[len(ids)-1])
	}
	q2.Remove(id)
	q2.Close()
	// Delivered messages left the store, not just the in-memory index.
	q3 := mustOpen(t, testOptions(dir, clock, d, nil))
	if left := q3.List(); len(left) != 0 {
		t.Fatalf("delivered messages recovered from the store: %v", left)
	}
}

func TestInFlightMessageIsRetriedAfterCrash(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(t0)
	d := newScript(deliverAll)
	d.invoked = make(chan struct{}, 1)
	d.block = make(chan struct{})
	q := mustOpen(t, testOptions(dir, clock, d, nil))
	id := mustPut(t, q, sampleEnv("bob@fabrikam.com"), sampleBody("crash"))

	done := make(chan int)
	go func() { done <- q.ProcessDue(context.Background()) }()
	<-d.invoked // delivery in flight

	// "Crash": take the store file as it is on disk right now.
	crashed := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crashed, "queue.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	close(d.block)
	<-done

	d2 := newScript(deliverAll)
	q2 := mustOpen(t, testOptions(crashed, clock, d2, nil))
	if _, ok := q2.Get(id); !ok {
		t.Fatal("message in flight at the crash was lost")
	}
	if n := q2.ProcessDue(context.Background()); n != 1 {
		t.Fatalf("ProcessDue after crash = %d, want 1 (immediate retry)", n)
	}
}

// faultStore fails writes with the configured error.
type faultStore struct {
	memStore
	putErr error
}

func (f *faultStore) Put(ctx context.Context, m *Message, body Body) error {
	if f.putErr != nil {
		return f.putErr
	}
	return f.memStore.Put(ctx, m, body)
}

// memStore is an in-memory Store for tests of the queue logic.
type memStore struct {
	mu     sync.Mutex
	msgs   map[string]*Message
	bodies map[string][]byte
}

func (s *memStore) init() {
	if s.msgs == nil {
		s.msgs, s.bodies = map[string]*Message{}, map[string][]byte{}
	}
}

func (s *memStore) Put(_ context.Context, m *Message, body Body) error {
	r, err := body.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.msgs[m.ID], s.bodies[m.ID] = m.Clone(), b
	return nil
}

func (s *memStore) Update(_ context.Context, m *Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if _, ok := s.msgs[m.ID]; !ok {
		return ErrNotFound
	}
	s.msgs[m.ID] = m.Clone()
	return nil
}

func (s *memStore) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	delete(s.msgs, id)
	delete(s.bodies, id)
	return nil
}

func (s *memStore) Body(_ context.Context, id string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	b, ok := s.bodies[id]
	if !ok {
		return nil, ErrNotFound
	}
	return io.NopCloser(bytesReader(b)), nil
}

func (s *memStore) Load(context.Context) ([]*Message, []Quarantined, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	var out []*Message
	for _, m := range s.msgs {
		out = append(out, m.Clone())
	}
	return out, nil, nil
}

func (s *memStore) Close() error { return nil }

func TestPutStorageFaultWrapsErrStorage(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"disk full", syscall.ENOSPC},
		{"read-only file system", syscall.EROFS},
		{"I/O error", syscall.EIO},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &faultStore{putErr: tc.err}
			o := testOptions("", testkit.NewClock(t0), nil, nil)
			o.Store = fs
			q := mustOpen(t, o)
			id, err := q.Put(context.Background(), sampleEnv("bob@fabrikam.com"), []byte("x"))
			if !errors.Is(err, ErrStorage) || !errors.Is(err, tc.err) {
				t.Fatalf("Put error = %v, want ErrStorage wrapping %v", err, tc.err)
			}
			if id != "" || len(q.List()) != 0 {
				t.Fatalf("a message that is not durable was queued: id %q, list %v", id, q.List())
			}
			// The store recovers: the next Put works.
			fs.putErr = nil
			if _, err := q.Put(context.Background(), sampleEnv("bob@fabrikam.com"), []byte("x")); err != nil {
				t.Fatalf("Put after recovery: %v", err)
			}
		})
	}
}

func TestPutOnClosedBoltStoreIsStorageError(t *testing.T) {
	bs, err := OpenBoltStore(filepath.Join(t.TempDir(), "queue.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions("", testkit.NewClock(t0), nil, nil)
	o.Store = bs
	q := mustOpen(t, o)
	bs.Close() // the store goes away under the queue
	_, err = q.Put(context.Background(), sampleEnv("bob@fabrikam.com"), []byte("x"))
	if !errors.Is(err, ErrStorage) {
		t.Fatalf("Put on a closed store = %v, want ErrStorage", err)
	}
}

func TestPutRejectsNoRecipients(t *testing.T) {
	q := mustOpen(t, testOptions(t.TempDir(), testkit.NewClock(t0), nil, nil))
	for _, to := range [][]string{nil, {""}, {"  "}} {
		if _, err := q.Put(context.Background(), Envelope{From: "a@b.c", To: to}, []byte("x")); err == nil {
			t.Errorf("Put with To=%q succeeded", to)
		}
	}
}

func TestPutDeduplicatesRecipients(t *testing.T) {
	q := mustOpen(t, testOptions(t.TempDir(), testkit.NewClock(t0), nil, nil))
	id := mustPut(t, q, sampleEnv("bob@fabrikam.com", "BOB@fabrikam.com", "carol@fabrikam.com"), "x")
	m, _ := q.Get(id)
	if got := m.Pending(); !reflect.DeepEqual(got, []string{"bob@fabrikam.com", "carol@fabrikam.com"}) {
		t.Fatalf("recipients %v", got)
	}
}

func TestCloseRefusesPut(t *testing.T) {
	q := mustOpen(t, testOptions(t.TempDir(), testkit.NewClock(t0), nil, nil))
	q.Close()
	if _, err := q.Put(context.Background(), sampleEnv("bob@fabrikam.com"), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
}
