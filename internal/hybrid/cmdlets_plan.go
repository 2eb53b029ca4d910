package hybrid

import (
	"fmt"
	"strings"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
)

// onPremCmdlets writes the Exchange Management Shell side of a plan.
func onPremCmdlets(in Input, p *Plan, fqdn, tenantDomain, tenantHost string, bindings, ranges []string) []Cmdlet {
	v := in.Version
	c := in.Certificate
	server := in.OnPrem.Server.Name
	modern := v.HasCertificateName()
	var out []Cmdlet
	add := func(comment, name string, params ...Param) {
		out = append(out, Cmdlet{Name: name, Params: params, Comment: comment, Shell: ShellOnPrem})
	}

	add(fmt.Sprintf("The certificate both sides agree on (%s, SANs %s) must be enabled for SMTP.\nIt asks whether to replace the default SMTP certificate: answering No is enough, the connectors below find this one themselves.", c.Subject, strings.Join(c.SANs, ", ")),
		"Enable-ExchangeCertificate", param("Thumbprint", psString(c.Thumbprint)), param("Services", "SMTP"), param("Server", psString(server)))

	recvID := server + `\` + OnPremReceiveName
	if !hasReceive(in, OnPremReceiveName) {
		ps := []Param{param("Name", psString(OnPremReceiveName)), param("Server", psString(server)), param("Usage", "Custom"),
			param("Bindings", psList(bindings)), param("RemoteIPRanges", psList(ranges))}
		if modern {
			ps = append(ps, param("TransportRole", "FrontendTransport"))
		}
		add("A receive connector for the tenant, chosen by the tenant's source addresses (Exchange Online's published ranges).", "New-ReceiveConnector", ps...)
	}
	rp := []Param{param("Identity", psString(recvID)), param("RemoteIPRanges", psList(ranges)), param("Fqdn", psString(fqdn))}
	comment := fmt.Sprintf("Present the certificate to the tenant (its outbound connector expects %s) and require the tenant's certificate (%s).", fqdn, CloudName)
	if modern {
		rp = append(rp, param("TlsCertificateName", psString(c.Name())))
		rp = append(rp, param("TlsDomainCapabilities", psString(CloudName+":AcceptCloudServicesMail")))
	} else {
		comment += fmt.Sprintf("\n%s has no -TlsCertificateName: -Fqdn %s selects the certificate by name; with this store that is %s.",
			v, fqdn, describeShort(in.Store.Select(certs.Request{ConnectorFQDN: fqdn, Now: in.Now, Version: v}).Cert))
		rp = append(rp, param("TlsDomainCapabilities", psString(CloudName+":AcceptOorgProtocol")))
	}
	rp = append(rp, param("AuthMechanism", "Tls"), param("PermissionGroups", "AnonymousUsers,Partners"),
		param("RequireTLS", psBool(true)), param("DomainSecureEnabled", psBool(true)), param("ProtocolLoggingLevel", "Verbose"))
	add(comment, "Set-ReceiveConnector", rp...)

	sendVerb, first := "New-SendConnector", param("Name", psString(OnPremSendName))
	if hasSend(in, OnPremSendName) {
		sendVerb, first = "Set-SendConnector", param("Identity", psString(OnPremSendName))
	}
	sp := []Param{first, param("AddressSpaces", psString(tenantDomain)), param("SmartHosts", psString(hostOnly(tenantHost))),
		param("DNSRoutingEnabled", psBool(false)), param("SourceTransportServers", psString(server)), param("Fqdn", psString(fqdn)),
		param("RequireTLS", psBool(true)), param("TlsAuthLevel", "DomainValidation"), param("TlsDomain", psString(CloudName))}
	comment = fmt.Sprintf("Send cloud mail over TLS, validating %s, presenting the certificate as client certificate (the tenant's inbound connector expects %s).", CloudName, fqdn)
	if modern {
		sp = append(sp, param("TlsCertificateName", psString(c.Name())))
	} else {
		comment += fmt.Sprintf("\n%s has no -TlsCertificateName: the client certificate is the one found by -Fqdn %s.", v, fqdn)
	}
	add(comment, sendVerb, sp...)
	return out
}

// onlineCmdlets writes the Exchange Online side of a plan.
func onlineCmdlets(in Input, p *Plan, fqdn, onpremHost, label string) []Cmdlet {
	var out []Cmdlet
	add := func(comment, name string, params ...Param) {
		out = append(out, Cmdlet{Name: name, Params: params, Comment: comment, Shell: ShellOnline})
	}
	domains := lower(in.OnPrem.AcceptedDomains)
	add(fmt.Sprintf("Mail for the on-premises domains goes to %s over TLS; the certificate must hold %s (CN or SAN).", hostOnly(onpremHost), fqdn),
		"New-OutboundConnector", param("Name", psString("Outbound to "+label)), param("ConnectorType", "OnPremises"),
		param("RecipientDomains", psList(domains)), param("UseMXRecord", psBool(false)), param("SmartHosts", psString(hostOnly(onpremHost))),
		param("TlsSettings", "DomainValidation"), param("TlsDomain", psString(fqdn)))
	ip := []Param{param("Name", psString("Inbound from "+label)), param("ConnectorType", "OnPremises"), param("SenderDomains", psList(domains)),
		param("RequireTls", psBool(true)), param("TlsSenderCertificateName", psString(fqdn))}
	comment := fmt.Sprintf("Mail from on-premises must arrive over TLS with a client certificate that holds %s.", fqdn)
	keep, dropped := ipv4Only(in.OnPremIPs)
	if len(keep) > 0 {
		ip = append(ip, param("SenderIPAddresses", psList(keep)))
	}
	if len(dropped) > 0 {
		comment += fmt.Sprintf("\n-SenderIPAddresses takes IPv4 addresses and /24../32 prefixes only; left out: %s.", strings.Join(dropped, ", "))
	}
	add(comment, "New-InboundConnector", ip...)
	return out
}

func hasReceive(in Input, name string) bool { return existingReceive(in, name) != nil }

func hasSend(in Input, name string) bool { return existingSend(in, name) != nil }

// existingReceive is the on-premises receive connector of that name, nil
// when the configuration has none.
func existingReceive(in Input, name string) *config.ReceiveConnector {
	for i := range in.OnPrem.ReceiveConnectors {
		if strings.EqualFold(in.OnPrem.ReceiveConnectors[i].Name, name) {
			return &in.OnPrem.ReceiveConnectors[i]
		}
	}
	return nil
}

// existingSend is existingReceive for send connectors.
func existingSend(in Input, name string) *config.SendConnector {
	for i := range in.OnPrem.SendConnectors {
		if strings.EqualFold(in.OnPrem.SendConnectors[i].Name, name) {
			return &in.OnPrem.SendConnectors[i]
		}
	}
	return nil
}
