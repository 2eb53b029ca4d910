package explain

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The -update flag refreshes golden files. Other test files of this package
// may define the same flag; whoever registers first wins and the rest read it.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const (
	subjectMismatchTraceReason = `Reason: [{LED=450 4.7.320 Certificate validation failed};{MSG=SubjectMismatch};{};{IP=1.2.3.4};{LRT=4/14/2017 1:07:17 PM}]. OutboundProxyTargetIP: 1.2.3.4. OutboundProxyTargetHostName:`
	subjectMismatchDetail      = `{LED=450 4.7.320 Certificate validation failed [Message=SubjectMismatch Expected Subject: mail.contoso.com. Presented Subject: CN=SERVER1. Thumbprint: 9876534210FEDCBA9876534210FEDCBA12345678] [LastAttemptedServerName=mail.contoso.com] [LastAttemptedIP=1.2.3.4:25]};{MSG=SubjectMismatch};{FQDN=mail.contoso.com};{IP=1.2.3.4};{LRT=11/1/2017 12:12:45 PM}`
	event12014                 = "Log Name: Application\nSource: MSExchangeFrontEndTransport\nEvent ID: 12014\nDescription:\nMicrosoft Exchange could not find a certificate that contains the domain name mail.contoso.com in the personal store on the local computer. " +
		"Therefore, it is unable to support the STARTTLS SMTP verb for the connector Default Frontend SERVER1 with a FQDN parameter of mail.contoso.com. If the connector's FQDN is not specified, " +
		"the computer's FQDN is used. Verify the connector configuration and the installed certificates to make sure that there is a certificate with a domain name for that FQDN."
	event12014Pinned = "Microsoft Exchange could not find a certificate that contains the domain name <I>CN=GeoTrust TLS DV RSA Mixed SHA256 2020 CA-1, O=DigiCert Inc, C=US<S>CN=mail.contoso.ca in the personal store on the local computer. " +
		"Therefore, it is unable to support the STARTTLS SMTP verb for the connector Default Frontend EX1 with a FQDN parameter of <I>CN=GeoTrust TLS DV RSA Mixed SHA256 2020 CA-1, O=DigiCert Inc, C=US<S>CN=mail.contoso.ca. If the connector's FQDN is not specified, the computer's FQDN is used."
	event12016 = "Event ID: 12016\nThere is no valid SMTP Transport Layer Security (TLS) certificate for the FQDN of mail.contoso.com. The existing certificate for that FQDN has expired. " +
		"The continued use of that FQDN will cause mail flow problems."
)

// certLED builds an Exchange Online LED string for a validation reason.
func certLED(reason string) string {
	return `[{LRT=5/2/2025 9:14:03 AM};{LED=450 4.7.320 Certificate validation failed [Message=` + reason + `] [LastAttemptedServerName=mail.fabrikam.com] [LastAttemptedIP=203.0.113.7:25]};{MSG=` + reason + `};{FQDN=mail.fabrikam.com};{IP=203.0.113.7}]`
}

type explainCase struct {
	name     string
	input    string
	topic    string
	code     string
	enhanced string
	reason   string
	fields   map[string]string
	// mention must appear in the fix (the expected name when present).
	mention   string
	transient bool
}

