package dnsres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/dnsres/dnstest"
)

const hexKey = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"

func setup(t *testing.T, mode dnsres.Mode) (*dnstest.Server, *dnsres.Resolver) {
	t.Helper()
	srv := dnstest.Start(t)
	srv.Add(t,
		"signed.test. 60 IN MX 10 mx.signed.test.",
		"signed.test. 60 IN MX 5 mx0.signed.test.",
		"mx.signed.test. 60 IN A 127.0.0.1",
		"mx.signed.test. 60 IN AAAA ::1",
		"_25._tcp.mx.signed.test. 60 IN TLSA 3 1 1 "+hexKey,
		"plain.test. 60 IN MX 10 mx.plain.test.",
		"mx.plain.test. 60 IN A 127.0.0.2",
		"_25._tcp.mx.plain.test. 60 IN TLSA 3 1 1 "+hexKey,
		"_mta-sts.plain.test. 60 IN TXT \"v=STSv1; \" \"id=1\"",
		"_25._tcp.mx.bad.test. 60 IN TLSA 3 1 1 "+hexKey,
	)
	srv.Secure("signed.test")
	srv.Bogus("bad.test")
	r, err := dnsres.New(dnsres.Config{Servers: []string{srv.Addr}, Mode: mode, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return srv, r
}

func TestSecurityClassification(t *testing.T) {
	ctx := context.Background()
	_, r := setup(t, dnsres.TrustAD)

	mx, err := r.MX(ctx, "signed.test")
	if err != nil || mx.Security != dnsres.Secure || len(mx.MX) != 2 || mx.MX[0].Host != "mx0.signed.test." {
		t.Fatalf("MX signed.test = %+v, %v; want 2 secure records, preference order", mx, err)
	}
	tl, err := r.TLSA(ctx, 25, "mx.signed.test")
	if err != nil || tl.Security != dnsres.Secure || len(tl.Records) != 1 || tl.Name != "_25._tcp.mx.signed.test." {
		t.Fatalf("TLSA = %+v, %v", tl, err)
	}
	h, err := r.Host(ctx, "mx.signed.test")
	if err != nil || h.Security != dnsres.Secure || strings.Join(h.Addrs, ",") != "127.0.0.1,::1" {
		t.Fatalf("Host = %+v, %v", h, err)
	}

	tl, err = r.TLSA(ctx, 25, "mx.plain.test")
	if err != nil || tl.Security != dnsres.Insecure {
		t.Fatalf("unsigned TLSA = %+v, %v; want insecure", tl, err)
	}
	txt, err := r.TXT(ctx, "_mta-sts.plain.test")
	if err != nil || len(txt.TXT) != 1 || txt.TXT[0] != "v=STSv1; id=1" {
		t.Fatalf("TXT = %+v, %v", txt, err)
	}

	tl, err = r.TLSA(ctx, 25, "mx.bad.test")
	var de *dnsres.Error
	if !errors.Is(err, dnsres.ErrBogus) || tl.Security != dnsres.Bogus || !errors.As(err, &de) || len(de.EDE) != 1 || de.EDE[0].Code != 6 {
		t.Fatalf("bogus TLSA = %+v, %v; want ErrBogus with EDE 6", tl, err)
	}
	if !strings.Contains(err.Error(), "DNSSEC Bogus") {
		t.Errorf("error %q does not name the extended error", err)
	}

	_, err = r.TLSA(ctx, 25, "mx.none.signed.test")
	if !errors.As(err, &de) || !de.NotFound || de.Security != dnsres.Secure {
		t.Fatalf("missing TLSA under a signed zone = %v; want a secure NotFound", err)
	}
	_, err = r.LookupMX(ctx, "nothing.plain.test")
	var ne *net.DNSError
	if !errors.As(err, &ne) || !ne.IsNotFound {
		t.Fatalf("LookupMX of a missing name = %v; want net.DNSError IsNotFound", err)
	}
}

func TestADIgnoredWhenNotTrusted(t *testing.T) {
	_, r := setup(t, dnsres.Off)
	tl, err := r.TLSA(context.Background(), 25, "mx.signed.test")
	if err != nil || tl.Security != dnsres.Insecure {
		t.Fatalf("TLSA with dnssec off = %+v, %v; want insecure despite AD", tl, err)
	}
	// A SERVFAIL from a resolver that is not trusted to validate is a
	// plain failure, not a DNSSEC verdict.
	_, err = r.TLSA(context.Background(), 25, "mx.bad.test")
	if err == nil || errors.Is(err, dnsres.ErrBogus) {
		t.Fatalf("SERVFAIL with dnssec off = %v; want a plain failure", err)
	}
}

func TestThousandRecordsOverTCP(t *testing.T) {
	srv, r := setup(t, dnsres.TrustAD)
	var rrs []string
	for i := range 1000 {
		rrs = append(rrs, fmt.Sprintf("_25._tcp.big.signed.test. 60 IN TLSA 3 1 1 %064x", i))
	}
	srv.Add(t, rrs...)
	tl, err := r.TLSA(context.Background(), 25, "big.signed.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Records) != 1000 || tl.Security != dnsres.Secure {
		t.Fatalf("got %d records (%v); want all 1000 (UDP truncates, TCP carries them)", len(tl.Records), tl.Security)
	}
}

func TestServerFailover(t *testing.T) {
	_, good := setup(t, dnsres.TrustAD)
	// A closed UDP port: the first server fails, the second answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	r, err := dnsres.New(dnsres.Config{Servers: []string{dead, good.Servers()[0]}, Mode: dnsres.TrustAD, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.TLSA(context.Background(), 25, "mx.signed.test"); err != nil {
		t.Fatalf("failover: %v", err)
	}
}

func TestSystemResolvConf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	os.WriteFile(p, []byte("nameserver 127.0.0.9\noptions edns0\n"), 0o644)
	r, err := dnsres.New(dnsres.Config{ResolvConf: p})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Servers(); len(got) != 1 || got[0] != "127.0.0.9:53" || r.Validating() {
		t.Fatalf("servers %v validating %v; want 127.0.0.9:53, not validating", got, r.Validating())
	}
}

func TestServerAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1": "127.0.0.1:53", "127.0.0.1:5353": "127.0.0.1:5353", "[::1]:53": "[::1]:53", "::1": "[::1]:53",
	} {
		if got, err := dnsres.ServerAddr(in); err != nil || got != want {
			t.Errorf("ServerAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "resolver.example", "127.0.0.1:0", "127.0.0.1:x", "1.2.3.4:99999"} {
		if _, err := dnsres.ServerAddr(bad); err == nil {
			t.Errorf("ServerAddr(%q) accepted", bad)
		}
	}
}

func TestParseMode(t *testing.T) {
	if m, err := dnsres.ParseMode("Trust_AD"); err != nil || m != dnsres.TrustAD {
		t.Fatal(m, err)
	}
	if _, err := dnsres.ParseMode("yes"); err == nil {
		t.Fatal("accepted yes")
	}
	_ = dns.TypeTLSA
}

func TestInvalidNameNeverQueried(t *testing.T) {
	srv, r := setup(t, dnsres.TrustAD)
	before := srv.Queries()
	for _, name := range []string{"", ".", "bad..name", strings.Repeat("a", 64) + ".example"} {
		if _, err := r.TLSA(context.Background(), 25, name); err == nil {
			t.Errorf("TLSA for %q: no error", name)
		}
	}
	if srv.Queries() != before {
		t.Errorf("invalid names were sent to the resolver (%d queries)", srv.Queries()-before)
	}
}

// A test binary never queries a resolver outside loopback: a config
// without dns.resolvers (the machine's resolv.conf) or a stray address
// fails at once instead of sending the query.
func TestTestBinaryRefusesNonLoopbackResolver(t *testing.T) {
	r, err := dnsres.New(dnsres.Config{Servers: []string{"10.0.0.2:53"}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Lookup(context.Background(), "contoso.com", dns.TypeMX)
	if err == nil || !strings.Contains(err.Error(), "refused to reach 10.0.0.2:53") {
		t.Fatalf("lookup through 10.0.0.2 in a test binary: %v", err)
	}
}
