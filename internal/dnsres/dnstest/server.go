// Package dnstest is an in-process DNS server for tests of code that
// resolves through internal/dnsres, and for mailflow lab's DANE scenario:
// it answers from a table of records and plays a validating resolver by
// setting the AD bit on names marked secure and answering SERVFAIL with
// extended error 6 (DNSSEC Bogus) for names marked bogus. It validates
// nothing itself: unit tests and the lab use it for speed and for running
// anywhere; the integration tests run a real validating resolver (unbound)
// over a really signed zone.
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers queries on a loopback UDP and TCP port.
type Server struct {
	Addr string // "127.0.0.1:port"

	mu      sync.Mutex
	records map[key][]dns.RR
	secure  map[string]bool
	bogus   map[string]bool
	queries int
	udp     *dns.Server
	tcp     *dns.Server
}

type key struct {
	name  string
	qtype uint16
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Listen()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Listen runs a server on a free loopback port until Close.
func Listen() (*Server, error) {
	s := &Server{records: map[key][]dns.RR{}, secure: map[string]bool{}, bogus: map[string]bool{}}
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	// The UDP port is free; the same TCP port may not be: try others.
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("no loopback port free for both UDP and TCP: %w", err)
	}
	s.Addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: ln, Handler: s}
	udpUp, tcpUp := make(chan struct{}), make(chan struct{})
	s.udp.NotifyStartedFunc = func() { close(udpUp) }
	s.tcp.NotifyStartedFunc = func() { close(tcpUp) }
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	<-udpUp
	<-tcpUp
	return s, nil
}

// Close stops the server.
func (s *Server) Close() {
	s.udp.Shutdown()
	s.tcp.Shutdown()
}

// Add adds records in zone-file form ("mx.example.test. 60 IN A 127.0.0.1").
func (s *Server) Add(t testing.TB, rrs ...string) {
	t.Helper()
	if err := s.AddRecords(rrs...); err != nil {
		t.Fatalf("dnstest: %v", err)
	}
}

// AddRecords is Add without a test: a record that does not parse is an
// error and nothing is added.
func (s *Server) AddRecords(rrs ...string) error {
	var parsed []dns.RR
	for _, text := range rrs {
		rr, err := dns.NewRR(text)
		if err != nil {
			return fmt.Errorf("record %q: %w", text, err)
		}
		parsed = append(parsed, rr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range parsed {
		k := key{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		s.records[k] = append(s.records[k], rr)
	}
	return nil
}

// Replace drops the records of name/type; Add then sets new ones.
func (s *Server) Replace(name string, qtype uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key{strings.ToLower(dns.Fqdn(name)), qtype})
}

// Secure marks names (and every name below them) as DNSSEC-authentic.
func (s *Server) Secure(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.secure[strings.ToLower(dns.Fqdn(n))] = true
	}
}

// Bogus marks names (and every name below them) as failing validation.
func (s *Server) Bogus(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.bogus[strings.ToLower(dns.Fqdn(n))] = true
	}
}

// Queries is how many queries were answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func under(set map[string]bool, name string) bool {
	for n := name; ; {
		if set[n] {
			return true
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return false
		}
		n = n[i+1:]
	}
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	s.mu.Lock()
	s.queries++
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	m.Compress = true
	if len(q.Question) != 1 {
		s.mu.Unlock()
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	name := strings.ToLower(q.Question[0].Name)
	opt := q.IsEdns0()
	if opt != nil {
		m.SetEdns0(4096, opt.Do())
	}
	switch {
	case under(s.bogus, name):
		m.Rcode = dns.RcodeServerFailure
		if o := m.IsEdns0(); o != nil {
			o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSBogus, ExtraText: "signature failed to verify"})
		}
	default:
		// Follow CNAMEs (a few levels) as a recursive resolver does; the
		// answer is authentic only if every name in the chain is.
		qtype := q.Question[0].Qtype
		cur, ad := name, under(s.secure, name)
		for range 8 {
			rrs := s.records[key{cur, qtype}]
			if len(rrs) > 0 || qtype == dns.TypeCNAME {
				m.Answer = append(m.Answer, rrs...)
				break
			}
			cn := s.records[key{cur, dns.TypeCNAME}]
			if len(cn) == 0 {
				break
			}
			m.Answer = append(m.Answer, cn[0])
			cur = strings.ToLower(cn[0].(*dns.CNAME).Target)
			ad = ad && under(s.secure, cur)
		}
		if len(m.Answer) == 0 && !s.nameExists(name) {
			m.Rcode = dns.RcodeNameError
		}
		m.AuthenticatedData = ad
	}
	s.mu.Unlock()
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		size := 512
		if opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

func (s *Server) nameExists(name string) bool {
	for k := range s.records {
		if k.name == name || strings.HasSuffix(k.name, "."+name) {
			return true
		}
	}
	return false
}
