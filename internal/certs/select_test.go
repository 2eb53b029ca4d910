package certs

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// fixture holds the certificates of the selection tests, generated once.
type fixture struct {
	ca, otherCA                           *Certificate
	mail, mailRenewed, mailOtherCA        *Certificate
	mailSelf, server1                     *Certificate
	sanOnly, wildcard                     *Certificate
	old1, old2                            *Certificate
	tieShort, tieLong                     *Certificate
	nokey, nokeyNewer                     *Certificate
	future, selfValid, caExpired          *Certificate
	connectorCert                         *Certificate
	clientShort, clientLong, clientFuture *Certificate
}

var (
	fixtureOnce sync.Once
	fx          fixture
)

func loadFixture(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		g := func(subject string, sans []string, nb, na time.Time, issuer *Certificate) *Certificate {
			return mustGenerate(t, Template{Subject: subject, SANs: sans, NotBefore: nb, NotAfter: na, Issuer: issuer})
		}
		fx.ca = mustGenerate(t, Template{Subject: "CN=Contoso CA, O=Contoso, C=US", IsCA: true, NotBefore: day(2020, 1, 1), NotAfter: day(2035, 1, 1)})
		fx.otherCA = mustGenerate(t, Template{Subject: "CN=Other CA, O=Other", IsCA: true, NotBefore: day(2020, 1, 1), NotAfter: day(2035, 1, 1)})
		mailSANs := []string{"mail.contoso.com", "autodiscover.contoso.com"}
		fx.mail = g("CN=mail.contoso.com", mailSANs, day(2025, 1, 1), day(2026, 1, 1), fx.ca)
		fx.mailRenewed = g("CN=mail.contoso.com", mailSANs, day(2025, 5, 1), day(2026, 5, 1), fx.ca)
		fx.mailOtherCA = g("CN=mail.contoso.com", mailSANs, day(2025, 5, 15), day(2026, 5, 15), fx.otherCA)
		fx.mailSelf = g("CN=mail.contoso.com", mailSANs, day(2025, 5, 20), day(2030, 5, 20), nil)
		fx.server1 = g("CN=SERVER1", []string{"SERVER1", "server1.contoso.local"}, day(2024, 1, 1), day(2029, 1, 1), nil)
		fx.sanOnly = g("CN=Exchange Certificate", []string{"hybrid.contoso.com"}, day(2025, 1, 1), day(2026, 1, 1), fx.ca)
		fx.wildcard = g("CN=*.contoso.com", []string{"*.contoso.com"}, day(2025, 1, 1), day(2026, 1, 1), fx.ca)
		fx.old1 = g("CN=old.contoso.com", nil, day(2020, 1, 1), day(2021, 1, 1), fx.ca)
		fx.old2 = g("CN=old.contoso.com", nil, day(2021, 1, 1), day(2022, 1, 1), fx.ca)
		fx.tieShort = g("CN=tie.contoso.com", nil, day(2025, 1, 1), day(2026, 1, 1), fx.ca)
		fx.tieLong = g("CN=tie.contoso.com", nil, day(2025, 1, 1), day(2027, 1, 1), fx.ca)
		fx.nokey = withoutKey(g("CN=nokey.contoso.com", nil, day(2025, 1, 1), day(2026, 1, 1), fx.ca))
		fx.nokeyNewer = withoutKey(g("CN=mail.contoso.com", mailSANs, day(2025, 5, 30), day(2026, 5, 30), fx.ca))
		fx.future = g("CN=future.contoso.com", nil, day(2026, 1, 1), day(2027, 1, 1), fx.ca)
		fx.selfValid = g("CN=legacy.contoso.com", nil, day(2024, 1, 1), day(2029, 1, 1), nil)
		fx.caExpired = g("CN=legacy.contoso.com", nil, day(2024, 6, 1), day(2025, 1, 1), fx.ca)
		fx.connectorCert = g("CN=hybrid.contoso.com", []string{"hybrid.contoso.com"}, day(2025, 1, 1), day(2026, 1, 1), fx.ca)
		fx.clientShort = g("CN=smtp.contoso.com", nil, day(2025, 5, 1), day(2026, 1, 1), fx.ca)
		fx.clientLong = g("CN=smtp.contoso.com", nil, day(2025, 1, 1), day(2027, 1, 1), fx.ca)
		fx.clientFuture = g("CN=smtp.contoso.com", nil, day(2026, 1, 1), day(2030, 1, 1), fx.ca)
	})
	if fx.ca == nil {
		t.Fatal("fixture generation failed earlier")
	}
	return &fx
}

