package dnsres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/testkit/dnsstack"
)

// TestThroughUnbound classifies the answers of a real validating resolver
// (unbound) for a signed zone, a signed zone whose data was edited after
// signing, and an unsigned zone.
func TestThroughUnbound(t *testing.T) {
	tlsa := "3 1 1 " + hexKey
	st := dnsstack.Start(t, dnsstack.Options{},
		dnsstack.Zone{Name: "dane.test", Signed: true, Records: []string{
			"dane.test. 2 IN MX 10 mx.dane.test.", "mx.dane.test. 2 IN A 127.0.0.1", "_25._tcp.mx.dane.test. 2 IN TLSA " + tlsa,
			"alias.dane.test. 2 IN CNAME mx.dane.test."}},
		dnsstack.Zone{Name: "bogus.test", Signed: true, Tamper: true, Records: []string{
			"bogus.test. 2 IN MX 10 mx.bogus.test.", "mx.bogus.test. 2 IN A 127.0.0.1", "_25._tcp.mx.bogus.test. 2 IN TLSA " + tlsa}},
		dnsstack.Zone{Name: "plain.test", Records: []string{
			"plain.test. 2 IN MX 10 mx.plain.test.", "mx.plain.test. 2 IN A 127.0.0.1", "_25._tcp.mx.plain.test. 2 IN TLSA " + tlsa}},
	)
	ctx := context.Background()
	r, err := dnsres.New(dnsres.Config{Servers: []string{st.Resolver}, Mode: dnsres.TrustAD, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mx, err := r.MX(ctx, "dane.test")
	if err != nil || mx.Security != dnsres.Secure || len(mx.MX) != 1 {
		t.Fatalf("signed MX: %+v %v", mx, err)
	}
	h, err := r.Host(ctx, "mx.dane.test")
	if err != nil || h.Security != dnsres.Secure {
		t.Fatalf("signed A with no AAAA: %+v %v", h, err)
	}
	if h, err := r.Host(ctx, "alias.dane.test"); err != nil || h.Security != dnsres.Secure || h.Canonical != "mx.dane.test" {
		t.Fatalf("alias: %+v %v; want secure, canonical mx.dane.test", h, err)
	}
	a, err := r.TLSA(ctx, 25, "mx.dane.test")
	if err != nil || a.Security != dnsres.Secure || len(a.Records) != 1 || a.Records[0].Certificate != hexKey {
		t.Fatalf("signed TLSA: %+v %v", a, err)
	}
	_, err = r.TLSA(ctx, 25, "none.dane.test")
	var de *dnsres.Error
	if !errors.As(err, &de) || !de.NotFound || de.Security != dnsres.Secure {
		t.Fatalf("authenticated denial: %v", err)
	}

	a, err = r.TLSA(ctx, 25, "mx.bogus.test")
	if !errors.Is(err, dnsres.ErrBogus) || a.Security != dnsres.Bogus {
		t.Fatalf("tampered TLSA: %+v %v; want bogus", a, err)
	}
	if errors.As(err, &de) {
		t.Logf("bogus answer: %v", err)
	}
	if mx, err := r.MX(ctx, "bogus.test"); err != nil || mx.Security != dnsres.Secure {
		t.Fatalf("untouched MX of the tampered zone: %+v %v", mx, err)
	}

	a, err = r.TLSA(ctx, 25, "mx.plain.test")
	if err != nil || a.Security != dnsres.Insecure {
		t.Fatalf("unsigned TLSA: %+v %v; want insecure", a, err)
	}

	// The same resolver, not trusted to validate: nothing is secure.
	off, _ := dnsres.New(dnsres.Config{Servers: []string{st.Resolver}, Mode: dnsres.Off})
	if a, err := off.TLSA(ctx, 25, "mx.dane.test"); err != nil || a.Security != dnsres.Insecure {
		t.Fatalf("dnssec off: %+v %v", a, err)
	}
}

// TestStackResolvesNothingElse: the test resolver refuses every name
// outside the test's zones instead of asking the internet.
func TestStackResolvesNothingElse(t *testing.T) {
	st := dnsstack.Start(t, dnsstack.Options{}, dnsstack.Zone{Name: "only.test", Signed: true, Records: []string{"mx.only.test. 2 IN A 127.0.0.1"}})
	r, err := dnsres.New(dnsres.Config{Servers: []string{st.Resolver}, Mode: dnsres.TrustAD, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, name := range []string{"example.com", "mx.other.test"} {
		if _, err := r.TLSA(context.Background(), 25, name); err == nil || !strings.Contains(err.Error(), "REFUSED") {
			t.Errorf("TLSA for %s: %v; want REFUSED from the test resolver", name, err)
		}
	}
	if a, err := r.Host(context.Background(), "mx.only.test"); err != nil || a.Security != dnsres.Secure {
		t.Fatalf("the test zone itself: %+v %v", a, err)
	}
	t.Logf("refusals and the zone answered in %v", time.Since(start))
}
