package config

import (
	"fmt"
	"strings"
)

// Values of receive connector auth_mechanism, as Exchange spells them.
const (
	AuthNone                  = "None"
	AuthTLS                   = "Tls"
	AuthExternalAuthoritative = "ExternalAuthoritative"
	AuthBasic                 = "BasicAuth"
	AuthBasicRequireTLS       = "BasicAuthRequireTLS"
	AuthIntegrated            = "Integrated"
	AuthExchangeServer        = "ExchangeServer"
)

// Values of receive connector permission_groups.
const (
	PermAnonymousUsers        = "AnonymousUsers"
	PermExchangeUsers         = "ExchangeUsers"
	PermExchangeServers       = "ExchangeServers"
	PermExchangeLegacyServers = "ExchangeLegacyServers"
	PermPartners              = "Partners"
	PermCustom                = "Custom"
)

// Values of receive connector connector_type (Exchange Online's inbound
// connector ConnectorType).
const (
	// ConnectorPartner: a client certificate (domain security) grants the
	// Partners group: mail to accepted domains. The default.
	ConnectorPartner = "Partner"
	// ConnectorOnPremises: the tenant's inbound connector from its own
	// on-premises servers. A client certificate holding
	// tls_sender_certificate_name attributes the session to the tenant and
	// lets it relay to any recipient; without it, mail for non-accepted
	// domains gets 550 5.7.64 TenantAttribution; Relay Access Denied.
	ConnectorOnPremises = "OnPremises"
)

// ConnectorTypes lists the accepted connector_type values.
func ConnectorTypes() []string { return []string{ConnectorPartner, ConnectorOnPremises} }

// Values of protocol_logging_level.
const (
	LoggingNone    = "None"
	LoggingVerbose = "Verbose"
)

// Values of send connector tls_auth_level.
const (
	EncryptionOnly        = "EncryptionOnly"
	CertificateValidation = "CertificateValidation"
	DomainValidation      = "DomainValidation"
)

// AuthMechanisms lists the accepted auth_mechanism values.
func AuthMechanisms() []string {
	return []string{AuthNone, AuthTLS, AuthExternalAuthoritative, AuthBasic, AuthBasicRequireTLS, AuthIntegrated, AuthExchangeServer}
}

// PermissionGroups lists the accepted permission_groups values.
func PermissionGroups() []string {
	return []string{PermAnonymousUsers, PermExchangeUsers, PermExchangeServers, PermExchangeLegacyServers, PermPartners, PermCustom}
}

// ProtocolLoggingLevels lists the accepted protocol_logging_level values.
func ProtocolLoggingLevels() []string { return []string{LoggingNone, LoggingVerbose} }

// TLSAuthLevels lists the accepted tls_auth_level values.
func TLSAuthLevels() []string {
	return []string{EncryptionOnly, CertificateValidation, DomainValidation}
}

// canonical finds v in values ignoring case (PowerShell is case-blind, and
// administrators paste from it) and returns the canonical spelling.
func canonical(v string, values []string) (string, bool) {
	for _, c := range values {
		if strings.EqualFold(strings.TrimSpace(v), c) {
			return c, true
		}
	}
	return "", false
}

// enumFix lists the accepted values, nearest first when there is one.
func enumFix(v string, values []string) string {
	list := strings.Join(values, ", ")
	if s := nearest(v, values); s != "" {
		return fmt.Sprintf("did you mean %s? Valid values: %s", s, list)
	}
	return "use one of: " + list
}

const certNameFix = `write "<I>" + the issuer + "<S>" + the subject, as Exchange builds it: "<I>$($cert.Issuer)<S>$($cert.Subject)", e.g. "<I>CN=Contoso Lab CA<S>CN=mail.contoso.com"; leave it empty to select by fqdn`
