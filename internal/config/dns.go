package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/dnsres"
)

// DNS configures the resolver used for MX, address and TLSA lookups.
type DNS struct {
	// Resolvers are "ip" or "ip:port" recursive resolvers tried in order;
	// empty = the nameservers of /etc/resolv.conf.
	Resolvers []string `yaml:"resolvers"`
	// DNSSEC is off (default: the AD bit is ignored) or trust_ad (the
	// resolvers validate DNSSEC and their AD bit is trusted, as Postfix's
	// smtp_dns_support_level = dnssec).
	DNSSEC string `yaml:"dnssec"`
	// Timeout bounds one query to one resolver (default 5s).
	Timeout Duration `yaml:"timeout"`
}

// DANE modes of a send connector (dane:).
const (
	DANEOpportunistic = "opportunistic"
	DANERequired      = "required"
	DANEOff           = "off"
)

// DANEModes lists the accepted dane values.
func DANEModes() []string { return []string{DANEOpportunistic, DANERequired, DANEOff} }

// DNSSECModes lists the accepted dns.dnssec values.
func DNSSECModes() []string { return []string{dnsres.ModeOff, dnsres.ModeTrustAD} }

// TrustAD reports whether dns.dnssec is trust_ad.
func (d DNS) TrustAD() bool { return strings.EqualFold(d.DNSSEC, dnsres.ModeTrustAD) }

// ResolverConfig is the dnsres configuration the dns section describes.
func (d DNS) ResolverConfig() dnsres.Config {
	mode, _ := dnsres.ParseMode(d.DNSSEC) // validated
	return dnsres.Config{Servers: d.Resolvers, Mode: mode, Timeout: time.Duration(d.Timeout)}
}

func (v *validator) dns() {
	d := &v.c.DNS
	for i, r := range d.Resolvers {
		if _, err := dnsres.ServerAddr(r); err != nil {
			v.add(fmt.Sprintf("dns.resolvers[%d]", i), err.Error(),
				`write the address of a recursive resolver, e.g. "127.0.0.1" or "127.0.0.1:5353" (a validating one, such as a local unbound, for DANE)`)
		}
	}
	v.enumValue("dns.dnssec", "DNSSEC mode", &d.DNSSEC, DNSSECModes())
	v.positiveDuration("dns.timeout", d.Timeout, DefaultDNSTimeout)
	if d.TrustAD() && len(d.Resolvers) == 0 {
		v.add("dns.dnssec", "dnssec: trust_ad needs the resolvers named: the AD bit of whatever /etc/resolv.conf lists cannot be trusted",
			`add resolvers: ["127.0.0.1:53"] naming a validating resolver (for example a local unbound), or set dnssec: off`)
	}
}

func (v *validator) sendConnectorDANE(sc *SendConnector) {
	v.enumValue(join(sc.Key, "dane"), "DANE mode", &sc.DANE, DANEModes())
}

// DefaultDNSTimeout bounds one DNS query.
const DefaultDNSTimeout = Duration(dnsres.DefaultTimeout)

func (c *Config) dnsDefaults() {
	if c.DNS.DNSSEC == "" {
		c.DNS.DNSSEC = dnsres.ModeOff
	}
	setDuration(c, &c.DNS.Timeout, "dns.timeout", DefaultDNSTimeout)
	for i := range c.SendConnectors {
		sc := &c.SendConnectors[i]
		if sc.DANE == "" {
			sc.DANE = DANEOff
			if c.DNS.TrustAD() {
				sc.DANE = DANEOpportunistic
			}
		}
	}
}

// DANEWarnings returns a start-up warning for every send connector that
// asks for DANE while the resolver is not trusted to validate DNSSEC: no
// answer can then be authentic, so DANE never applies (opportunistic) or
// nothing is delivered (required).
func (c *Config) DANEWarnings() []string {
	if c.DNS.TrustAD() {
		return nil
	}
	var out []string
	for i := range c.SendConnectors {
		sc := &c.SendConnectors[i]
		if sc.DANE != DANEOpportunistic && sc.DANE != DANERequired || !c.written(sc.Key+".dane") {
			continue
		}
		what := "DANE is never applied"
		if sc.DANE == DANERequired {
			what = "no message will be delivered (every TLSA answer is insecure)"
		}
		e := c.ErrorAt(sc.Key+".dane", fmt.Sprintf("send connector %q asks for dane: %s but dns.dnssec is off, so %s", sc.Name, sc.DANE, what),
			`name a validating resolver: dns: {resolvers: ["127.0.0.1:53"], dnssec: trust_ad}`)
		out = append(out, e.Error())
	}
	return out
}
