package diag

import (
	"fmt"
	"testing"
)

func TestScratch(t *testing.T) {
	for _, s := range []string{
		`[{LRT=4/14/2017 1:07:17 PM};{LED=450 4.7.0 Proxy session setup failed on Frontend with '451 4.4.0 Primary target IP address responded with: "454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found." Attempted failover to alternate host, but that did not succeed.'};{FQDN=contoso.mail.protection.outlook.com};{IP=40.92.1.1}]`,
		`{[{LRT=};{LED=450 4.4.317 Cannot connect to remote server [Message=SubjectMismatch Expected Subject: *.contoso.com. Presented Subject: CN=ExchangeServer01. Thumbprint: AB12] [LastAttemptedServerName=mail.contoso.com] [LastAttemptedIP=1.2.3.4:25] [BN8NAM11FT012.eop-nam11.prod.protection.outlook.com]};{FQDN=mail.contoso.com};{IP=1.2.3.4}]}`,
		`451 5.7.3 STARTTLS is required to send mail`,
		`550 5.7.64 TenantAttribution; Relay Access Denied`,
		`550 5.7.51 TenantInboundAttribution; There is a partner connector configured`,
		`454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found.`,
		`550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain`,
		`2017-04-14T17:00:41.125Z,Outbound to Office 365,08D479E14521204D,7,,,*,,TLS negotiation failed with error NoCredentials`,
		`TLS negotiation failed with error UnknownCredentials`,
		"Microsoft Exchange could not find a certificate that contains the domain name mail.contoso.com in the personal store on the local computer. Therefore, it is unable to support the STARTTLS SMTP verb for the connector Default Frontend SERVER1 with a FQDN parameter of mail.contoso.com. If the connector's FQDN is not specified, the computer's FQDN is used.",
		"Event ID: 12016\nThere is no valid SMTP Transport Layer Security (TLS) certificate for the FQDN of mail.contoso.com. The existing certificate for that FQDN has expired.",
		`450 4.4.312 DNS query failed`, `450 4.4.315 Connection timed out`, `4.4.316 Connection refused [Message=Socket error code 10061]`, `450 4.4.317 Cannot connect to remote server`, `450 4.4.318 Connection was closed abruptly`,
		`4.7.321 starttls-not-supported: Destination mail server must support TLS to receive mail.`, `5.7.325 certificate-host-mismatch: Remote certificate MUST have a common name`,
		`451 4.7.5 Remote certificate failed MTA-STS validation. Reason: certificate-host-mismatch`,
		`550 5.4.8 MX hosts of 'contoso.com' failed MTA-STS validation.`,
		`550 4.4.7 QUEUE.Expired; message expired`, `550 5.4.4 ROUTING.NoNextHop; unable to route`, `452 4.3.1 Insufficient system resources`, `421 4.3.2 Service not available, closing transmission channel`,
		`530 5.7.1 Client was not authenticated`, `550 5.7.1 Unable to relay`, `550 5.6.11 SMTPSEND.BareLinefeedsAreIllegal; message contains bare linefeeds, which cannot be sent via DATA`,
		`Remote Server returned '< #4.4.7 smtp;550 4.4.7 QUEUE.Expired; message expired>'`,
		`530 5.7.0 Must issue a STARTTLS command first`,
		`CertificateExpired`,
	} {
		e := Explain(s)
		fmt.Printf("%-40s rec=%v code=%q enh=%q reason=%q text=%q tr=%v\n   fields=%v\n", e.Topic, e.Recognised, e.Code, e.Enhanced, e.Reason, e.Text, e.Transient, e.Fields)
	}
}