func TestSelect(t *testing.T) {
	f := loadFixture(t)
	mailName := f.mail.Name()
	tests := []struct {
		name        string
		store       []*Certificate
		req         Request
		want        *Certificate
		pinned      bool
		expired     bool
		warns       []string // substrings of Warning; none = no warning
		sought      string
		nCandidates int
	}{
		{name: "pinned matches issuer and subject", store: []*Certificate{f.mailOtherCA, f.mail, f.server1},
			req: Request{CertificateName: mailName, ServerFQDN: "SERVER1"}, want: f.mail, pinned: true, sought: mailName, nCandidates: 1},
		{name: "pinned case-insensitive markers and spacing", store: []*Certificate{f.mailOtherCA, f.mail},
			req:  Request{CertificateName: "<i> cn=CONTOSO CA,o=contoso,c=us <s> cn=Mail.Contoso.com"},
			want: f.mail, pinned: true, nCandidates: 1},
		{name: "pinned picks up the renewal", store: []*Certificate{f.mail, f.mailRenewed, f.mailOtherCA, f.mailSelf},
			req: Request{CertificateName: mailName}, want: f.mailRenewed, pinned: true, nCandidates: 2},
		{name: "pinned ignores a newer match without key", store: []*Certificate{f.mail, f.nokeyNewer},
			req: Request{CertificateName: mailName}, want: f.mail, pinned: true, nCandidates: 1},
		{name: "pinned no match", store: []*Certificate{f.mail, f.server1},
			req:    Request{CertificateName: "<I>CN=Nobody CA<S>CN=mail.contoso.com", ConnectorFQDN: "mail.contoso.com", Connector: "Default Frontend SERVER1"},
			pinned: true, sought: "<I>CN=Nobody CA<S>CN=mail.contoso.com",
			warns: []string{"could not find a certificate that contains the domain name <I>CN=Nobody CA<S>CN=mail.contoso.com", "connector Default Frontend SERVER1 with a FQDN parameter of mail.contoso.com", "12014"}},
		{name: "pinned only keyless match", store: []*Certificate{f.nokeyNewer},
			req: Request{CertificateName: mailName}, pinned: true, warns: []string{"12014", "has no private key", f.nokeyNewer.Thumbprint}},
		{name: "pinned invalid value", store: []*Certificate{f.mail},
			req: Request{CertificateName: "CN=mail.contoso.com", Connector: "C1"}, pinned: true, warns: []string{"tls_certificate_name of connector C1 is not valid", "<I>issuer<S>subject"}},
		{name: "connector fqdn", store: []*Certificate{f.server1, f.connectorCert},
			req: Request{ConnectorFQDN: "hybrid.contoso.com", ServerFQDN: "server1.contoso.local"}, want: f.connectorCert, sought: "hybrid.contoso.com", nCandidates: 1},
		{name: "server fqdn when connector has none", store: []*Certificate{f.server1, f.connectorCert},
			req: Request{ServerFQDN: "server1.contoso.local"}, want: f.server1, sought: "server1.contoso.local", nCandidates: 1},
		{name: "connector fqdn without match does not fall back", store: []*Certificate{f.server1},
			req:    Request{ConnectorFQDN: "mail.contoso.com", ServerFQDN: "server1.contoso.local", Connector: "Default Frontend SERVER1"},
			sought: "mail.contoso.com",
			warns:  []string{"Could not find a certificate that contains the domain name mail.contoso.com in the personal store on the local computer. Therefore, it is unable to support the STARTTLS SMTP verb for the connector Default Frontend SERVER1 with a FQDN parameter of mail.contoso.com"}},
		{name: "CN match", store: []*Certificate{f.old1, f.tieShort},
			req: Request{ConnectorFQDN: "tie.contoso.com"}, want: f.tieShort, nCandidates: 1},
		{name: "SAN match", store: []*Certificate{f.server1, f.sanOnly},
			req: Request{ConnectorFQDN: "hybrid.contoso.com"}, want: f.sanOnly, nCandidates: 1},
		{name: "wildcard", store: []*Certificate{f.server1, f.wildcard},
			req: Request{ConnectorFQDN: "smtp.contoso.com"}, want: f.wildcard, nCandidates: 1},
		{name: "wildcard does not cover the apex", store: []*Certificate{f.wildcard},
			req: Request{ConnectorFQDN: "contoso.com"}, warns: []string{"12014"}},
		{name: "newest NotBefore wins", store: []*Certificate{f.mail, f.mailRenewed},
			req: Request{ConnectorFQDN: "mail.contoso.com"}, want: f.mailRenewed, nCandidates: 2},
		{name: "same NotBefore: latest NotAfter wins", store: []*Certificate{f.tieShort, f.tieLong},
			req: Request{ConnectorFQDN: "tie.contoso.com"}, want: f.tieLong, nCandidates: 2},
		{name: "CA-issued before newer self-signed", store: []*Certificate{f.mailSelf, f.mail},
			req: Request{ConnectorFQDN: "mail.contoso.com"}, want: f.mail, nCandidates: 2},
		{name: "valid self-signed before newer expired CA-issued", store: []*Certificate{f.caExpired, f.selfValid},
			req: Request{ConnectorFQDN: "legacy.contoso.com"}, want: f.selfValid, nCandidates: 2},
		{name: "all expired: newest used with warning", store: []*Certificate{f.old1, f.old2},
			req: Request{ConnectorFQDN: "old.contoso.com", Connector: "Default Frontend SERVER1"}, want: f.old2, expired: true, nCandidates: 2,
			warns: []string{"12016", "has expired", f.old2.Thumbprint, "There is no valid SMTP Transport Layer Security (TLS) certificate for the FQDN of old.contoso.com"}},
		{name: "not yet valid: used with warning", store: []*Certificate{f.future},
			req: Request{ConnectorFQDN: "future.contoso.com"}, want: f.future, nCandidates: 1, warns: []string{"not valid before 2026-01-01"}},
		{name: "no private key is ineligible", store: []*Certificate{f.nokey},
			req: Request{ConnectorFQDN: "nokey.contoso.com"}, warns: []string{"12014", "has no private key"}},
		{name: "no name at all", store: []*Certificate{f.mail},
			req: Request{}, warns: []string{"no name to look for"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Now = now
			sel := NewStore(tt.store...).Select(tt.req)
			checkSelection(t, sel, tt.want, tt.pinned, tt.expired, tt.warns)
			if tt.sought != "" && sel.Sought != tt.sought {
				t.Errorf("Sought = %q, want %q", sel.Sought, tt.sought)
			}
			if tt.want != nil && len(sel.Candidates) != tt.nCandidates {
				t.Errorf("%d candidates, want %d", len(sel.Candidates), tt.nCandidates)
			}
		})
	}
}

