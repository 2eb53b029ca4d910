package dnsres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mailflowhq/mailflow/internal/loopguard"
)

// Mode says whether answers can be DNSSEC-authentic.
type Mode int

const (
	// Off: the AD bit is ignored; every answer is insecure.
	Off Mode = iota
	// TrustAD: the resolvers validate DNSSEC and their AD bit is trusted.
	TrustAD
)

// Mode names as written in the configuration (dns.dnssec).
const (
	ModeOff     = "off"
	ModeTrustAD = "trust_ad"
)

// ParseMode reads "off" or "trust_ad".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", ModeOff:
		return Off, nil
	case ModeTrustAD, "trust-ad":
		return TrustAD, nil
	}
	return Off, fmt.Errorf("dnssec %q is not valid: use %s or %s", s, ModeOff, ModeTrustAD)
}

func (m Mode) String() string {
	if m == TrustAD {
		return ModeTrustAD
	}
	return ModeOff
}

// Security is the DNSSEC status of one answer (RFC 4033 §5).
type Security int

const (
	// Insecure: not DNSSEC-authenticated (unsigned zone, or a resolver
	// whose AD bit is not trusted).
	Insecure Security = iota
	// Secure: the validating resolver set the AD bit.
	Secure
	// Bogus: the validating resolver refused the answer (SERVFAIL); a
	// delivery that depends on it must be deferred.
	Bogus
)

func (s Security) String() string {
	switch s {
	case Secure:
		return "secure"
	case Bogus:
		return "bogus"
	}
	return "insecure"
}

// MarshalText writes the word, so JSON shows "secure".
func (s Security) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Config configures a Resolver.
type Config struct {
	// Servers are "host:port" (or "host", port 53) resolvers tried in
	// order; empty = the nameservers of /etc/resolv.conf.
	Servers []string
	// Mode says whether the servers' AD bit is trusted.
	Mode Mode
	// Timeout bounds one query to one server (default 5 s).
	Timeout time.Duration
	// ResolvConf is the file read when Servers is empty (default
	// /etc/resolv.conf); tests point it elsewhere.
	ResolvConf string
}

// DefaultTimeout bounds one query to one server.
const DefaultTimeout = 5 * time.Second

// Resolver sends queries to the configured servers. It is safe for
// concurrent use.
type Resolver struct {
	servers []string
	mode    Mode
	timeout time.Duration
}

// New builds a Resolver. Servers without a port get 53; with no servers
// the system's resolv.conf is read (127.0.0.1:53 when it has none).
func New(cfg Config) (*Resolver, error) {
	r := &Resolver{mode: cfg.Mode, timeout: cfg.Timeout}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	for _, s := range cfg.Servers {
		addr, err := ServerAddr(s)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, addr)
	}
	if len(r.servers) == 0 {
		path := cfg.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		cc, err := dns.ClientConfigFromFile(path)
		if err == nil {
			for _, s := range cc.Servers {
				r.servers = append(r.servers, net.JoinHostPort(s, cc.Port))
			}
		}
		if len(r.servers) == 0 {
			r.servers = []string{"127.0.0.1:53"}
		}
	}
	return r, nil
}

// ServerAddr checks a resolver address "host", "host:port" or "[v6]:port"
// and returns it as "host:port" (port 53 by default).
func ServerAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty resolver address: write an IP address, optionally with :port")
	}
	host, port := s, "53"
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.Count(s, ":") == 1 {
		return "", fmt.Errorf("resolver %q: %v", s, err)
	}
	if net.ParseIP(strings.Trim(host, "[]")) == nil {
		return "", fmt.Errorf("resolver %q: %q is not an IP address (a resolver is named by address, not by name)", s, host)
	}
	var n int
	if _, err := fmt.Sscanf(port, "%d", &n); err != nil || n < 1 || n > 65535 || fmt.Sprint(n) != port {
		return "", fmt.Errorf("resolver %q: port %q is not a number from 1 to 65535", s, port)
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port), nil
}