var explainCases = []explainCase{
	{name: "trace reason", input: subjectMismatchTraceReason, topic: "cert.SubjectMismatch", code: "450", enhanced: "4.7.320", reason: "SubjectMismatch",
		fields: map[string]string{"IP": "1.2.3.4", "LRT": "4/14/2017 1:07:17 PM", "OutboundProxyTargetIP": "1.2.3.4"}, mention: "TlsCertificateName", transient: true},
	{name: "mailflow detail", input: subjectMismatchDetail, topic: "cert.SubjectMismatch", code: "450", enhanced: "4.7.320", reason: "SubjectMismatch",
		fields: map[string]string{"ExpectedSubject": "mail.contoso.com", "PresentedSubject": "CN=SERVER1", "Thumbprint": "9876534210FEDCBA9876534210FEDCBA12345678",
			"LastAttemptedServerName": "mail.contoso.com", "LastAttemptedIP": "1.2.3.4:25", "FQDN": "mail.contoso.com", "IP": "1.2.3.4"},
		mention: "The server presented CN=SERVER1 but the sender expects mail.contoso.com", transient: true},
	{name: "2025 mismatch under 4.4.317 with wildcard", topic: "cert.SubjectMismatch", code: "450", enhanced: "4.4.317", reason: "SubjectMismatch",
		input:   `{[{LRT=};{LED=450 4.4.317 Cannot connect to remote server [Message=SubjectMismatch Expected Subject: *.contoso.com. Presented Subject: CN=ExchangeServer01. Thumbprint: 0A1B2C] [LastAttemptedServerName=mail.contoso.com] [LastAttemptedIP=1.2.3.4:25] [BN8NAM11FT012.eop-nam11.prod.protection.outlook.com]};{FQDN=mail.contoso.com};{IP=1.2.3.4}]}`,
		fields:  map[string]string{"ExpectedSubject": "*.contoso.com", "PresentedSubject": "CN=ExchangeServer01", "Thumbprint": "0A1B2C", "Server": "BN8NAM11FT012.eop-nam11.prod.protection.outlook.com"},
		mention: "*.contoso.com", transient: true},
	{name: "CertificateExpired", input: certLED("CertificateExpired"), topic: "cert.CertificateExpired", code: "450", enhanced: "4.7.320", reason: "CertificateExpired",
		fields: map[string]string{"FQDN": "mail.fabrikam.com", "LastAttemptedIP": "203.0.113.7:25"}, mention: "mail.fabrikam.com", transient: true},
	{name: "CertificateNotYetValid", input: certLED("CertificateNotYetValid"), topic: "cert.CertificateNotYetValid", code: "450", enhanced: "4.7.320", reason: "CertificateNotYetValid", mention: "mail.fabrikam.com", transient: true},
	{name: "UntrustedRoot", input: certLED("UntrustedRoot"), topic: "cert.UntrustedRoot", code: "450", enhanced: "4.7.320", reason: "UntrustedRoot", mention: "mail.fabrikam.com", transient: true},
	{name: "IncompleteChain", input: certLED("IncompleteChain"), topic: "cert.IncompleteChain", code: "450", enhanced: "4.7.320", reason: "IncompleteChain", mention: "intermediate", transient: true},
	{name: "WeakKey", input: certLED("WeakKey"), topic: "cert.WeakKey", code: "450", enhanced: "4.7.320", reason: "WeakKey", mention: "mail.fabrikam.com", transient: true},
	{name: "WeakSignature", input: certLED("WeakSignature"), topic: "cert.WeakSignature", code: "450", enhanced: "4.7.320", reason: "WeakSignature", mention: "mail.fabrikam.com", transient: true},
	{name: "NoCertificate", input: certLED("NoCertificate"), topic: "cert.NoCertificate", code: "450", enhanced: "4.7.320", reason: "NoCertificate", mention: "mail.fabrikam.com", transient: true},
	{name: "4.7.320 without reason", input: "450 4.7.320 Certificate validation failed", topic: "smtp.4.7.320", code: "450", enhanced: "4.7.320", mention: "mailflow probe", transient: true},
	{name: "queue LastError 4.7.0", topic: "smtp.4.7.0.security", code: "450", enhanced: "4.7.0",
		input:  `[{LRT=3/3/2024 10:00:00 AM};{LED=450 4.7.0 Temporary server error. Please try again later. PRX4};{FQDN=contoso-com.mail.protection.outlook.com};{IP=52.101.0.1}]`,
		fields: map[string]string{"FQDN": "contoso-com.mail.protection.outlook.com", "IP": "52.101.0.1", "LRT": "3/3/2024 10:00:00 AM"}, mention: "mailflow explain", transient: true},
	{name: "nested proxy and failover wrappers", topic: "send.4.7.5.TlsCertificateName", code: "454", enhanced: "4.7.5",
		input:  `[{LRT=};{LED=450 4.7.0 Proxy session setup failed on Frontend with '451 4.4.0 Primary target IP address responded with: "454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found." Attempted failover to alternate host, but that did not succeed.'};{FQDN=contoso.mail.protection.outlook.com};{IP=40.92.1.1}]`,
		fields: map[string]string{"Wrapper": "450 4.7.0", "PrimaryResponse": "454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found."}, mention: "Set-SendConnector", transient: true},
	{name: "failover with unknown inner reply", topic: explainWrapperTopic, code: "451", enhanced: "4.4.0",
		input:  `451 4.4.0 Primary target IP address responded with: "421 4.2.1 Unable to connect." Attempted failover to alternate host, but that did not succeed. Either there are no alternate hosts, or delivery failed to all alternate hosts. The last endpoint attempted was 40.92.1.1:25`,
		fields: map[string]string{"PrimaryResponse": "421 4.2.1 Unable to connect.", "LastEndpoint": "40.92.1.1:25", "Wrapper": "451 4.4.0"}, mention: "TlsCertificateName", transient: true},
	{name: "failover quoting STARTTLS required, CSV-doubled quotes", topic: "smtp.5.7.3.starttls-required", code: "451", enhanced: "5.7.3",
		input:  `"451 4.4.0 Primary target IP address responded with: ""451 5.7.3 STARTTLS is required to send mail."" Attempted failover to alternate host, but that did not succeed."`,
		fields: map[string]string{"Wrapper": "451 4.4.0"}, mention: "AuthMechanism Tls", transient: true},
	{name: "STARTTLS required", input: "451 5.7.3 STARTTLS is required to send mail", topic: "smtp.5.7.3.starttls-required", code: "451", enhanced: "5.7.3", mention: "TlsCertificateName", transient: true},
	{name: "must issue STARTTLS", input: "530 5.7.0 Must issue a STARTTLS command first", topic: "smtp.5.7.0.must-starttls", code: "530", enhanced: "5.7.0", mention: "RequireTLS"},
	{name: "AUTH failed", input: "535 5.7.8 Authentication unsuccessful", topic: "auth.5.7.8.failed", code: "535", enhanced: "5.7.8", mention: "mailflow user passwd"},
	{name: "AUTH locked out", input: "454 4.7.0 Temporary authentication failure", topic: "auth.4.7.0.locked-out", code: "454", enhanced: "4.7.0", mention: "auth_lockout", transient: true},
	{name: "SendAs", input: "550 5.7.60 SMTP; Client does not have permissions to send as this sender", topic: "auth.5.7.60.SendAs", code: "550", enhanced: "5.7.60", mention: "--send-as"},
	{name: "user message rate", input: "452 4.5.3 Message rate limit exceeded for this user (30 messages per minute); try again later", topic: "auth.4.5.3.rate", code: "452", enhanced: "4.5.3", mention: "user_message_rate", transient: true},
	{name: "AUTH needs encryption", input: "538 5.7.11 Encryption required for requested authentication mechanism", topic: "auth.5.7.11.encryption-required", code: "538", enhanced: "5.7.11", mention: "certificate"},
	{name: "TenantAttribution", input: "550 5.7.64 TenantAttribution; Relay Access Denied", topic: "eop.5.7.64.TenantAttribution", code: "550", enhanced: "5.7.64", mention: "TlsSenderCertificateName"},
	{name: "TenantInboundAttribution", input: "550 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain.", topic: "eop.5.7.51.TenantInboundAttribution", code: "550", enhanced: "5.7.51", mention: "SenderIPAddresses"},
	{name: "send connector certificate not found", input: "454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found.", topic: "send.4.7.5.TlsCertificateName", code: "454", enhanced: "4.7.5", mention: "<I>$($c.Issuer)<S>$($c.Subject)", transient: true},
	{name: "relay non-accepted domain", input: "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain", topic: "smtp.5.7.54.relay", code: "550", enhanced: "5.7.54", mention: "AcceptCloudServicesMail"},
	{name: "NoCredentials in a send log line", topic: "tls.NoCredentials",
		input:  "2017-02-28T10:00:00.000Z,Outbound to Office 365,08D35EF6C7E9B7F2,5,10.0.0.5:41023,104.47.0.1:25,*,,TLS negotiation failed with error NoCredentials",
		fields: map[string]string{"TLSError": "NoCredentials"}, mention: "private key", transient: true},
	{name: "UnknownCredentials", input: "TLS negotiation failed with error UnknownCredentials", topic: "tls.UnknownCredentials", fields: map[string]string{"TLSError": "UnknownCredentials"}, mention: "Microsoft RSA SChannel Cryptographic Provider", transient: true},
	{name: "event 12014", input: event12014, topic: "event.12014",
		fields:  map[string]string{"EventID": "12014", "CertificateDomain": "mail.contoso.com", "Connector": "Default Frontend SERVER1", "ConnectorFQDN": "mail.contoso.com"},
		mention: "mail.contoso.com"},
	{name: "event 12014 with pinned name", input: event12014Pinned, topic: "event.12014",
		fields:  map[string]string{"EventID": "12014", "Connector": "Default Frontend EX1", "CertificateDomain": "<I>CN=GeoTrust TLS DV RSA Mixed SHA256 2020 CA-1, O=DigiCert Inc, C=US<S>CN=mail.contoso.ca"},
		mention: `Set-ReceiveConnector "Default Frontend EX1"`},
	{name: "event 12016", input: event12016, topic: "event.12016", fields: map[string]string{"EventID": "12016", "ConnectorFQDN": "mail.contoso.com"}, mention: "mail.contoso.com"},
	{name: "4.4.312", input: `[{LRT=};{LED=450 4.4.312 DNS query failed};{FQDN=mail.contoso.com};{IP=}]`, topic: "smtp.4.4.312", code: "450", enhanced: "4.4.312", fields: map[string]string{"FQDN": "mail.contoso.com"}, mention: "mail.contoso.com", transient: true},
	{name: "4.4.315", input: `{LED=450 4.4.315 Connection timed out};{FQDN=mail.contoso.com};{IP=198.51.100.20}`, topic: "smtp.4.4.315", code: "450", enhanced: "4.4.315", fields: map[string]string{"IP": "198.51.100.20"}, mention: "198.51.100.20", transient: true},
	{name: "4.4.316", input: "4.4.316 Connection refused [Message=Socket error code 10061]", topic: "smtp.4.4.316", enhanced: "4.4.316", fields: map[string]string{"Message": "Socket error code 10061"}, mention: "mailflow probe", transient: true},
	{name: "4.4.317", input: `{LED=450 4.4.317 Cannot connect to remote server};{FQDN=mail.contoso.com};{IP=198.51.100.20}`, topic: "smtp.4.4.317", code: "450", enhanced: "4.4.317", mention: "mail.contoso.com", transient: true},
	{name: "4.4.318", input: "450 4.4.318 Connection was closed abruptly", topic: "smtp.4.4.318", code: "450", enhanced: "4.4.318", mention: "inspection", transient: true},
	{name: "DANE 4.7.321", input: "451 4.7.321 starttls-not-supported: Destination mail server must support TLS to receive mail.", topic: "dane.4.7.321", code: "451", enhanced: "4.7.321", mention: "TLSA", transient: true},
	{name: "DANE 5.7.322", input: `{LED=550 5.7.322 certificate-expired: Destination mail server's certificate is expired.};{FQDN=mx1.fabrikam.com}`, topic: "dane.4.7.322", code: "550", enhanced: "5.7.322", mention: "mx1.fabrikam.com"},
	{name: "DANE 4.7.323", input: `{LED=450 4.7.323 tlsa-invalid: The domain failed DANE validation.};{FQDN=mx1.fabrikam.com}`, topic: "dane.4.7.323", code: "450", enhanced: "4.7.323", mention: "_25._tcp.mx1.fabrikam.com", transient: true},
	{name: "DANE 5.7.324", input: "5.7.324 dnssec-invalid: Destination domain returned invalid DNSSEC records", topic: "dane.4.7.324", enhanced: "5.7.324", mention: "DS"},
	{name: "DANE 4.7.325", input: `{LED=450 4.7.325 certificate-host-mismatch: Remote certificate MUST have a common name or subject alternative name matching the hostname (DANE)};{FQDN=mx1.fabrikam.com}`, topic: "dane.4.7.325", code: "450", enhanced: "4.7.325", mention: "mx1.fabrikam.com", transient: true},
	{name: "MTA-STS certificate", input: `{LED=451 4.7.5 Remote certificate failed MTA-STS validation. Reason: certificate-host-mismatch};{FQDN=mx1.fabrikam.com}`, topic: "mtasts.4.7.5", code: "451", enhanced: "4.7.5",
		fields: map[string]string{"MTASTSReason": "certificate-host-mismatch"}, mention: "mx1.fabrikam.com", transient: true},
	{name: "MTA-STS MX hosts", input: "550 5.4.8 MX hosts of 'fabrikam.com' failed MTA-STS validation.", topic: "mtasts.4.4.8", code: "550", enhanced: "5.4.8", fields: map[string]string{"Domain": "fabrikam.com"}, mention: "fabrikam.com"},
	{name: "mailflow MTA-STS MX refusal", input: `{LED=450 4.7.5 MX host not allowed by the domain's MTA-STS policy [Message=mx.strict.test is not among the mx patterns (mx.other.test) of the MTA-STS policy of strict.test (id 1, mode enforce).]};{MSG=MtaStsMxMismatch};{FQDN=mx.strict.test}`,
		topic: "mtasts.mx", code: "450", enhanced: "4.7.5", reason: "MtaStsMxMismatch", mention: "mailflow probe --mx strict.test", transient: true},
	{name: "REQUIRETLS returned", input: "550 5.7.30 REQUIRETLS support required", topic: "requiretls.5.7.30", code: "550", enhanced: "5.7.30", mention: "REQUIRETLS"},
	{name: "QUEUE.Expired NDR", input: "Remote Server returned '< #4.4.7 smtp;550 4.4.7 QUEUE.Expired; message expired>'", topic: "smtp.4.4.7.expired", code: "550", enhanced: "4.4.7", mention: "mailflow explain"},
	{name: "unable to route", input: "550 5.4.4 ROUTING.NoNextHop; unable to route", topic: "smtp.5.4.4.route", code: "550", enhanced: "5.4.4", mention: "AddressSpaces"},
	{name: "insufficient resources", input: "452 4.3.1 Insufficient system resources", topic: "smtp.4.3.1.resources", code: "452", enhanced: "4.3.1", mention: "disk", transient: true},
	{name: "service not available", input: "421 4.3.2 Service not available, closing transmission channel", topic: "smtp.4.3.2.unavailable", code: "421", enhanced: "4.3.2", mention: "max_connections_per_ip", transient: true},
	{name: "not authenticated", input: "530 5.7.1 Client was not authenticated", topic: "smtp.5.7.1.not-authenticated", code: "530", enhanced: "5.7.1", mention: "AnonymousUsers"},
	{name: "unable to relay 5.7.1", input: "550 5.7.1 Unable to relay", topic: "smtp.5.7.1.relay", code: "550", enhanced: "5.7.1", mention: "anonymous_relay"},
	{name: "delivery not authorized", input: "550 5.7.1 Delivery not authorized, message refused", topic: "smtp.5.7.1.refused", code: "550", enhanced: "5.7.1", mention: "Get-TransportRule"},
	{name: "bare line feeds", input: "550 5.6.11 SMTPSEND.BareLinefeedsAreIllegal; message contains bare linefeeds, which cannot be sent via DATA and receiving system does not support BDAT", topic: "smtp.5.6.11.bare-lf", code: "550", enhanced: "5.6.11", mention: "CRLF"},
	{name: "cryptographic failure", input: "454 4.7.5 Cryptographic failure", topic: "smtp.4.7.5.crypto", code: "454", enhanced: "4.7.5", mention: "TlsCertificateName", transient: true},
	{name: "reason word alone", input: "CertificateExpired", topic: "cert.CertificateExpired", reason: "CertificateExpired", mention: "Renew", transient: true},
}

