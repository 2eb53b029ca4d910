package queue

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// openHopStore opens the store of dir: the embedded file, or in the
// PostgreSQL run the schema belonging to dir.
func openHopStore(t *testing.T, dir string) HopStateStore {
	t.Helper()
	var s Store
	if pgSuiteDSN != "" {
		s = openSuiteStore(dir)
	} else {
		bs, err := OpenBoltStore(filepath.Join(dir, "queue.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		s = bs
	}
	hs, ok := s.(HopStateStore)
	if !ok {
		t.Fatalf("%T does not keep suspended next hops", s)
	}
	return hs
}

// Suspended next hops are kept by the store: case-insensitive, the name as
// last given, still there after reopening, gone after a resume.
func TestSuspendedHopsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openHopStore(t, dir)
	for _, h := range []string{"To Partner", "Local", "to partner"} {
		if err := s.SuspendHop(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SuspendHop(ctx, ""); err == nil {
		t.Fatal("suspending an empty name was accepted")
	}
	s.(Store).Close()

	s = openHopStore(t, dir)
	got, err := s.SuspendedHops(ctx)
	if err != nil || !slices.Equal(got, []string{"Local", "to partner"}) {
		t.Fatalf("after reopening: %q %v, want [Local to partner]", got, err)
	}
	if found, err := s.ResumeHop(ctx, "TO PARTNER"); err != nil || !found {
		t.Fatalf("resume: found=%v %v", found, err)
	}
	if found, err := s.ResumeHop(ctx, "To Partner"); err != nil || found {
		t.Fatalf("resume again: found=%v %v, want not found", found, err)
	}
	s.(Store).Close()

	s = openHopStore(t, dir)
	defer s.(Store).Close()
	if got, err := s.SuspendedHops(ctx); err != nil || !slices.Equal(got, []string{"Local"}) {
		t.Fatalf("after resume and reopening: %q %v, want [Local]", got, err)
	}
}

// A suspension that cannot be written is an error, and nothing is kept.
func TestSuspendHopOnClosedBoltStoreFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := OpenBoltStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.SuspendHop(context.Background(), "Local"); !errors.Is(err, ErrClosed) {
		t.Fatalf("suspend on a closed store: %v, want ErrClosed", err)
	}
	if s, err = OpenBoltStore(path, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.SuspendedHops(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("suspended after a failed write: %q %v", got, err)
	}
}
