// Package domain owns mailflow's one model of mail domains and of the hosts
// mail is sent to: the syntax of a DNS name, the domain patterns written in
// accepted_domains and send connector address_spaces ("contoso.com",
// "*.contoso.com", "*", and Exchange's "SMTP:*.contoso.com;5" form), the
// single rule deciding whether a pattern covers a domain, and the
// host[:port] form of smart hosts and probe targets. Configuration
// validation, routing, the receive accepted-domain and relay checks, the
// sender and the probe all call this package, so they cannot disagree.
//
// # Wildcards
//
// A pattern follows Exchange's SmtpDomainWithSubdomains, the type of
// New-AcceptedDomain -DomainName and of a send connector's AddressSpaces:
// "*.contoso.com" covers contoso.com itself and every subdomain of it at any
// depth (mail.contoso.com, a.b.contoso.com), but not notcontoso.com. The
// source is Microsoft's Exchange Server 2007 documentation "Send Connectors"
// (https://technet.microsoft.com/en-us/library/aa998662(EXCHG.80).aspx),
// whose table of address space entries says "*.Contoso.com" routes "all
// recipients with e-mail addresses in the Contoso.com domain or any
// subdomain of Contoso.com" (the console's "Include all subdomains" box),
// and the help for that box ("Send Connector Properties > Address Space
// Tab", https://technet.microsoft.com/en-us/library/bb676574(v=exchg.80).aspx),
// which gives as its example that the connector then routes messages "to
// contoso.com, help.contoso.com, and mail.contoso.com". Accepted domains use
// the same type, so one rule serves accepted domains, address spaces, relay
// checks and routing. When both contoso.com and *.contoso.com match, the
// exact pattern is the more specific (see AddressSpace.Specificity).
//
// A wildcard is only allowed as the whole left-most label: "*contoso.com",
// "mail*.contoso.com" and "a.*.com" are refused, as Exchange refuses them.
// "*" alone covers every domain.
//
// # Hosts
//
// A smart host or probe target is "host", "host:port", an IP address, or an
// address literal "[192.0.2.1]" / "[IPv6:2001:db8::1]" / "[2001:db8::1]"
// with an optional ":port". An address literal names the address to connect
// to, so no DNS lookup (MX or A) is made for it.
package domain
