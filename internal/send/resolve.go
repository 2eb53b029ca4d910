package send

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/domain"
	"github.com/mailflowhq/mailflow/internal/outcome"
)

// Resolver is the DNS a Sender uses; *net.Resolver satisfies it.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// maxTargets bounds the addresses tried for one delivery, however many MX
// records and addresses DNS returns.
const maxTargets = 20

// Target is one address a delivery tries.
type Target struct {
	Host string `json:"host"` // name as configured or from MX; the IP itself for literals
	IP   string `json:"ip"`
	Port int    `json:"port"`
	// FromMX: the host came from the recipient domain's MX records.
	FromMX bool `json:"from_mx,omitempty"`
	// Secure: the host name was found securely (a smart host named in the
	// configuration, or a DNSSEC-authentic MX RRset) and its address
	// records are DNSSEC-authentic, so its TLSA records may be used.
	Secure bool `json:"dnssec_secure,omitempty"`
	// Canonical is the end of the CNAME chain the host name led to when
	// its addresses were looked up ("" when it is not an alias): DANE
	// looks for TLSA records there first (RFC 7672 §2.2.3).
	Canonical string `json:"canonical,omitempty"`
}

// Addr is "ip:port", the address dialled.
func (t Target) Addr() string { return net.JoinHostPort(t.IP, strconv.Itoa(t.Port)) }

// resolveFailure is returned when no host resolved at all.
type resolveFailure struct {
	host  string
	err   error
	null  bool // the domain publishes a null MX (RFC 7505)
	bogus bool // the answer failed DNSSEC validation
}

func (r *resolveFailure) Error() string { return fmt.Sprintf("resolve %s: %v", r.host, r.err) }

// Targets lists the addresses a delivery through c for the recipient domain
// tries, in order, exactly as Send resolves them: the connector's smart
// hosts, or the domain's MX records by preference (the domain itself when it
// has none), each host's addresses in DNS order, at most 20 in all. Hosts
// that do not resolve are skipped; when none resolves the Failure is the one
// Send records (450 4.4.312 DNS query failed, or 556 5.1.10 for a null MX).
// Diagnostics use it to test the very hosts the sender would use.
func (s *Sender) Targets(ctx context.Context, c Connector, domain string) ([]Target, *Failure) {
	targets, err := s.targets(ctx, c, domain)
	if err != nil {
		f, t := dnsFailure(err, domain, s.daneActive(c))
		return nil, f.export(StageResolve, t, s.now())
	}
	return targets, nil
}

// dnsFailure is the failure for a resolution error and the host it names.
// A DNSSEC-bogus answer is 4.7.324 dnssec-invalid when DANE is in use.
func dnsFailure(err error, domain string, dane bool) (*failure, Target) {
	var rf *resolveFailure
	errors.As(err, &rf)
	f := deferred(StatusDNSFailed, ReasonDNS, "The error was: "+err.Error())
	host := domain
	if rf != nil {
		host = rf.host
		if rf.null {
			f = &failure{status: StatusNullMX, reason: ReasonNullMX, message: err.Error(), outcome: outcome.Failed, ours: true}
		}
		if rf.bogus && dane {
			f = deferred(StatusDNSSECInvalid, ReasonDNSSECInvalid, err.Error()+" — the zone's signatures or its DS record at the parent are wrong")
		}
	}
	return f, Target{Host: host}
}

