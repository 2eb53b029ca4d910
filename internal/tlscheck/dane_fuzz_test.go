package tlscheck

import (
	"testing"
)

// FuzzVerifyDANE feeds arbitrary TLSA records (usage, selector, matching
// type, data) against a fixed chain: the verdict never panics, passes only
// with a matched record or with no usable record at all, and a matched
// record really matches.
func FuzzVerifyDANE(f *testing.F) {
	fx := fixture(f)
	chain := peerChain(f, fx.leaf.Chain)
	good, _ := RecordFor(chain[0], 3, 1, 1)
	f.Add(uint8(3), uint8(1), uint8(1), good.Data, uint8(2), uint8(9), uint8(1), []byte{1, 2})
	f.Add(uint8(2), uint8(0), uint8(0), chain[1].Raw, uint8(3), uint8(1), uint8(2), make([]byte, 64))
	f.Fuzz(func(t *testing.T, u1, s1, m1 uint8, d1 []byte, u2, s2, m2 uint8, d2 []byte) {
		recs := []TLSA{{u1, s1, m1, d1}, {u2, s2, m2, d2}}
		r := Verify(chain, Policy{Now: now, DANE: &DANEPolicy{Owner: "_25._tcp.x.", Records: recs, Names: []string{"mail.contoso.com"}}})
		if r.DANE == nil {
			t.Fatal("no DANE result")
		}
		usable := 0
		for _, x := range recs {
			if x.Usable() {
				usable++
			}
		}
		if r.DANE.Usable != usable {
			t.Fatalf("usable %d, counted %d", r.DANE.Usable, usable)
		}
		switch {
		case r.OK && usable == 0:
			if !r.DANE.Unauthenticated {
				t.Fatal("passed with no usable record but not marked unauthenticated")
			}
		case r.OK:
			m := r.DANE.Matched
			if m == nil || !m.Usable() {
				t.Fatalf("passed without a usable matched record: %+v", m)
			}
			if m.Usage == 3 && !m.Matches(chain[0]) {
				t.Fatal("DANE-EE match that does not match the leaf")
			}
		default:
			if r.Status() == "" || r.Message() == "" {
				t.Fatal("failure without status or message")
			}
		}
	})
}
