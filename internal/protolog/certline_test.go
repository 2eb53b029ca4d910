package protolog_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

const oneLineContext = "Sending certificate Subject Issuer name Serial number Thumbprint Not before Not after Subject alternate names"

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseCertificateLine(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		context string
		want    protolog.CertEvent
		ok      bool
	}{
		{
			name:    "self-signed, ISO dates",
			data:    " CN=SRV CN=SRV 12DEABC6565646512346ABDC13456894 0123456789ABCDEF0123456789ABCDEF01234567 2020-01-17T15:15:33.000Z 2025-01-17T15:15:33.000Z SRV;SRV.DOMAIN.TEST",
			context: oneLineContext,
			want: protolog.CertEvent{
				Event: "Sending certificate", Subject: "CN=SRV", Issuer: "CN=SRV",
				Serial: "12DEABC6565646512346ABDC13456894", Thumbprint: "0123456789ABCDEF0123456789ABCDEF01234567",
				NotBefore: date("2020-01-17T15:15:33Z"), NotAfter: date("2025-01-17T15:15:33Z"),
				SANs: []string{"SRV", "SRV.DOMAIN.TEST"},
			},
			ok: true,
		},
		{
			name: "DN strings with spaces and commas",
			data: " CN=mail.contoso.com, O=Contoso Ltd, L=Redmond, S=Washington, C=US CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US " +
				"0C8EE1A7F7D3F1B5A52E8E2F0F1F5D6E 5A1E7B0C9D2F3A4B5C6D7E8F9A0B1C2D3E4F5A6B 2022-11-02T00:00:00.000Z 2023-11-02T23:59:59.000Z mail.contoso.com;autodiscover.contoso.com",
			context: oneLineContext,
			want: protolog.CertEvent{
				Event:      "Sending certificate",
				Subject:    "CN=mail.contoso.com, O=Contoso Ltd, L=Redmond, S=Washington, C=US",
				Issuer:     "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US",
				Serial:     "0C8EE1A7F7D3F1B5A52E8E2F0F1F5D6E",
				Thumbprint: "5A1E7B0C9D2F3A4B5C6D7E8F9A0B1C2D3E4F5A6B",
				NotBefore:  date("2022-11-02T00:00:00Z"), NotAfter: date("2023-11-02T23:59:59Z"),
				SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"},
			},
			ok: true,
		},
		{
			name: "quoted issuer value with comma and spaces, no SANs",
			data: ` CN=mail.contoso.com CN=Go mommy Secure Certificate Authority - G2, OU=http://certs.gomommy.com/repository/, O="Gomommy.com, Inc.", L=Scottsdale, S=Arizona, C=US ` +
				"00A1B2 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 2019-01-01T00:00:00.000Z 2021-01-01T00:00:00.000Z",
			context: "Remote certificate Subject Issuer name Serial number Thumbprint Not before Not after Subject alternate names",
			want: protolog.CertEvent{
				Event:      "Remote certificate",
				Subject:    "CN=mail.contoso.com",
				Issuer:     `CN=Go mommy Secure Certificate Authority - G2, OU=http://certs.gomommy.com/repository/, O="Gomommy.com, Inc.", L=Scottsdale, S=Arizona, C=US`,
				Serial:     "00A1B2",
				Thumbprint: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
				NotBefore:  date("2019-01-01T00:00:00Z"), NotAfter: date("2021-01-01T00:00:00Z"),
			},
			ok: true,
		},
		{
			name:    "subject with spaces, issuer without CN, US dates",
			data:    " CN=Microsoft Exchange Server Auth Certificate OU=Lab, O=Contoso 1F 0123456789abcdef0123456789abcdef01234567 1/17/2020 3:15:33 PM 1/17/2025 3:15:33 PM ex1.contoso.com",
			context: oneLineContext,
			want: protolog.CertEvent{
				Event: "Sending certificate", Subject: "CN=Microsoft Exchange Server Auth Certificate", Issuer: "OU=Lab, O=Contoso",
				Serial: "1F", Thumbprint: "0123456789abcdef0123456789abcdef01234567",
				NotBefore: date("2020-01-17T15:15:33Z"), NotAfter: date("2025-01-17T15:15:33Z"),
				SANs: []string{"ex1.contoso.com"},
			},
			ok: true,
		},
		{
			name:    "anonymised 41-digit thumbprint falls back to position",
			data:    " CN=SERVER1 CN=SERVER1 1234567890ABCDEF1234567890ABCDEF 9876534210FEDCBA9876534210FEDCBA123456789 2017-01-01T00:00:00.000Z 2022-01-01T00:00:00.000Z SERVER1;",
			context: oneLineContext,
			want: protolog.CertEvent{
				Event: "Sending certificate", Subject: "CN=SERVER1", Issuer: "CN=SERVER1",
				Serial: "1234567890ABCDEF1234567890ABCDEF", Thumbprint: "9876534210FEDCBA9876534210FEDCBA123456789",
				NotBefore: date("2017-01-01T00:00:00Z"), NotAfter: date("2022-01-01T00:00:00Z"),
				SANs: []string{"SERVER1"},
			},
			ok: true,
		},
		{name: "older per-field line", data: "CN=SERVER1", context: "Certificate subject"},
		{name: "marker but no thumbprint", data: " CN=a CN=b", context: oneLineContext},
		{name: "empty", data: "", context: oneLineContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &protolog.Record{DateTime: "2023-01-11T15:59:56.232Z", SessionID: "S", Event: '*', Data: tc.data, Context: tc.context}
			got, ok := protolog.ParseCertificateLine(rec)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, got)
			}
			if !ok {
				return
			}
			tc.want.DateTime, tc.want.SessionID, tc.want.OneLine = rec.DateTime, "S", true
			if !certEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func certEqual(a, b protolog.CertEvent) bool {
	return a.DateTime == b.DateTime && a.ConnectorID == b.ConnectorID && a.SessionID == b.SessionID &&
		a.Local == b.Local && a.Remote == b.Remote && a.Event == b.Event && a.Subject == b.Subject &&
		a.Issuer == b.Issuer && a.Serial == b.Serial && a.Thumbprint == b.Thumbprint &&
		a.NotBefore.Equal(b.NotBefore) && a.NotAfter.Equal(b.NotAfter) && slices.Equal(a.SANs, b.SANs) &&
		a.OneLine == b.OneLine
}