func checkSelection(t *testing.T, sel Selection, want *Certificate, pinned, expired bool, warns []string) {
	t.Helper()
	if sel.Cert != want {
		got, exp := "nil", "nil"
		if sel.Cert != nil {
			got = sel.Cert.Subject + " " + sel.Cert.Leaf.NotBefore.Format("2006-01-02")
		}
		if want != nil {
			exp = want.Subject + " " + want.Leaf.NotBefore.Format("2006-01-02")
		}
		t.Errorf("chose %s, want %s (warning %q)", got, exp, sel.Warning)
	}
	if sel.Pinned != pinned {
		t.Errorf("Pinned = %v, want %v", sel.Pinned, pinned)
	}
	if sel.Expired != expired {
		t.Errorf("Expired = %v, want %v", sel.Expired, expired)
	}
	if len(warns) == 0 && sel.Warning != "" {
		t.Errorf("unexpected warning %q", sel.Warning)
	}
	for _, w := range warns {
		if !strings.Contains(strings.ToLower(sel.Warning), strings.ToLower(w)) {
			t.Errorf("warning %q does not contain %q", sel.Warning, w)
		}
	}
}

func TestSelectDoesNotReorderStore(t *testing.T) {
	f := loadFixture(t)
	s := NewStore(f.mail, f.mailRenewed)
	s.Select(Request{ConnectorFQDN: "mail.contoso.com", Now: now})
	if s.All()[0] != f.mail {
		t.Error("Select reordered the store")
	}
}

