package certs

import (
	"strings"
	"testing"
)

// TestSelectByVersion runs the same stores and connectors through the
// Exchange 2010 rules and the Exchange 2013-and-later rules.
func TestSelectByVersion(t *testing.T) {
	f := loadFixture(t)
	// The second field report's certificate: a CA-issued certificate whose
	// CN is another name and whose SAN holds the connector FQDN, and its
	// renewal with one more SAN entry.
	san := mustGenerate(t, Template{Subject: "CN=webmail.contoso.com", SANs: []string{"webmail.contoso.com", "mail.contoso.com"},
		NotBefore: day(2025, 1, 1), NotAfter: day(2026, 1, 1), Issuer: f.ca})
	sanRenewed := mustGenerate(t, Template{Subject: "CN=webmail.contoso.com", SANs: []string{"webmail.contoso.com", "mail.contoso.com", "smtp.contoso.com"},
		NotBefore: day(2025, 5, 1), NotAfter: day(2027, 5, 1), Issuer: f.ca})

	type want struct {
		cert *Certificate
		note bool // a note about an ignored TlsCertificateName
	}
	tests := []struct {
		name    string
		store   []*Certificate
		req     Request
		v2010   want
		v2013up want
	}{
		{name: "first report: Default Frontend, TlsCertificateName null → self-signed CN=SERVER1",
			store: []*Certificate{f.server1, f.mail},
			req:   Request{ConnectorFQDN: "server1.contoso.local", Connector: `SERVER1\Default Frontend SERVER1`},
			v2010: want{cert: f.server1}, v2013up: want{cert: f.server1}},
		{name: "first report's fix: TlsCertificateName pinned (2010 has none: still CN=SERVER1)",
			store: []*Certificate{f.server1, f.mail},
			req:   Request{ConnectorFQDN: "server1.contoso.local", CertificateName: f.mail.Name()},
			v2010: want{cert: f.server1, note: true}, v2013up: want{cert: f.mail}},
		{name: "second report: 2010 connector FQDN mail.contoso.com → the SAN certificate",
			store: []*Certificate{f.server1, san},
			req:   Request{ConnectorFQDN: "mail.contoso.com", ServerFQDN: "server1.contoso.local"},
			v2010: want{cert: san}, v2013up: want{cert: san}},
		{name: "second report's renewal with an extra SAN is chosen by both",
			store: []*Certificate{f.server1, san, sanRenewed},
			req:   Request{ConnectorFQDN: "mail.contoso.com"},
			v2010: want{cert: sanRenewed}, v2013up: want{cert: sanRenewed}},
		{name: "newer but shorter vs older but longer: 2010 takes the longest validity",
			store: []*Certificate{f.clientShort, f.clientLong},
			req:   Request{ConnectorFQDN: "smtp.contoso.com"},
			v2010: want{cert: f.clientLong}, v2013up: want{cert: f.clientShort}},
		{name: "CA-issued beats a longer-lived newer self-signed certificate in both",
			store: []*Certificate{f.mailSelf, f.mail},
			req:   Request{ConnectorFQDN: "mail.contoso.com"},
			v2010: want{cert: f.mail}, v2013up: want{cert: f.mail}},
		{name: "2010 ignores a pin that 2013 honours even when the FQDN finds nothing",
			store: []*Certificate{f.mail},
			req:   Request{ConnectorFQDN: "hybrid.contoso.com", CertificateName: f.mail.Name()},
			v2010: want{note: true}, v2013up: want{cert: f.mail}},
	}
	for _, tt := range tests {
		for _, v := range append([]Version{VersionMailflow}, Versions...) {
			w := tt.v2013up
			if v == Exchange2010 {
				w = tt.v2010
			}
			t.Run(tt.name+"/"+string(v), func(t *testing.T) {
				req := tt.req
				req.Now, req.Version = now, v
				sel := NewStore(tt.store...).Select(req)
				if sel.Cert != w.cert {
					t.Errorf("%s chose %s, want %s (warning %q)", v, subjectOf(sel.Cert), subjectOf(w.cert), sel.Warning)
				}
				if got := sel.Note != ""; got != w.note {
					t.Errorf("note %q, want one: %v", sel.Note, w.note)
				}
				if w.note && !strings.Contains(sel.Note, "has no TlsCertificateName") {
					t.Errorf("note %q does not say TlsCertificateName is absent", sel.Note)
				}
				if w.cert == nil && !strings.Contains(sel.Warning, "12014") {
					t.Errorf("no certificate but warning %q is not event 12014", sel.Warning)
				}
			})
		}
	}
}

func TestSelectClientByVersion(t *testing.T) {
	f := loadFixture(t)
	store := NewStore(f.server1, f.mail, f.connectorCert)
	req := Request{CertificateName: f.mail.Name(), ConnectorFQDN: "hybrid.contoso.com", ServerFQDN: "server1.contoso.local", Now: now}
	if sel := store.SelectClient(req); sel.Cert != f.mail || !sel.Pinned {
		t.Errorf("2013+: chose %s pinned %v, want the pinned CN=mail.contoso.com", subjectOf(sel.Cert), sel.Pinned)
	}
	req.Version = Exchange2010
	sel := store.SelectClient(req)
	if sel.Cert != f.connectorCert || sel.Pinned || sel.Note == "" {
		t.Errorf("2010: chose %s pinned %v note %q, want CN=hybrid.contoso.com by the connector FQDN with a note", subjectOf(sel.Cert), sel.Pinned, sel.Note)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{"": VersionMailflow, "2010": Exchange2010, "Exchange 2013": Exchange2013,
		"2016": Exchange2016, "Exchange Server 2019": Exchange2019, "SE": ExchangeSE, "se": ExchangeSE} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"2007", "2012", "online", "x"} {
		if _, err := ParseVersion(in); err == nil || !strings.Contains(err.Error(), "2010, 2013, 2016, 2019 or se") {
			t.Errorf("ParseVersion(%q): error %v, want one listing the versions", in, err)
		}
	}
}

func subjectOf(c *Certificate) string {
	if c == nil {
		return "nothing"
	}
	return c.Subject + " (" + c.Leaf.NotBefore.Format("2006-01-02") + ".." + c.Leaf.NotAfter.Format("2006-01-02") + ")"
}