func TestExplainTable(t *testing.T) {
	for _, tc := range explainCases {
		t.Run(tc.name, func(t *testing.T) {
			e := Text(tc.input)
			if !e.Recognised {
				t.Fatalf("not recognised: %+v", e)
			}
			if e.Topic != tc.topic {
				t.Errorf("Topic = %q, want %q", e.Topic, tc.topic)
			}
			if e.Code != tc.code || e.Enhanced != tc.enhanced {
				t.Errorf("Code, Enhanced = %q, %q; want %q, %q", e.Code, e.Enhanced, tc.code, tc.enhanced)
			}
			if e.Reason != tc.reason {
				t.Errorf("Reason = %q, want %q", e.Reason, tc.reason)
			}
			for k, want := range tc.fields {
				if got := e.Fields[k]; got != want {
					t.Errorf("Fields[%s] = %q, want %q", k, got, want)
				}
			}
			if e.Title == "" || e.Cause == "" || len(e.Fix) == 0 || len(e.Evidence) == 0 {
				t.Errorf("incomplete explanation: title %q, cause %q, %d fix, %d evidence", e.Title, e.Cause, len(e.Fix), len(e.Evidence))
			}
			if e.Transient != tc.transient {
				t.Errorf("Transient = %v, want %v", e.Transient, tc.transient)
			}
			fix := strings.Join(e.Fix, "\n")
			if tc.mention != "" && !strings.Contains(fix, tc.mention) {
				t.Errorf("fix does not mention %q:\n%s", tc.mention, fix)
			}
			// When the input names the expected host, the fix must use it
			// instead of a placeholder.
			if name := e.Fields["ExpectedSubject"]; name != "" && !strings.Contains(fix, name) {
				t.Errorf("fix does not name the expected subject %q:\n%s", name, fix)
			}
		})
	}
}