// Mode is the resolver's DNSSEC mode.
func (r *Resolver) Mode() Mode { return r.mode }

// Validating reports whether answers can be secure (the AD bit is trusted).
func (r *Resolver) Validating() bool { return r.mode == TrustAD }

// Servers lists the servers queried, in order.
func (r *Resolver) Servers() []string { return append([]string(nil), r.servers...) }

// EDE is an RFC 8914 extended DNS error.
type EDE struct {
	Code uint16 `json:"code"`
	Text string `json:"text,omitempty"`
}

func (e EDE) String() string {
	s := fmt.Sprintf("EDE %d", e.Code)
	if name, ok := dns.ExtendedErrorCodeToString[e.Code]; ok {
		s += " (" + name + ")"
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// dnssecEDE reports whether an extended error is about DNSSEC validation
// (codes 1, 2 and 5–12 of RFC 8914, and 25 for a signature expired before
// valid, 27 for unsupported NSEC3 iterations).
func (e EDE) dnssecEDE() bool {
	switch e.Code {
	case 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 25, 27:
		return true
	}
	return false
}

// Answer is one query's outcome.
type Answer struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Server   string   `json:"server"`
	Rcode    string   `json:"rcode"`
	Security Security `json:"security"`
	// AD is the AD bit as received (trusted only in TrustAD mode).
	AD  bool  `json:"ad"`
	EDE []EDE `json:"ede,omitempty"`
	// Records are the answer section's records of the asked type (CNAMEs
	// followed by the resolver are left out).
	Records []dns.RR `json:"-"`
	// Canonical is the end of the CNAME chain the resolver followed from
	// Name ("" when Name is not an alias).
	Canonical string `json:"canonical,omitempty"`
}

// Error is a failed lookup.
type Error struct {
	Name, Type, Server string
	// Bogus: a validating resolver refused the answer (DNSSEC failure).
	Bogus bool
	// NotFound: the name or the record type does not exist (NXDOMAIN or an
	// empty answer), a definite answer rather than a failure.
	NotFound bool
	// Security of the denial when NotFound.
	Security Security
	EDE      []EDE
	Err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Type, e.Name)
	switch {
	case e.Bogus:
		b.WriteString(": DNSSEC validation failed (SERVFAIL from validating resolver " + e.Server + ")")
	case e.NotFound:
		b.WriteString(": no such record")
	default:
		fmt.Fprintf(&b, " via %s: %v", e.Server, e.Err)
	}
	for _, x := range e.EDE {
		b.WriteString("; " + x.String())
	}
	return b.String()
}

// ErrBogus matches (errors.Is) every lookup refused for a DNSSEC failure.
var ErrBogus = errors.New("DNSSEC validation failed")

// Is makes errors.Is(err, ErrBogus) true for bogus answers.
func (e *Error) Is(target error) bool { return target == ErrBogus && e.Bogus }

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Lookup asks for name/qtype and classifies the answer. A definite "does
// not exist" is an *Error with NotFound; a bogus answer an *Error with
// Bogus; other failures (timeouts, refusals, SERVFAIL from a resolver that
// does not validate) an *Error with Err. Records and security come with a
// nil error.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	fqdn := dns.Fqdn(strings.TrimSpace(name))
	tname := dns.TypeToString[qtype]
	if _, ok := dns.IsDomainName(fqdn); !ok || fqdn == "." {
		return nil, &Error{Name: name, Type: tname, Err: errors.New("not a valid domain name")}
	}
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.RecursionDesired = true
	q.AuthenticatedData = true // RFC 6840 §5.7: ask for the AD bit
	q.SetEdns0(4096, true)     // DO: the resolver keeps DNSSEC state

	var lastErr *Error
	for _, server := range r.servers {
		resp, err := r.exchange(ctx, q, server)
		if err != nil {
			lastErr = &Error{Name: fqdn, Type: tname, Server: server, Err: err}
			if ctx.Err() != nil {
				return nil, lastErr
			}
			continue
		}
		ans, aerr := r.classify(fqdn, qtype, server, resp)
		if aerr != nil && !aerr.NotFound && !aerr.Bogus && aerr.Err != nil && resp.Rcode == dns.RcodeRefused {
			lastErr = aerr // another server may serve us
			continue
		}
		if aerr != nil {
			return ans, aerr
		}
		return ans, nil
	}
	return nil, lastErr
}

