package testkit

import (
	"testing"

	"github.com/mailflowhq/mailflow/internal/acmelab"
)

// StartPebble runs the lab ACME CA (Pebble in-process on loopback) with
// certificates living validity seconds and challenges accepted without
// validation; it stops when the test ends.
func StartPebble(t testing.TB, validity uint64) *acmelab.CA {
	t.Helper()
	return StartACME(t, acmelab.Options{Validity: validity, AlwaysValid: true})
}

// StartACME runs the lab ACME CA with o; with TLSPort (or HTTPPort) set and
// AlwaysValid false, it validates challenges for real on that loopback
// port. It stops when the test ends.
func StartACME(t testing.TB, o acmelab.Options) *acmelab.CA {
	t.Helper()
	ca, err := acmelab.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	return ca
}
