package outcome

import "testing"

// A result whose outcome was never set is retried, never counted as
// delivered; the names are what the tracking, the trace and connector
// validation print.
func TestZeroIsDeferredAndNames(t *testing.T) {
	var zero Outcome
	if zero != Deferred {
		t.Fatalf("zero Outcome = %v, want Deferred", zero)
	}
	for o, want := range map[Outcome]string{Deferred: "Deferred", Delivered: "Delivered", Failed: "Failed", 7: "Outcome(7)"} {
		if got := o.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(o), got, want)
		}
	}
}
