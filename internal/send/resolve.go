package send

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mailflowhq/mailflow/internal/domain"
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
}

// Addr is "ip:port", the address dialled.
func (t Target) Addr() string { return net.JoinHostPort(t.IP, strconv.Itoa(t.Port)) }

// resolveFailure is returned when no host resolved at all.
type resolveFailure struct {
	host string
	err  error
	null bool // the domain publishes a null MX (RFC 7505)
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
		f, t := dnsFailure(err, domain)
		return nil, f.export(StageResolve, t, s.now())
	}
	return targets, nil
}

// dnsFailure is the failure for a resolution error and the host it names.
func dnsFailure(err error, domain string) (*failure, Target) {
	var rf *resolveFailure
	errors.As(err, &rf)
	f := deferred(StatusDNSFailed, ReasonDNS, "The error was: "+err.Error())
	host := domain
	if rf != nil {
		host = rf.host
		if rf.null {
			f = &failure{status: StatusNullMX, reason: ReasonNullMX, message: err.Error(), outcome: Failed, ours: true}
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
		host string
		port int
	}
	var hosts []named
	if len(c.Hosts) > 0 {
		for _, h := range c.Hosts {
			host, p, err := domain.SplitHostPort(h, port)
			if err != nil {
				return nil, &resolveFailure{host: h, err: err}
			}
			hosts = append(hosts, named{host, p})
		}
	} else {
		if rcptDomain == "" {
			return nil, &resolveFailure{host: "(no recipient rcptDomain)", err: errors.New("no smart host and no recipient rcptDomain to look up")}
		}
		mxs, err := s.resolver().LookupMX(ctx, rcptDomain)
		var dnsErr *net.DNSError
		switch {
		case err == nil && len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
			return nil, &resolveFailure{host: rcptDomain, err: errors.New("the rcptDomain publishes a null MX (RFC 7505): it accepts no mail"), null: true}
		case err == nil && len(mxs) > 0:
			for _, mx := range mxs { // net sorts by preference
				hosts = append(hosts, named{strings.TrimSuffix(mx.Host, "."), port})
			}
		case err == nil || errors.As(err, &dnsErr) && dnsErr.IsNotFound && len(mxs) == 0:
			// RFC 5321 §5.1: no MX records, the rcptDomain itself is the host.
			hosts = append(hosts, named{rcptDomain, port})
		default:
			return nil, &resolveFailure{host: rcptDomain, err: err}
		}
	}
	var out []Target
	var firstErr *resolveFailure
	for _, h := range hosts {
		if ip, err := netip.ParseAddr(h.host); err == nil {
			out = append(out, Target{Host: h.host, IP: ip.String(), Port: h.port})
			continue
		}
		addrs, err := s.resolver().LookupHost(ctx, h.host)
		if err == nil && len(addrs) == 0 {
			err = errors.New("no addresses")
		}
		if err != nil {
			if firstErr == nil {
				firstErr = &resolveFailure{host: h.host, err: err}
			}
			continue
		}
		for _, a := range addrs {
			out = append(out, Target{Host: h.host, IP: a, Port: h.port})
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
