package send

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// numbered is a message whose subject says which one it is, so that the
// peer's record shows losses and duplicates.
func numbered(i int, rcpts ...string) Message {
	m := message(rcpts...)
	m.ID = fmt.Sprintf("msg-%d", i)
	m.Body = BytesBody([]byte(fmt.Sprintf("From: sender@fabrikam.com\r\nSubject: n%d\r\n\r\nHello.\r\n", i)))
	return m
}

// plainConnector sends to srv without TLS.
func plainConnector(t *testing.T, srv *smtptest.Server) Connector {
	return Connector{Name: "Plain", Hosts: []string{"[127.0.0.1]:" + strconv.Itoa(testkit.PortOf(t, srv.Addr))},
		FQDN: "mail.fabrikam.com", ConnectTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second}
}

// closePool ends the pool's idle connections and waits until the peer has
// seen every connection end, so that its sessions are complete.
func closePool(t *testing.T, p *Pool, srvs ...*smtptest.Server) {
	t.Helper()
	p.Close()
	testkit.Eventually(t, 10*time.Second, "every connection to end", func() bool {
		for _, s := range srvs {
			if _, open, _ := s.Connections(); open != 0 {
				return false
			}
		}
		return p.Open() == 0
	})
}

// delivered counts each numbered message in the sessions the server
// finished.
func delivered(t *testing.T, srv *smtptest.Server, sessions int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range sessions {
		sess := waitSession(t, srv)
		for _, m := range sess.Messages {
			_, subj, _ := strings.Cut(m.Body, "Subject: ")
			subj, _, _ = strings.Cut(subj, "\r\n")
			got[subj]++
		}
	}
	return got
}

func TestPoolSendsMessagesToOneHopOverOneConnection(t *testing.T) {
	p := testPKI(t)
	srv := startServer(t, &smtptest.Server{Hostname: "mail.contoso.com", TLSConfig: testkit.ServerTLS(p.server)})
	logw, records := sendLog(t)
	pool := NewPool()
	s := &Sender{Store: certs.NewStore(p.client), Roots: p.roots, ServerFQDN: "server.fabrikam.com", Log: logw, Resolver: contosoDNS(), Pool: pool}
	c := contosoConnector(testkit.PortOf(t, srv.Addr))
	c.MaxMessagesPerConnection = 20
	const n = 45
	for i := range n {
		r := s.Send(context.Background(), c, numbered(i, "a@contoso.com"))[0]
		if r.Outcome != outcome.Delivered || r.TLS == nil || !r.TLS.Verdict.OK || r.TLS.Peer.Thumbprint != p.server.Thumbprint {
			t.Fatalf("message %d: %+v (TLS %+v)", i, r, r.TLS)
		}
		if want := i%20 != 0; r.Reused != want {
			t.Fatalf("message %d: Reused = %v, want %v", i, r.Reused, want)
		}
	}
	closePool(t, pool, srv)
	accepted, _, _ := srv.Connections()
	if accepted != 3 {
		t.Fatalf("the peer accepted %d connections for %d messages, want 3 (20 messages per connection)", accepted, n)
	}
	if got := delivered(t, srv, accepted); len(got) != n {
		t.Fatalf("the peer received %d distinct messages, want %d", len(got), n)
	}
	if dials, reuses := pool.Stats(); dials != 3 || reuses != n-3 {
		t.Errorf("pool stats: %d dials, %d reuses", dials, reuses)
	}
	recs := records()
	if !hasRecord(recs, '*', "Reusing connection for message msg-1 (2 of at most 20)") || !hasRecord(recs, '*', "certificate validation succeeded (DomainValidation)") {
		t.Error("the protocol log does not record the reuse and the TLS verdict it travels under")
	}
}