func TestParseCertificateLineRequiresInfoEvent(t *testing.T) {
	rec := &protolog.Record{Event: '>', Data: " CN=a CN=a 01 0123456789ABCDEF0123456789ABCDEF01234567", Context: oneLineContext}
	if _, ok := protolog.ParseCertificateLine(rec); ok {
		t.Fatal("accepted a '>' line")
	}
}

// certsFromFile runs a fixture through SessionCerts.
func certsFromFile(t *testing.T, path string) []protolog.CertEvent {
	t.Helper()
	recs, _ := readAll(t, path)
	acc := protolog.NewSessionCerts()
	var out []protolog.CertEvent
	for i := range recs {
		out = acc.Add(out, &recs[i])
	}
	return acc.Flush(out)
}

func TestSessionCertsSubjectMismatch(t *testing.T) {
	got := certsFromFile(t, "testdata/subjectmismatch_recv.LOG")
	want := protolog.CertEvent{
		DateTime: "2017-04-14T17:00:41.125Z", ConnectorID: `SERVER1\Default Frontend SERVER1`, SessionID: "08D479E14521204D",
		Local: "172.20.102.10:25", Remote: "155.39.36.248:30648", Event: "Sending certificate",
		Subject: "CN=SERVER1", Issuer: "CN=SERVER1", Serial: "1234567890ABCDEF1234567890ABCDEF",
		Thumbprint: "9876534210FEDCBA9876534210FEDCBA123456789", SANs: []string{"SERVER1"},
	}
	if len(got) != 1 || !certEqual(got[0], want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestSessionCertsExchange2019(t *testing.T) {
	got := certsFromFile(t, "testdata/exchange2019_recv.LOG")
	if len(got) != 1 || !got[0].OneLine || got[0].Subject != "CN=mail.contoso.com, O=Contoso Ltd, L=Redmond, S=Washington, C=US" ||
		got[0].SessionID != "123453EC62278461" || got[0].Remote != "95.10.20.33:56026" {
		t.Fatalf("got %+v", got)
	}
}

func TestSessionCertsBlockEnds(t *testing.T) {
	line := func(session string, ev byte, data, ctx string) *protolog.Record {
		return &protolog.Record{DateTime: "2017-04-14T17:00:41.125Z", ConnectorID: "c", SessionID: session, Event: ev, Data: data, Context: ctx}
	}
	acc := protolog.NewSessionCerts()
	var out []protolog.CertEvent
	// A Received-certificate block (thumbprint only) ends at the session's
	// next line of another kind.
	out = acc.Add(out, line("A", '*', "", "Received certificate"))
	out = acc.Add(out, line("A", '*', "4C0FA622D0D66E777AA123B1AF123456F001AE23", "Certificate thumbprint"))
	out = acc.Add(out, line("B", '<', "EHLO other", "")) // other session: no effect
	if len(out) != 0 {
		t.Fatalf("emitted early: %+v", out)
	}
	out = acc.Add(out, line("A", '<', "EHLO x", ""))
	if len(out) != 1 || out[0].Event != "Received certificate" || out[0].Thumbprint != "4C0FA622D0D66E777AA123B1AF123456F001AE23" {
		t.Fatalf("got %+v", out)
	}
	// A new block in the same session closes the previous one.
	out = acc.Add(out[:0], line("A", '*', "", "Remote certificate"))
	out = acc.Add(out, line("A", '*', "CN=peer", "Certificate subject"))
	out = acc.Add(out, line("A", '*', "", "Sending certificate"))
	if len(out) != 1 || out[0].Event != "Remote certificate" || out[0].Subject != "CN=peer" {
		t.Fatalf("got %+v", out)
	}
	// Input ends mid-block: Flush returns it.
	out = acc.Add(out[:0], line("A", '*', "CN=me", "Certificate subject"))
	out = acc.Flush(out)
	if len(out) != 1 || out[0].Event != "Sending certificate" || out[0].Subject != "CN=me" {
		t.Fatalf("got %+v", out)
	}
	if out = acc.Flush(out[:0]); len(out) != 0 {
		t.Fatalf("second Flush returned %+v", out)
	}
	// Lines that merely mention certificates do not start a block.
	for _, ctx := range []string{"Client certificate chain validation status: 'EmptyCertificate'", "Certificate subject", "TLS negotiation failed with error NoCredentials"} {
		out = acc.Add(out[:0], line("C", '*', "", ctx))
		if out = acc.Flush(out); len(out) != 0 {
			t.Errorf("context %q started a block: %+v", ctx, out)
		}
	}
}

func TestCertificateWriteReadRoundTrip(t *testing.T) {
	clk := testkit.NewClock(t0)
	w, dir := newWriter(t, protolog.Send, clk, nil)
	s := w.Session("Outbound to Office 365", "10.0.0.5:50123", "40.107.22.33:25")
	sans := []string{"mail.protection.outlook.com", "*.mail.protection.outlook.com", "*.mail.eo.outlook.com"}
	subject := "CN=mail.protection.outlook.com, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
	issuer := "CN=DigiCert Cloud Services CA-1, O=DigiCert Inc, C=US"
	s.Certificate("Remote certificate", subject, issuer, "0F3C", "AB12AB12AB12AB12AB12AB12AB12AB12AB12AB12", sans)
	s.Sent("EHLO mail.contoso.com")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := certsFromFile(t, filepath.Join(dir, testkit.FileNames(t, dir)[0]))
	if len(got) != 1 {
		t.Fatalf("got %+v", got)
	}
	c := got[0]
	if c.Event != "Remote certificate" || c.Subject != subject || c.Issuer != issuer || c.Serial != "0F3C" ||
		c.Thumbprint != "AB12AB12AB12AB12AB12AB12AB12AB12AB12AB12" || !slices.Equal(c.SANs, sans) || c.SessionID != s.ID() {
		t.Fatalf("got %+v", c)
	}
}