func TestSelectClient(t *testing.T) {
	f := loadFixture(t)
	tests := []struct {
		name    string
		store   []*Certificate
		req     Request
		want    *Certificate
		pinned  bool
		expired bool
		warns   []string
	}{
		{name: "pinned", store: []*Certificate{f.mailOtherCA, f.mail}, req: Request{CertificateName: f.mail.Name()}, want: f.mail, pinned: true},
		{name: "pinned renewal", store: []*Certificate{f.mail, f.mailRenewed}, req: Request{CertificateName: f.mail.Name()}, want: f.mailRenewed, pinned: true},
		{name: "pinned not found", store: []*Certificate{f.mail}, req: Request{CertificateName: "<I>CN=Nobody<S>CN=x"}, pinned: true,
			warns: []string{"454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found."}},
		{name: "pinned without key", store: []*Certificate{f.nokey}, req: Request{CertificateName: f.nokey.Name()}, pinned: true,
			warns: []string{"TLS negotiation failed with error NoCredentials"}},
		{name: "connector fqdn", store: []*Certificate{f.server1, f.connectorCert},
			req: Request{ConnectorFQDN: "hybrid.contoso.com", ServerFQDN: "server1.contoso.local"}, want: f.connectorCert},
		{name: "falls back to server fqdn", store: []*Certificate{f.server1},
			req: Request{ConnectorFQDN: "hybrid.contoso.com", ServerFQDN: "server1.contoso.local"}, want: f.server1},
		{name: "valid first, then longest lifetime", store: []*Certificate{f.clientShort, f.clientLong, f.clientFuture},
			req: Request{ConnectorFQDN: "smtp.contoso.com"}, want: f.clientLong},
		{name: "expired only", store: []*Certificate{f.old1, f.old2}, req: Request{ConnectorFQDN: "old.contoso.com"}, want: f.old2, expired: true,
			warns: []string{"expired"}},
		{name: "nothing", store: []*Certificate{f.server1}, req: Request{ConnectorFQDN: "x.contoso.com", ServerFQDN: "y.contoso.com", Connector: "Outbound"},
			warns: []string{"x.contoso.com or y.contoso.com", "send connector Outbound presents no client certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Now = now
			sel := NewStore(tt.store...).SelectClient(tt.req)
			checkSelection(t, sel, tt.want, tt.pinned, tt.expired, tt.warns)
		})
	}
}

func TestFindThumbprint(t *testing.T) {
	f := loadFixture(t)
	s := NewStore(f.mail, f.server1)
	tp := f.server1.Thumbprint
	var spaced, coloned []string
	for i := 0; i < len(tp); i += 2 {
		spaced = append(spaced, tp[i:i+2])
		coloned = append(coloned, strings.ToLower(tp[i:i+2]))
	}
	for _, q := range []string{tp, strings.ToLower(tp), strings.Join(spaced, " "), strings.Join(coloned, ":"), "\u200e" + tp} {
		if got := s.FindThumbprint(q); got != f.server1 {
			t.Errorf("FindThumbprint(%q) = %v, want SERVER1", q, got)
		}
	}
	for _, q := range []string{"", tp[:39], tp + "0", "Z" + tp[1:], f.nokey.Thumbprint} {
		if got := s.FindThumbprint(q); got != nil {
			t.Errorf("FindThumbprint(%q) = %s, want nil", q, got.Subject)
		}
	}
}