func TestPoolPeerDropsBetweenMessages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply smtp.Reply
	}{
		{"closed", smtptest.Close},
		{"421", smtp.Reply{Code: 421, Enhanced: "4.4.2", Lines: []string{"idle too long, closing"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &smtptest.Server{Hook: func(sess *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
				// The peer ends every connection after its first message,
				// when the next one begins.
				if cmd.Verb == "MAIL" && len(sess.Messages) > 0 {
					return tc.reply, true
				}
				return smtp.Reply{}, false
			}})
			pool := NewPool()
			s := &Sender{ServerFQDN: "server.fabrikam.com", Pool: pool}
			c := plainConnector(t, srv)
			const n = 10
			for i := range n {
				r := s.Send(context.Background(), c, numbered(i, "a@contoso.com"))[0]
				if r.Outcome != outcome.Delivered || len(r.Attempts) != 1 {
					t.Fatalf("message %d: %+v", i, r)
				}
			}
			closePool(t, pool, srv)
			accepted, _, _ := srv.Connections()
			got := delivered(t, srv, accepted)
			for i := range n {
				if k := "n" + strconv.Itoa(i); got[k] != 1 {
					t.Errorf("message %s received %d times", k, got[k])
				}
			}
			if accepted != n {
				t.Errorf("accepted %d connections, want %d (one per message, the kept one dropped each time)", accepted, n)
			}
		})
	}
}

// countingDialer dials like the Sender and tracks how many of its
// connections are open at once (the peer sees a close a moment later, so
// its own count can lag behind ours).
type countingDialer struct {
	mu            sync.Mutex
	open, maxOpen int
}

type countedConn struct {
	net.Conn
	d    *countingDialer
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.d.mu.Lock()
		c.d.open--
		c.d.mu.Unlock()
	})
	return c.Conn.Close()
}

func (d *countingDialer) dial(ctx context.Context, network, laddr, raddr string) (net.Conn, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, raddr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.open++
	d.maxOpen = max(d.maxOpen, d.open)
	d.mu.Unlock()
	return &countedConn{Conn: conn, d: d}, nil
}

func TestPoolPerHopLimitUnderLoad(t *testing.T) {
	srv := startServer(t, &smtptest.Server{})
	pool := NewPool()
	dialer := &countingDialer{}
	s := &Sender{ServerFQDN: "server.fabrikam.com", Pool: pool, Dialer: dialer.dial}
	c := plainConnector(t, srv)
	c.MaxPerHopConnections = 3
	const n, workers = 1000, 40
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if r := s.Send(context.Background(), c, numbered(i, "a@contoso.com"))[0]; r.Outcome != outcome.Delivered {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	closePool(t, pool, srv)
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d of %d messages not delivered", f, n)
	}
	accepted, _, _ := srv.Connections()
	if maxOpen := dialer.maxOpen; maxOpen > 3 {
		t.Errorf("%d connections open at once to one hop, limit 3", maxOpen)
	}
	if want := n / DefaultMaxMessagesPerConnection; accepted < want || accepted > want+3 {
		t.Errorf("%d connections for %d messages, want about %d", accepted, n, want)
	}
	if got := delivered(t, srv, accepted); len(got) != n {
		t.Errorf("the peer received %d distinct messages, want %d", len(got), n)
	}
}

func TestPoolTotalLimitClosesIdleConnectionsOfOtherHops(t *testing.T) {
	a, b := startServer(t, &smtptest.Server{}), startServer(t, &smtptest.Server{})
	pool := NewPool()
	pool.SetMaxConnections(1)
	if got := pool.Limit(); got != 1 {
		t.Fatalf("Limit() = %d after SetMaxConnections(1)", got)
	}
	s := &Sender{ServerFQDN: "server.fabrikam.com", Pool: pool}
	ca, cb := plainConnector(t, a), plainConnector(t, b)
	for i := range 6 {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		if r := s.Send(context.Background(), c, numbered(i, "a@contoso.com"))[0]; r.Outcome != outcome.Delivered {
			t.Fatalf("message %d: %+v", i, r)
		}
		if open := pool.Open(); open > 1 {
			t.Fatalf("%d connections open, limit 1", open)
		}
	}
	closePool(t, pool, a, b)
	na, _, _ := a.Connections()
	nb, _, _ := b.Connections()
	if na != 3 || nb != 3 {
		t.Errorf("connections %d and %d, want 3 each (the other hop's idle one closed each time)", na, nb)
	}
}

