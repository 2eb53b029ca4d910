package dnsres

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzClassify feeds arbitrary DNS answers (wire form) to the
// classification a lookup applies: whatever a hostile or broken resolver
// sends, the result is an answer or an error, never a panic, and a secure
// answer is only ever one whose AD bit was set by a trusted resolver.
func FuzzClassify(f *testing.F) {
	seed := func(rcode int, ad bool, rrs ...string) {
		m := new(dns.Msg)
		m.SetQuestion("_25._tcp.mx.example.", dns.TypeTLSA)
		m.Response, m.Rcode, m.AuthenticatedData = true, rcode, ad
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		m.SetEdns0(4096, true)
		if rcode == dns.RcodeServerFailure {
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: 6, ExtraText: "bogus"})
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(dns.RcodeSuccess, true, "_25._tcp.mx.example. 60 IN TLSA 3 1 1 8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1")
	seed(dns.RcodeSuccess, false, "_25._tcp.mx.example. 60 IN TLSA 255 255 255 00", "_25._tcp.mx.example. 60 IN CNAME x.example.")
	seed(dns.RcodeServerFailure, false)
	seed(dns.RcodeNameError, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		for _, mode := range []Mode{Off, TrustAD} {
			r := &Resolver{mode: mode}
			ans, err := r.classify("_25._tcp.mx.example.", dns.TypeTLSA, "127.0.0.1:53", m)
			if ans == nil {
				t.Fatal("no answer")
			}
			if ans.Security == Secure && (mode != TrustAD || !m.AuthenticatedData) {
				t.Fatalf("secure without a trusted AD bit (mode %v, AD %v)", mode, m.AuthenticatedData)
			}
			if err == nil {
				_ = TLSAAnswer{Name: ans.Name, Records: tlsaOf(ans), Security: ans.Security}.Parsed()
			} else {
				_ = err.Error()
			}
		}
	})
}

func tlsaOf(a *Answer) []*dns.TLSA {
	var out []*dns.TLSA
	for _, rr := range a.Records {
		if t, ok := rr.(*dns.TLSA); ok {
			out = append(out, t)
		}
	}
	return out
}