func TestExplainCoversEveryTopic(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range explainCases {
		covered[tc.topic] = true
	}
	for _, entry := range explainTable {
		if !covered[entry.topic] {
			t.Errorf("no table case exercises topic %s", entry.topic)
		}
	}
}

func TestExplainUnrecognised(t *testing.T) {
	tests := []struct {
		name, input      string
		code, enhanced   string
		causeHas         []string
		transient        bool
		wantFieldsParsed bool
	}{
		{name: "free text", input: "the mail is slow today", causeHas: []string{"does not know", "Hint:"}},
		{name: "unknown code", input: "550 5.1.1 User unknown", code: "550", enhanced: "5.1.1", causeHas: []string{"550 5.1.1", "addressing", "permanent"}},
		{name: "unknown transient", input: "451 4.1.8 Bad sender's system address", code: "451", enhanced: "4.1.8", causeHas: []string{"temporary", "addressing"}, transient: true},
		{name: "fields without code", input: "{FQDN=mail.contoso.com};{IP=1.2.3.4}", causeHas: []string{"FQDN, IP"}, wantFieldsParsed: true},
		{name: "empty", input: "", causeHas: []string{"does not know"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := Text(tc.input)
			if e.Recognised {
				t.Fatalf("recognised %q as %s", tc.input, e.Topic)
			}
			if e.Title != "Not recognised" || e.Topic != "" || len(e.Fix) != 0 {
				t.Errorf("unexpected title/topic/fix: %q %q %v", e.Title, e.Topic, e.Fix)
			}
			if e.Code != tc.code || e.Enhanced != tc.enhanced {
				t.Errorf("Code, Enhanced = %q, %q; want %q, %q", e.Code, e.Enhanced, tc.code, tc.enhanced)
			}
			for _, s := range tc.causeHas {
				if !strings.Contains(e.Cause, s) {
					t.Errorf("cause %q lacks %q", e.Cause, s)
				}
			}
			if tc.wantFieldsParsed && len(e.Fields) == 0 {
				t.Errorf("no fields parsed")
			}
			if e.Transient != tc.transient {
				t.Errorf("Transient = %v, want %v", e.Transient, tc.transient)
			}
		})
	}
}

