package testkit

import (
	"context"
	"net"
)

// DNS is a resolver for tests (send.Resolver, the probe's resolver): it
// answers from its maps and says NXDOMAIN for anything else, and never
// queries real DNS. Fail forces an error for a name. TXT answers MTA-STS
// and TLS-RPT discovery.
type DNS struct {
	MX    map[string][]*net.MX
	Hosts map[string][]string
	TXT   map[string][]string
	Fail  map[string]error
}

// LookupTXT returns the TXT records of name.
func (d *DNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if err := d.Fail[name]; err != nil {
		return nil, err
	}
	if v, ok := d.TXT[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// LookupMX returns the MX records of name.
func (d *DNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if err := d.Fail[name]; err != nil {
		return nil, err
	}
	if mx, ok := d.MX[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// LookupHost returns the addresses of host.
func (d *DNS) LookupHost(_ context.Context, host string) ([]string, error) {
	if err := d.Fail[host]; err != nil {
		return nil, err
	}
	if a, ok := d.Hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}