// targets lists the addresses to try, in order. Hosts that do not resolve
// are skipped; when none resolves the first DNS error is returned.
func (s *Sender) targets(ctx context.Context, c Connector, rcptDomain string) ([]Target, error) {
	port := c.Port
	if port == 0 {
		port = DefaultPort
	}
	type named struct {
		host   string
		port   int
		fromMX bool
		secure bool // the name itself was found securely
	}
	var hosts []named
	if len(c.Hosts) > 0 {
		for _, h := range c.Hosts {
			host, p, err := domain.SplitHostPort(h, port)
			if err != nil {
				return nil, &resolveFailure{host: h, err: err}
			}
			hosts = append(hosts, named{host, p, false, true})
		}
	} else {
		if rcptDomain == "" {
			return nil, &resolveFailure{host: "(no recipient rcptDomain)", err: errors.New("no smart host and no recipient rcptDomain to look up")}
		}
		mxs, secure, err := s.lookupMX(ctx, rcptDomain)
		var dnsErr *net.DNSError
		switch {
		case errors.Is(err, dnsres.ErrBogus):
			return nil, &resolveFailure{host: rcptDomain, err: err, bogus: true}
		case err == nil && len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
			return nil, &resolveFailure{host: rcptDomain, err: errors.New("the rcptDomain publishes a null MX (RFC 7505): it accepts no mail"), null: true}
		case err == nil && len(mxs) > 0:
			for _, mx := range mxs { // sorted by preference
				hosts = append(hosts, named{strings.TrimSuffix(mx.Host, "."), port, true, secure})
			}
		case err == nil || errors.As(err, &dnsErr) && dnsErr.IsNotFound && len(mxs) == 0:
			// RFC 5321 §5.1: no MX records, the rcptDomain itself is the host.
			hosts = append(hosts, named{rcptDomain, port, false, secure})
		default:
			return nil, &resolveFailure{host: rcptDomain, err: err}
		}
	}
	var out []Target
	var firstErr *resolveFailure
	for _, h := range hosts {
		if ip, err := netip.ParseAddr(h.host); err == nil {
			out = append(out, Target{Host: h.host, IP: ip.String(), Port: h.port, FromMX: h.fromMX})
			continue
		}
		addrs, canonical, secure, err := s.lookupHost(ctx, h.host)
		if err == nil && len(addrs) == 0 {
			err = errors.New("no addresses")
		}
		if err != nil {
			if firstErr == nil || errors.Is(err, dnsres.ErrBogus) && !firstErr.bogus {
				firstErr = &resolveFailure{host: h.host, err: err, bogus: errors.Is(err, dnsres.ErrBogus)}
			}
			continue
		}
		for _, a := range addrs {
			out = append(out, Target{Host: h.host, IP: a, Port: h.port, FromMX: h.fromMX, Secure: h.secure && secure, Canonical: canonical})
		}
		if len(out) >= maxTargets {
			break
		}
	}
	if len(out) == 0 {
		return nil, firstErr
	}
	if len(out) > maxTargets {
		out = out[:maxTargets]
	}
	return out, nil
}

// lookupMX resolves MX records, with their DNSSEC status when the Sender
// resolves through DNS (secure also for an authenticated denial).
func (s *Sender) lookupMX(ctx context.Context, domain string) ([]*net.MX, bool, error) {
	if s.DNS == nil {
		mxs, err := s.resolver().LookupMX(ctx, domain)
		return mxs, false, err
	}
	a, err := s.DNS.MX(ctx, domain)
	if err != nil {
		var de *dnsres.Error
		if errors.Is(err, dnsres.ErrBogus) || !errors.As(err, &de) {
			return nil, false, err
		}
		return nil, de.NotFound && de.Security == dnsres.Secure,
			&net.DNSError{Err: de.Error(), Name: domain, IsNotFound: de.NotFound, UnwrapErr: de}
	}
	return a.MX, a.Security == dnsres.Secure, nil
}

// lookupHost resolves a host's addresses, with the end of its CNAME chain
// and their DNSSEC status.
func (s *Sender) lookupHost(ctx context.Context, host string) (addrs []string, canonical string, secure bool, err error) {
	if s.DNS == nil {
		addrs, err := s.resolver().LookupHost(ctx, host)
		return addrs, "", false, err
	}
	a, err := s.DNS.Host(ctx, host)
	return a.Addrs, a.Canonical, a.Security == dnsres.Secure, err
}