// exchange sends q over UDP and repeats over TCP when the answer was
// truncated (large RRsets, such as hostile 1,000-record answers).
func (r *Resolver) exchange(ctx context.Context, q *dns.Msg, server string) (*dns.Msg, error) {
	if err := loopguard.Check(server); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c := &dns.Client{Net: "udp", UDPSize: 4096, Timeout: r.timeout}
	resp, _, err := c.ExchangeContext(cctx, q, server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(cctx, q, server)
	}
	if err != nil {
		return nil, err
	}
	if resp.Id != q.Id {
		return nil, errors.New("answer id does not match the query")
	}
	return resp, nil
}

func (r *Resolver) classify(fqdn string, qtype uint16, server string, resp *dns.Msg) (*Answer, *Error) {
	tname := dns.TypeToString[qtype]
	ans := &Answer{Name: fqdn, Type: tname, Server: server, Rcode: dns.RcodeToString[resp.Rcode], AD: resp.AuthenticatedData}
	if opt := resp.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				ans.EDE = append(ans.EDE, EDE{Code: e.InfoCode, Text: e.ExtraText})
			}
		}
	}
	if r.mode == TrustAD && resp.AuthenticatedData && (resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError) {
		ans.Security = Secure
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return ans, &Error{Name: fqdn, Type: tname, Server: server, NotFound: true, Security: ans.Security, EDE: ans.EDE}
	case dns.RcodeServerFailure:
		if r.mode == TrustAD && bogusEDE(ans.EDE) {
			ans.Security = Bogus
			return ans, &Error{Name: fqdn, Type: tname, Server: server, Bogus: true, EDE: ans.EDE}
		}
		return ans, &Error{Name: fqdn, Type: tname, Server: server, EDE: ans.EDE, Err: errors.New("server failure (SERVFAIL)")}
	default:
		return ans, &Error{Name: fqdn, Type: tname, Server: server, EDE: ans.EDE, Err: fmt.Errorf("the resolver answered %s", ans.Rcode)}
	}
	ans.Canonical = canonical(fqdn, resp.Answer)
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype == qtype && rr.Header().Class == dns.ClassINET {
			ans.Records = append(ans.Records, rr)
		}
	}
	if len(ans.Records) == 0 {
		return ans, &Error{Name: fqdn, Type: tname, Server: server, NotFound: true, Security: ans.Security, EDE: ans.EDE}
	}
	return ans, nil
}

// bogusEDE decides whether a SERVFAIL from a validating resolver is a
// DNSSEC failure: yes when an extended error says so, and yes when there is
// no extended error at all (a validating resolver's usual way to refuse a
// bogus answer); no when the extended errors name another cause (an
// unreachable authority, a network error).
func bogusEDE(edes []EDE) bool {
	if len(edes) == 0 {
		return true
	}
	for _, e := range edes {
		if e.dnssecEDE() {
			return true
		}
	}
	return false
}

// maxCNAMEChain bounds the aliases followed in one answer.
const maxCNAMEChain = 8

// canonical follows the CNAME records of an answer from name and returns
// the last target, "" when name is not an alias (or the chain loops or is
// too long).
func canonical(name string, answer []dns.RR) string {
	cur, seen := name, map[string]bool{}
	for range maxCNAMEChain {
		next := ""
		for _, rr := range answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				next = c.Target
				break
			}
		}
		if next == "" {
			break
		}
		k := strings.ToLower(next)
		if seen[k] {
			return ""
		}
		seen[k] = true
		cur = next
	}
	if strings.EqualFold(cur, name) {
		return ""
	}
	return cur
}