func TestFindStatus(t *testing.T) {
	tests := []struct{ in, code, enhanced, text string }{
		{"450 4.7.320 Certificate validation failed", "450", "4.7.320", "Certificate validation failed"},
		{"#5.7.1 smtp;530 5.7.1 Client was not authenticated> #SMTP#", "530", "5.7.1", "Client was not authenticated"},
		{"4.4.316 Connection refused", "", "4.4.316", "Connection refused"},
		{"550-5.7.1 Unable to relay", "550", "5.7.1", "Unable to relay"},
		{"connected to 10.4.7.5 on port 25", "", "", ""},
		{"IP=1.2.3.4 version 15.0.0.0", "", "", ""},
		{"4.7.3201 is not a code", "", "", ""},
		{"421 Service not available", "421", "", "Service not available"},
		{"status 5.7.64.", "", "5.7.64", ""},
	}
	for _, tc := range tests {
		got := findStatus(tc.in)
		if got.code != tc.code || got.enhanced != tc.enhanced || got.text != tc.text {
			t.Errorf("findStatus(%q) = %+v, want code %q enhanced %q text %q", tc.in, got, tc.code, tc.enhanced, tc.text)
		}
	}
}

func TestScanBraceFields(t *testing.T) {
	in := `{[{LRT=};{led=450 4.7.320 x [Message=a {b}] [k=v]};{FQDN=m.example};{};{IP=192.0.2.1}]}`
	got := map[string]string{}
	scanBraceFields(in, got)
	want := map[string]string{"LED": "450 4.7.320 x [Message=a {b}] [k=v]", "FQDN": "m.example", "IP": "192.0.2.1"}
	if len(got) != len(want) {
		t.Fatalf("fields = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestExplainJSON(t *testing.T) {
	e := Text(subjectMismatchDetail)
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back Explanation
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Topic != e.Topic || back.Fields["ExpectedSubject"] != "mail.contoso.com" || len(back.Fix) != len(e.Fix) {
		t.Errorf("round trip lost data: %s", b)
	}
	for _, key := range []string{`"recognised":true`, `"enhanced":"4.7.320"`, `"see_also":`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
}

// TestExplainGolden pins the text report. Refresh with go test -run Golden -update.
func TestExplainGolden(t *testing.T) {
	tests := []struct{ file, input string }{
		{"subject_mismatch_trace_reason.golden", subjectMismatchTraceReason},
		{"mailflow_detail.golden", subjectMismatchDetail},
		{"unrecognised.golden", "550 5.1.1 User unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Text(tc.input).WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if updateGolden() {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("report differs from %s (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, buf.Bytes(), want)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteTextError(t *testing.T) {
	if err := Text(subjectMismatchTraceReason).WriteText(failWriter{}); err == nil {
		t.Fatal("WriteText ignored a write error")
	}
}