func TestPoolSeesPeerCertificateChange(t *testing.T) {
	p := testPKI(t)
	renewed := testkit.Cert(t, certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.root}, time.Now())
	wrong := testkit.Cert(t, certs.Template{Subject: "CN=mail.woodgrove.com", SANs: []string{"mail.woodgrove.com"}, Issuer: p.root}, time.Now())
	var current atomic.Pointer[certs.Certificate]
	current.Store(p.server)
	cfg := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return current.Load().TLS(), nil }}
	srv := startServer(t, &smtptest.Server{Hostname: "mail.contoso.com", TLSConfig: cfg})
	pool := NewPool()
	s := &Sender{Store: certs.NewStore(p.client), Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: contosoDNS(), Pool: pool}
	c := contosoConnector(testkit.PortOf(t, srv.Addr))
	c.MaxMessagesPerConnection = 2

	thumb := func(i int) (Result, string) {
		r := s.Send(context.Background(), c, numbered(i, "a@contoso.com"))[0]
		if r.TLS == nil || r.TLS.Peer == nil {
			t.Fatalf("message %d: no TLS information: %+v", i, r)
		}
		return r, r.TLS.Peer.Thumbprint
	}
	if _, th := thumb(0); th != p.server.Thumbprint {
		t.Fatalf("first certificate %s", th)
	}
	current.Store(renewed)
	// The second message still travels on the first connection, under the
	// verdict judged when it was made; the third needs a new connection.
	if _, th := thumb(1); th != p.server.Thumbprint {
		t.Fatalf("second message: %s, want the first connection's certificate", th)
	}
	if r, th := thumb(2); th != renewed.Thumbprint || r.Outcome != outcome.Delivered {
		t.Fatalf("third message: %s (%s), want the renewed certificate %s", th, r.Status, renewed.Thumbprint)
	}
	current.Store(wrong)
	pool.Close() // the idle connection goes: the next message must be judged afresh
	if r, th := thumb(3); th != wrong.Thumbprint || r.Outcome != outcome.Deferred || r.Reason != string(tlscheck.SubjectMismatch) {
		t.Fatalf("after a wrong certificate: %s %s %s", th, r.Status, r.Reason)
	}
}

func TestPoolNeverSharesAcrossTLSPoliciesOrClientCertificates(t *testing.T) {
	p := testPKI(t)
	other := testkit.Cert(t, certs.Template{Subject: "CN=other.fabrikam.com", SANs: []string{"other.fabrikam.com"}, Issuer: p.root}, time.Now())
	srv := startServer(t, &smtptest.Server{Hostname: "mail.contoso.com", TLSConfig: testkit.ServerTLS(p.server)})
	pool := NewPool()
	mk := func(store *certs.Store) *Sender {
		return &Sender{Store: store, Roots: p.roots, ServerFQDN: "server.fabrikam.com", Resolver: contosoDNS(), Pool: pool}
	}
	s1, s2 := mk(certs.NewStore(p.client)), mk(certs.NewStore(other))
	domainValidation := contosoConnector(testkit.PortOf(t, srv.Addr))
	encryptionOnly := domainValidation
	encryptionOnly.Level = tlscheck.EncryptionOnly
	pinned := domainValidation
	pinned.CertificateName = other.Name()
	s3 := mk(certs.NewStore(p.client, other))

	steps := []struct {
		name     string
		s        *Sender
		c        Connector
		accepted int // connections accepted by the peer after the step
	}{
		{"DomainValidation, client certificate A", s1, domainValidation, 1},
		{"same again: reused", s1, domainValidation, 1},
		{"EncryptionOnly", s1, encryptionOnly, 2},
		{"client certificate B", s2, domainValidation, 3},
		{"pinned certificate B from a store holding both", s3, pinned, 4},
		{"client certificate A again: reused", s1, domainValidation, 4},
		{"EncryptionOnly again: reused", s1, encryptionOnly, 4},
	}
	for i, st := range steps {
		r := st.s.Send(context.Background(), st.c, numbered(i, "a@contoso.com"))[0]
		if r.Outcome != outcome.Delivered {
			t.Fatalf("%s: %+v", st.name, r)
		}
		testkit.Eventually(t, 5*time.Second, "the peer's connection count", func() bool {
			n, _, _ := srv.Connections()
			return n >= st.accepted
		})
		if n, _, _ := srv.Connections(); n != st.accepted {
			t.Fatalf("%s: the peer accepted %d connections, want %d", st.name, n, st.accepted)
		}
	}
	closePool(t, pool, srv)
}

