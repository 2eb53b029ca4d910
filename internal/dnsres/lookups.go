package dnsres

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// MXAnswer is a domain's MX RRset, sorted by preference.
type MXAnswer struct {
	MX       []*net.MX
	Security Security
}

// MX looks up a domain's MX records.
func (r *Resolver) MX(ctx context.Context, domain string) (MXAnswer, error) {
	ans, err := r.Lookup(ctx, domain, dns.TypeMX)
	if err != nil {
		return MXAnswer{Security: securityOf(ans, err)}, err
	}
	out := MXAnswer{Security: ans.Security}
	for _, rr := range ans.Records {
		if mx, ok := rr.(*dns.MX); ok {
			out.MX = append(out.MX, &net.MX{Host: mx.Mx, Pref: mx.Preference})
		}
	}
	sort.SliceStable(out.MX, func(i, j int) bool { return out.MX[i].Pref < out.MX[j].Pref })
	return out, nil
}

// HostAnswer is a host's addresses (A, then AAAA).
type HostAnswer struct {
	Addrs []string
	// Canonical is the end of the CNAME chain the host name led to (""
	// when it is not an alias).
	Canonical string
	// Security is Secure only when every RRset that exists is secure.
	Security Security
}

// Host looks up a host's A and AAAA records. A bogus answer for either
// is a bogus failure; a name with neither is NotFound.
func (r *Resolver) Host(ctx context.Context, host string) (HostAnswer, error) {
	if ip := net.ParseIP(host); ip != nil {
		return HostAnswer{Addrs: []string{ip.String()}}, nil
	}
	var out HostAnswer
	sec := Secure
	found := false
	var firstErr error
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		ans, err := r.Lookup(ctx, host, qt)
		var de *Error
		switch {
		case err == nil:
			found = true
			if out.Canonical == "" {
				out.Canonical = strings.TrimSuffix(ans.Canonical, ".")
			}
			for _, rr := range ans.Records {
				switch a := rr.(type) {
				case *dns.A:
					out.Addrs = append(out.Addrs, a.A.String())
				case *dns.AAAA:
					out.Addrs = append(out.Addrs, a.AAAA.String())
				}
			}
			if ans.Security != Secure {
				sec = Insecure
			}
		case errors.As(err, &de) && de.Bogus:
			return HostAnswer{Security: Bogus}, err
		case errors.As(err, &de) && de.NotFound:
			if de.Security != Secure {
				sec = Insecure
			}
			if firstErr == nil {
				firstErr = err
			}
		default:
			if firstErr == nil || isNotFound(firstErr) {
				firstErr = err
			}
			sec = Insecure
		}
	}
	if !found {
		return HostAnswer{Security: sec}, firstErr
	}
	out.Security = sec
	return out, nil
}

// TLSAAnswer is the TLSA RRset of one service.
type TLSAAnswer struct {
	// Name is the owner name asked: _25._tcp.mx.example.com.
	Name     string
	Records  []*dns.TLSA
	Security Security
}

// TLSAName is the owner name of a service's TLSA records (RFC 6698 §3):
// _<port>._tcp.<host>.
func TLSAName(port int, host string) string {
	return "_" + strconv.Itoa(port) + "._tcp." + dns.Fqdn(strings.TrimSuffix(host, ".")+".")
}

// TLSA looks up the TLSA records of host's TCP port.
func (r *Resolver) TLSA(ctx context.Context, port int, host string) (TLSAAnswer, error) {
	name := TLSAName(port, host)
	ans, err := r.Lookup(ctx, name, dns.TypeTLSA)
	if err != nil {
		return TLSAAnswer{Name: name, Security: securityOf(ans, err)}, err
	}
	out := TLSAAnswer{Name: name, Security: ans.Security}
	for _, rr := range ans.Records {
		if t, ok := rr.(*dns.TLSA); ok {
			out.Records = append(out.Records, t)
		}
	}
	return out, nil
}

// TXTAnswer is a name's TXT records, each one's strings joined.
type TXTAnswer struct {
	TXT      []string
	Security Security
}

// TXT looks up a name's TXT records (MTA-STS and TLS-RPT discovery).
func (r *Resolver) TXT(ctx context.Context, name string) (TXTAnswer, error) {
	ans, err := r.Lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return TXTAnswer{Security: securityOf(ans, err)}, err
	}
	out := TXTAnswer{Security: ans.Security}
	for _, rr := range ans.Records {
		if t, ok := rr.(*dns.TXT); ok {
			out.TXT = append(out.TXT, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}

// LookupMX is MX in the form of net.Resolver, so a Resolver can stand
// where the standard library's does; a missing record is a *net.DNSError
// with IsNotFound.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	a, err := r.MX(ctx, name)
	return a.MX, netError(err)
}

// LookupHost is Host in the form of net.Resolver.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	a, err := r.Host(ctx, host)
	return a.Addrs, netError(err)
}

// netError keeps the *Error (errors.As) but presents a missing record as
// *net.DNSError{IsNotFound: true}, as callers of net.Resolver expect.
func netError(err error) error {
	var de *Error
	if err == nil || !errors.As(err, &de) {
		return err
	}
	return &net.DNSError{Err: de.Error(), Name: strings.TrimSuffix(de.Name, "."), Server: de.Server,
		IsNotFound: de.NotFound, IsTemporary: !de.NotFound, UnwrapErr: de}
}

func isNotFound(err error) bool {
	var de *Error
	return errors.As(err, &de) && de.NotFound
}

// securityOf is the security of a failed lookup: bogus for a DNSSEC
// failure, that of the denial for a missing record, else insecure.
func securityOf(_ *Answer, err error) Security {
	var de *Error
	if errors.As(err, &de) {
		switch {
		case de.Bogus:
			return Bogus
		case de.NotFound:
			return de.Security
		}
	}
	return Insecure
}

// Parsed returns the records in tlscheck's form, for matching. A record
// whose data is not hexadecimal keeps no data, which makes it unusable
// (never a match), as RFC 7671 §4.1 asks of malformed records.
func (a TLSAAnswer) Parsed() []tlscheck.TLSA {
	out := make([]tlscheck.TLSA, 0, len(a.Records))
	for _, r := range a.Records {
		data, err := hex.DecodeString(r.Certificate)
		if err != nil {
			data = nil
		}
		out = append(out, tlscheck.TLSA{Usage: r.Usage, Selector: r.Selector, MatchingType: r.MatchingType, Data: data})
	}
	return out
}

// TTL is the smallest TTL of the records (0 with none).
func (a TLSAAnswer) TTL() uint32 {
	var ttl uint32
	for i, r := range a.Records {
		if i == 0 || r.Hdr.Ttl < ttl {
			ttl = r.Hdr.Ttl
		}
	}
	return ttl
}
