package send

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/loopguard"
	"github.com/mailflowhq/mailflow/internal/protolog"
)

// Sender delivers messages through send connectors. Its fields are read-only
// once Send is called; one Sender serves any number of concurrent Sends.
type Sender struct {
	// Store holds the client certificates; nil = none.
	Store *certs.Store
	// Roots are the trusted roots for server certificates; nil = system.
	Roots *x509.CertPool
	// ServerFQDN is the EHLO name and certificate name for connectors
	// without an FQDN.
	ServerFQDN string
	// Log is the SmtpSend protocol log; nil = none.
	Log *protolog.Writer
	// Now is the clock for certificate checks and LRT; nil = time.Now.
	Now func() time.Time
	// Resolver is the DNS; nil = net.DefaultResolver (in a test binary, a
	// resolver that refuses every name: tests inject theirs).
	Resolver Resolver
	// Pool keeps connections open between deliveries to the same next hop;
	// nil = a new connection per delivery.
	Pool *Pool
	// Dialer connects; laddr is the connector's SourceIP ("" = any). nil =
	// a net.Dialer bound to laddr.
	Dialer func(ctx context.Context, network, laddr, raddr string) (net.Conn, error)
	// DNS, when set, resolves MX, addresses and TLSA records with their
	// DNSSEC status (and replaces Resolver); DANE needs it, with a
	// validating resolver.
	DNS *dnsres.Resolver
	// Policies are per-destination TLS policy sources consulted after DANE
	// and before the connector's own settings (MTA-STS).
	Policies []PolicySource
	// Observer receives each policy outcome (TLS-RPT); nil = none.
	Observer PolicyObserver
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) resolver() Resolver {
	switch {
	case s.DNS != nil:
		return s.DNS
	case s.Resolver != nil:
		return s.Resolver
	}
	return loopguard.System()
}

func (s *Sender) dial(ctx context.Context, laddr, raddr string) (net.Conn, error) {
	if s.Dialer != nil {
		return s.Dialer(ctx, "tcp", laddr, raddr)
	}
	if err := loopguard.Check(raddr); err != nil {
		return nil, err
	}
	var d net.Dialer
	if laddr != "" {
		ip := net.ParseIP(laddr)
		if ip == nil {
			return nil, errors.New("source IP " + laddr + " is not an IP address")
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d.DialContext(ctx, "tcp", raddr)
}

// Send delivers m through c and returns one Result per recipient, in the
// order of m.Rcpts. It never returns an error: every failure is a Deferred or
// Failed Result whose Status and Detail say why.
func (s *Sender) Send(ctx context.Context, c Connector, m Message) []Result {
	if len(m.Rcpts) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return s.failAll(m, cancelledFailure(), Target{}, nil, nil)
	}
	domain := m.RecipientDomain
	if domain == "" {
		domain = domainOf(m.Rcpts[0])
	}
	helo := c.FQDN
	if helo == "" {
		helo = s.ServerFQDN
	}
	if helo == "" || strings.EqualFold(helo, "localhost") {
		f := deferred(StatusCannotConnect, ReasonConfig, "send connector "+c.Name+" has no fqdn and the server has no fqdn: set one, mailflow never greets as localhost")
		return s.failAll(m, f, Target{}, nil, nil)
	}

	targets, err := s.targets(ctx, c, domain)
	if err != nil {
		f, t := dnsFailure(err, domain, s.daneActive(c))
		return s.failAll(m, f, t, nil, nil)
	}

	var attempts []Attempt
	var last *sessionResult
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		pol := m.adjustPolicy(c, s.Policy(ctx, c, domain, t))
		if f := requireTLSPolicyFailure(m, c, t, pol); f != nil {
			res := &sessionResult{target: t, fail: f}
			attempts = append(attempts, res.attempt())
			last = res
			continue
		}
		if pol.Refusal != nil {
			f := pol.Refusal.failure()
			s.report(pol, t, "", f, pol.Refusal.ResultType)
			if pol.Enforce {
				res := &sessionResult{target: t, fail: f}
				s.logRefusal(c, t, pol)
				attempts = append(attempts, res.attempt())
				last = res
				continue
			}
			pol = connectorPolicy(c, domain) // report-only policy
		}
		res := s.session(ctx, c, m, t, helo, domain, true, &pol)
		if res.fail != nil && res.fail.tlsHandshake && !pol.RequireTLS {
			// Opportunistic TLS: a host whose TLS is broken still gets the
			// mail in plaintext, as Postfix does at level "may".
			attempts = append(attempts, res.attempt())
			res = s.session(ctx, c, m, t, helo, domain, false, &pol)
		}
		attempts = append(attempts, res.attempt())
		last = res
		if res.fail == nil || res.fail.final {
			break
		}
	}
	if last == nil { // cancelled before the first attempt
		f := deferred(StatusCancelled, ReasonCancelled, "the delivery was cancelled")
		return s.failAll(m, f, targets[0], nil, attempts)
	}
	if last.fail != nil {
		return s.failAll(m, last.fail, last.target, last.tls, attempts)
	}
	for i := range last.results {
		last.results[i].Attempts = attempts
	}
	return last.results
}

// failAll gives every recipient the same failure.
func (s *Sender) failAll(m Message, f *failure, t Target, tlsInfo *TLSInfo, attempts []Attempt) []Result {
	now := s.now()
	out := make([]Result, len(m.Rcpts))
	for i, rcpt := range m.Rcpts {
		out[i] = Result{
			Rcpt: rcpt, Outcome: f.outcome, Status: f.status, Reason: f.reason, LastError: f.lastError(t, now),
			RemoteHost: t.Host, RemoteIP: t.IP, RemotePort: t.Port, TLS: tlsInfo, Attempts: attempts,
		}
	}
	return out
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}
