package config

import (
	"strings"
	"testing"
)

func TestDNSErrors(t *testing.T) {
	cases := []struct {
		name, doc, key, msgHas, fixHas string
	}{
		{"resolver by name", head + "dns:\n  resolvers: [\"unbound.local\"] #<-\n  dnssec: trust_ad\n",
			"dns.resolvers[0]", "not an IP address", "validating one"},
		{"bad dnssec", head + "dns:\n  resolvers: [\"127.0.0.1\"]\n  dnssec: yes #<-\n",
			"dns.dnssec", "not a DNSSEC mode", "trust_ad"},
		{"trust_ad without resolvers", head + "dns:\n  dnssec: trust_ad #<-\n",
			"dns.dnssec", "cannot be trusted", `resolvers: ["127.0.0.1:53"]`},
		{"bad dane", head + "send_connectors:\n  - name: Out\n    address_spaces: [\"*\"]\n    dane: enforce #<-\n",
			"send_connectors[0].dane", "not a DANE mode", "opportunistic"},
		{"bad timeout", head + "dns:\n  timeout: 0 #<-\n", "dns.timeout", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.doc))
			es := AsErrors(err)
			if len(es) == 0 {
				t.Fatalf("accepted: %v", err)
			}
			e := es[0]
			if e.Key != tc.key || e.Line != markedLine(t, tc.doc) || !strings.Contains(e.Msg, tc.msgHas) || !strings.Contains(e.Fix, tc.fixHas) {
				t.Fatalf("got %v; want key %s line %d", e, tc.key, markedLine(t, tc.doc))
			}
		})
	}
}

func TestDANEDefaults(t *testing.T) {
	c := mustParse(t, head+"dns:\n  resolvers: [\"127.0.0.1:5353\"]\n  dnssec: Trust_AD\nsend_connectors:\n  - name: A\n    address_spaces: [\"*\"]\n  - name: B\n    address_spaces: [\"x.test\"]\n    dane: Required\n")
	if c.DNS.DNSSEC != "trust_ad" || c.SendConnectors[0].DANE != DANEOpportunistic || c.SendConnectors[1].DANE != DANERequired {
		t.Fatalf("dnssec %q, dane %q %q", c.DNS.DNSSEC, c.SendConnectors[0].DANE, c.SendConnectors[1].DANE)
	}
	if rc := c.DNS.ResolverConfig(); len(rc.Servers) != 1 || rc.Timeout <= 0 {
		t.Fatalf("resolver config %+v", rc)
	}
	if w := c.DANEWarnings(); len(w) != 0 {
		t.Fatalf("warnings with a validating resolver: %v", w)
	}

	c = mustParse(t, head+"send_connectors:\n  - name: A\n    address_spaces: [\"*\"]\n  - name: B\n    address_spaces: [\"x.test\"]\n    dane: required\n")
	if c.DNS.DNSSEC != "off" || c.SendConnectors[0].DANE != DANEOff {
		t.Fatalf("defaults without dns: dnssec %q dane %q", c.DNS.DNSSEC, c.SendConnectors[0].DANE)
	}
	w := c.DANEWarnings()
	if len(w) != 1 || !strings.Contains(w[0], "t.yaml:") || !strings.Contains(w[0], "dnssec: trust_ad") || !strings.Contains(w[0], "no message will be delivered") {
		t.Fatalf("warnings %v", w)
	}
}