// A target's DANE or MTA-STS policy is part of what a kept connection was
// judged under: a different policy (other TLSA records, report-only
// against enforced, another required name) never shares a connection.
func TestPoolKeyIncludesTargetPolicy(t *testing.T) {
	s := &Sender{ServerFQDN: "server.fabrikam.com", Pool: NewPool()}
	c := Connector{Name: "Internet", RequireTLS: true}
	tgt := Target{Host: "mx.contoso.com", IP: "127.0.0.1", Port: 25}
	dane := TargetPolicy{Type: PolicyTLSA, Domain: "contoso.com", RequireTLS: true, Enforce: true,
		Strings: []string{"_25._tcp.mx.contoso.com. IN TLSA 3 1 1 aa"}}
	rotated := dane
	rotated.Strings = []string{"_25._tcp.mx.contoso.com. IN TLSA 3 1 1 bb"}
	testing := dane
	testing.Enforce = false
	key := func(p *TargetPolicy) hopKey { return s.hopKey(c, tgt, "mail.fabrikam.com", "contoso.com", true, p) }
	same := dane
	if key(&dane) != key(&same) {
		t.Fatal("the same policy gives different keys: nothing would be reused")
	}
	for name, p := range map[string]*TargetPolicy{"no policy": nil, "other TLSA records": &rotated, "report-only": &testing} {
		if key(&dane) == key(p) {
			t.Errorf("%s shares the key of an enforced DANE policy", name)
		}
	}
}

// Recipients past the peer's per-transaction limit (452 4.5.3) go in the
// next transaction on the same connection, in the same attempt.
func TestSendSplitsRecipientsAtThePeersLimit(t *testing.T) {
	var mu sync.Mutex
	var perTx []int
	srv := startServer(t, &smtptest.Server{Hook: func(_ *smtptest.Session, cmd smtp.Command) (smtp.Reply, bool) {
		mu.Lock()
		defer mu.Unlock()
		switch cmd.Verb {
		case "MAIL":
			perTx = append(perTx, 0)
		case "RCPT":
			if perTx[len(perTx)-1] == 2 {
				return smtp.Reply{Code: 452, Enhanced: "4.5.3", Lines: []string{"Too many recipients"}}, true
			}
			perTx[len(perTx)-1]++
		}
		return smtp.Reply{}, false
	}})
	for _, pool := range []*Pool{nil, NewPool()} {
		mu.Lock()
		perTx = nil
		mu.Unlock()
		s := &Sender{ServerFQDN: "server.fabrikam.com", Pool: pool}
		rcpts := []string{"a@contoso.com", "b@contoso.com", "c@contoso.com", "d@contoso.com", "e@contoso.com"}
		for i, r := range s.Send(context.Background(), plainConnector(t, srv), numbered(1, rcpts...)) {
			if r.Outcome != outcome.Delivered || r.Rcpt != rcpts[i] {
				t.Errorf("pool %v: result %d: %+v", pool != nil, i, r)
			}
		}
		mu.Lock()
		if fmt.Sprint(perTx) != "[2 2 1]" {
			t.Errorf("pool %v: recipients per transaction %v, want [2 2 1]", pool != nil, perTx)
		}
		mu.Unlock()
		if pool != nil {
			closePool(t, pool, srv)
		}
	}
	if n, _, _ := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2 (one per Send)", n)
	}
}
