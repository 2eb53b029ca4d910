// Package hybrid owns the hybrid connection between an on-premises
// organisation and its cloud tenant as one thing: Plan derives, from one
// certificate choice, every setting on both sides — the mailflow connectors
// of each side, the Exchange Management Shell commands for on-premises and
// the Exchange Online PowerShell commands — so that each expectation on one
// side names what the other side presents; Check verifies an existing pair
// of configurations against each other, both ways, offline and live.
//
// The pairings (each checked in both directions):
//
//   - tenant → on-premises: the tenant's outbound connector expects, with
//     DomainValidation, its TlsDomain in the certificate the on-premises
//     receive connector presents to the tenant's source addresses; that
//     connector, domain-secure, expects TlsSenderCertificateName in the
//     client certificate the tenant presents.
//   - on-premises → tenant: the on-premises send connector expects
//     mail.protection.outlook.com from the tenant and presents its client
//     certificate, in which the tenant's inbound connector
//     (TlsSenderCertificateName) expects the on-premises name.
//
// Microsoft's Hybrid Configuration Wizard sets these from one certificate
// when it runs; a certificate changed later re-creates the mismatch by hand.
// This package plays the wizard's part offline and repeatably, and it knows
// the Exchange 2010 difference (no TlsCertificateName: the connector FQDN
// chooses the certificate, see certs.Version). Certificate choice itself is
// certs.Select's, never repeated here; live checks reuse diag/validate's connector
// validation (the sender's own connection stage and TLS check).
//
// The cmdlets and parameters it writes are those of Microsoft's cmdlet
// references (New-ReceiveConnector, Set-ReceiveConnector, New-SendConnector,
// Set-SendConnector, Enable-ExchangeCertificate, New-OutboundConnector,
// New-InboundConnector); testdata/cmdlet-parameters.txt lists the allowed
// parameters per cmdlet and version with the sources, and the tests check
// every generated command against it.
package hybrid
