package tlscheck

import (
	"crypto/x509"
	"strings"
	"testing"
)

func peerChain(t testing.TB, raw [][]byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func rec(t *testing.T, c *x509.Certificate, u, s, m uint8) TLSA {
	t.Helper()
	r, err := RecordFor(c, u, s, m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDANE(t *testing.T) {
	f := fixture(t)
	leafChain := peerChain(t, f.leaf.Chain) // leaf, issuing CA
	leaf, inter := leafChain[0], leafChain[1]
	self := peerChain(t, f.server1.Chain) // self-signed CN=SERVER1
	expired := peerChain(t, f.expiredLeaf.Chain)
	other := peerChain(t, f.selfSigned.Chain)[0]
	unknown := TLSA{Usage: 3, Selector: 7, MatchingType: 1, Data: make([]byte, 32)}
	pkix := rec(t, leaf, 1, 1, 1) // PKIX-EE: unusable for SMTP

	names := []string{"mail.contoso.com", "contoso.com"}
	cases := []struct {
		name    string
		peer    []*x509.Certificate
		records []TLSA
		names   []string
		ok      bool
		reason  Reason
		status  string
		unauth  bool
	}{
		{"3 1 1 matches the leaf", leafChain, []TLSA{rec(t, leaf, 3, 1, 1)}, names, true, "", "", false},
		{"3 0 1 full certificate", leafChain, []TLSA{rec(t, leaf, 3, 0, 1)}, names, true, "", "", false},
		{"3 1 2 SHA-512", leafChain, []TLSA{rec(t, leaf, 3, 1, 2)}, names, true, "", "", false},
		{"3 0 0 exact", leafChain, []TLSA{rec(t, leaf, 3, 0, 0)}, names, true, "", "", false},
		{"DANE-EE ignores names: self-signed CN=SERVER1", self, []TLSA{rec(t, self[0], 3, 1, 1)}, names, true, "", "", false},
		{"DANE-EE ignores dates: expired leaf", expired[:1], []TLSA{rec(t, expired[0], 3, 1, 1)}, names, true, "", "", false},
		{"2 1 1 matches the issuing CA and the name", leafChain, []TLSA{rec(t, inter, 2, 1, 1)}, names, true, "", "", false},
		{"2 0 1 full CA certificate", leafChain, []TLSA{rec(t, inter, 2, 0, 1)}, names, true, "", "", false},
		{"2 1 1 with a name the certificate lacks", leafChain, []TLSA{rec(t, inter, 2, 1, 1)}, []string{"mx.fabrikam.com"}, false, CertificateHostMismatch, StatusDANEHostMismatch, false},
		{"new key, old record", leafChain, []TLSA{rec(t, other, 3, 1, 1)}, names, false, TLSAInvalid, StatusTLSAInvalid, false},
		{"old and new record side by side (rollover)", leafChain, []TLSA{rec(t, other, 3, 1, 1), rec(t, leaf, 3, 1, 1)}, names, true, "", "", false},
		{"unknown parameters and PKIX-EE only: TLS without authentication", leafChain, []TLSA{unknown, pkix}, names, true, "", "", true},
		{"unknown parameters beside a matching record", leafChain, []TLSA{unknown, rec(t, leaf, 3, 1, 1)}, names, true, "", "", false},
		{"wrong digest length is unusable", leafChain, []TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{1, 2, 3}}, rec(t, other, 3, 1, 1)}, names, false, TLSAInvalid, StatusTLSAInvalid, false},
		{"no certificate", nil, []TLSA{rec(t, leaf, 3, 1, 1)}, names, false, NoCertificate, StatusTLSAInvalid, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Verify(tc.peer, Policy{Level: DomainValidation, ExpectedName: "other.example", Now: now,
				DANE: &DANEPolicy{Owner: "_25._tcp.mail.contoso.com.", Records: tc.records, Names: tc.names}})
			if r.OK != tc.ok || r.Reason != tc.reason || r.Status() != tc.status {
				t.Fatalf("OK %v reason %q status %q (%s); want %v %q %q", r.OK, r.Reason, r.Status(), r.Detail, tc.ok, tc.reason, tc.status)
			}
			if r.DANE == nil {
				t.Fatal("no DANE result")
			}
			if r.DANE.Unauthenticated != tc.unauth {
				t.Fatalf("unauthenticated %v; want %v", r.DANE.Unauthenticated, tc.unauth)
			}
			if tc.ok && !tc.unauth && r.DANE.Matched == nil {
				t.Fatal("passed without a matched record")
			}
		})
	}
}

func TestDANEExpiredTA(t *testing.T) {
	f := fixture(t)
	chain := peerChain(t, f.leafOfExpInt.Chain)
	if len(chain) < 2 {
		t.Skip("fixture has no intermediate")
	}
	r := Verify(chain, Policy{Now: now, DANE: &DANEPolicy{Owner: "_25._tcp.x.", Records: []TLSA{rec(t, chain[1], 2, 1, 1)}, Names: []string{"mail.contoso.com"}}})
	if r.OK || r.Status() != StatusDANEExpired {
		t.Fatalf("expired issuer under DANE-TA: %v %q %q", r.OK, r.Status(), r.Detail)
	}
}

func TestDANEMismatchDetailNamesTheRecordToPublish(t *testing.T) {
	f := fixture(t)
	chain := peerChain(t, f.leaf.Chain)
	want := rec(t, chain[0], 3, 1, 1).String()
	var recs []TLSA
	for i := 0; i < 1000; i++ {
		recs = append(recs, TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)})
		recs[i].Data[0] = byte(i)
		recs[i].Data[1] = byte(i >> 8)
	}
	r := Verify(chain, Policy{Now: now, DANE: &DANEPolicy{Owner: "_25._tcp.mail.contoso.com.", Records: recs}})
	if r.OK || r.Reason != TLSAInvalid || !strings.Contains(r.Message(), want) || !strings.Contains(r.Message(), "and 996 more") {
		t.Fatalf("1,000 records: %v %q", r.OK, r.Message())
	}
}
