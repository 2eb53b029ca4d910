package certs

import (
	"fmt"
	"strings"
)

// Version names the Exchange Server release whose certificate selection
// rules a Request follows. The zero value is mailflow's own behaviour, which
// is that of Exchange 2013 and later.
//
// The rules differ in one place that matters for hybrid mail flow
// (Microsoft, "Selection of Inbound STARTTLS Certificates", Exchange 2010,
// learn.microsoft.com/previous-versions/office/exchange-server-2010/bb430748(v=exchg.141);
// "Inbound STARTTLS certificate selection",
// learn.microsoft.com/exchange/mail-flow/mail-routing/inbound-starttls-certificates-selection;
// the Set-ReceiveConnector and New-SendConnector references, whose
// TlsCertificateName parameter is documented for Exchange 2013, 2016, 2019
// and SE only):
//
//   - Exchange 2010 receive and send connectors have no TlsCertificateName.
//     The certificate is found by name: the connector's FQDN, else the
//     server's FQDN, in the CN or a SAN of a certificate with a private key
//     that is enabled for SMTP (every certificate of a mailflow store is).
//     Among several, a valid CA-issued ("PKI") certificate beats a
//     self-signed one, and the longest validity (latest NotAfter, then the
//     newest NotBefore) wins — the tie-break Microsoft's Exchange team gives
//     in "TLS Certificates in Exchange Hybrid – Common Issues & How to Fix
//     them" (2025). Setting the connector FQDN to a name on the wanted
//     certificate is how a 2010 administrator chooses it.
//   - Exchange 2013 and later look for TlsCertificateName ("<I>issuer<S>
//     subject") first and fall back to the FQDN rules when it is null; among
//     several matches the newest NotBefore wins, then the latest NotAfter,
//     a valid CA-issued one before a valid self-signed one (Select).
type Version string

// Exchange Server versions accepted by ParseVersion.
const (
	VersionMailflow Version = ""
	Exchange2010    Version = "2010"
	Exchange2013    Version = "2013"
	Exchange2016    Version = "2016"
	Exchange2019    Version = "2019"
	ExchangeSE      Version = "se"
)

// Versions lists the accepted values of --exchange-version.
var Versions = []Version{Exchange2010, Exchange2013, Exchange2016, Exchange2019, ExchangeSE}

// ParseVersion reads "2010", "2013", "2016", "2019" or "se" (also "SE",
// "Exchange 2016", "Subscription Edition"); "" is mailflow's own behaviour.
func ParseVersion(s string) (Version, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimPrefix(strings.TrimPrefix(t, "exchange"), " server")
	t = strings.TrimSpace(strings.TrimPrefix(t, "server"))
	switch t {
	case "":
		return VersionMailflow, nil
	case "2010", "14", "2010 sp3":
		return Exchange2010, nil
	case "2013", "15", "15.0":
		return Exchange2013, nil
	case "2016", "15.1":
		return Exchange2016, nil
	case "2019", "15.2":
		return Exchange2019, nil
	case "se", "subscription edition":
		return ExchangeSE, nil
	}
	return "", fmt.Errorf("unknown Exchange version %q: use 2010, 2013, 2016, 2019 or se", s)
}

// String is the product name, "Exchange Server 2010", or "mailflow (as
// Exchange 2013 and later)" for the zero value.
func (v Version) String() string {
	switch v {
	case VersionMailflow:
		return "mailflow (as Exchange 2013 and later)"
	case ExchangeSE:
		return "Exchange Server SE"
	}
	return "Exchange Server " + string(v)
}

// HasCertificateName reports whether connectors of this version have a
// TlsCertificateName parameter (receive and send connectors alike).
func (v Version) HasCertificateName() bool { return v != Exchange2010 }

// DailyProtocolLogs reports whether the version names its protocol logs
// by day (RECVyyyymmdd-n.LOG, Exchange 2010) rather than by hour
// (RECVyyyymmddhh-n.LOG, Exchange 2013 and later).
func (v Version) DailyProtocolLogs() bool { return v == Exchange2010 }

// ignoredPinNote explains a TlsCertificateName a 2010 prediction ignores.
func ignoredPinNote(v Version, name, fqdn string) string {
	return fmt.Sprintf("%s has no TlsCertificateName: the value %s is ignored and the certificate is chosen by the name %s",
		v, name, fqdn)
}
