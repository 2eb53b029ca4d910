package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"text/template"

	"github.com/mailflowhq/mailflow/internal/labpki"
)

// The lab's organisations. The tenant plays Exchange Online for contoso
// (its routing domain is contoso.mail.onmicrosoft.com); on-premises plays
// contoso's Exchange server SERVER1.
const (
	onpremDomain = "contoso.com"
	tenantDomain = "contoso.mail.onmicrosoft.com"
	onpremFQDN   = "server1.contoso.local"
	hybridFQDN   = "mail.contoso.com" // the public name the cloud expects (TlsDomain)
	cloudName    = "mail.protection.outlook.com"
	tenantFQDN   = "contoso-com.mail.protection.outlook.com"

	clientSource = "127.0.0.1" // the lab's own SMTP client (a user's mail program)
	tenantSource = "127.0.0.2" // the tenant sends from here (like the cloud's IP ranges)
	onpremSource = "127.0.0.3" // on-premises sends to the tenant from here

	onpremUser = "onprem.user@" + onpremDomain
	cloudUser  = "cloud.user@" + tenantDomain

	defaultFrontend   = "Default Frontend SERVER1"
	hybridConnector   = "Inbound from Office 365"
	onpremRelay       = "Client relay SERVER1"
	onpremToCloud     = "Outbound to Office 365"
	tenantFrontend    = "Default Frontend TENANT"
	tenantRelay       = "Client relay TENANT"
	tenantFromOnprem  = "Inbound from contoso"
	tenantToOnprem    = "Outbound to contoso"
	onpremServerName  = "SERVER1"
	clientFrontend    = "Client Frontend SERVER1"
	onpremRelayCloud  = "Outbound to Office 365 (relay)"
	tenantFromOnpremC = "Inbound from contoso (certificate)"
	tenantToInternet  = "Outbound to the internet"
	defaultFrontendID = onpremServerName + `\` + defaultFrontend
	hybridConnectorID = onpremServerName + `\` + hybridConnector
)

// ports are the loopback ports of one world (a tenant and an on-premises
// server). They are chosen free before the configurations are written.
type ports struct {
	Onprem, OnpremRelay, OnpremAdmin int
	Tenant, TenantAdmin              int
	// OnpremSubmit is Client Frontend (scenario 3); Nowhere is a port
	// nothing listens on, the tenant's "internet" smart host.
	OnpremSubmit, Nowhere int
}

// configData feeds the configuration templates. Paths are relative to the
// configuration file, as every path in a mailflow configuration is.
type configData struct {
	Scenario string
	Hybrid   bool // scenario 2: the hybrid pieces (relay, mutual TLS connectors)
	Devices  bool // scenario 3: Client Frontend, relay to the tenant, attribution by certificate
	P        ports

	CAFile, Server1File, ContosoPFX, ContosoPass, TenantFile string

	TenantPin, ContosoPin string // <I>…<S>… of the tenant's and contoso's certificates

	// Scenario 3: the lab ACME CA's trust file (both servers) and an acme:
	// certificate for mail.contoso.com on-premises.
	ExtraCAFile, ACMEDirectory, ACMEListen string

	OnpremDomain, TenantDomain, OnpremFQDN, HybridFQDN, CloudName, TenantFQDN string
	TenantSource, OnpremSource, ClientSource                                  string
	DefaultFrontend, OnpremRelay, OnpremToCloud                               string
	TenantFrontend, TenantRelay, TenantFromOnprem, TenantToOnprem             string
	ClientFrontend, OnpremRelayCloud, TenantFromOnpremC, TenantToInternet     string

	// Scenario 4 (DANE): Default Frontend answers as the MX host
	// (FrontendFQDN) with a pinned certificate, and the tenant resolves
	// through DNSResolver, trusting its AD bit, and delivers by MX.
	DANE         bool
	DNSResolver  string
	FrontendFQDN string
	FrontendPin  string
}

var configFuncs = template.FuncMap{"q": strconv.Quote}

// onpremTemplate is contoso's on-premises server at the start of a
// scenario: Default Frontend with no pinned certificate (so the
// self-signed CN=SERVER1 certificate, found by the connector FQDN, is
// presented), as the 450 4.7.320 SubjectMismatch report (scenario 1)
// found it.
var onpremTemplate = template.Must(template.New("onprem").Funcs(configFuncs).Parse(`# mailflow lab, {{.Scenario}}: contoso's on-premises Exchange-style server.
# Written by mailflow lab; paths are relative to this file.
server:
  name: SERVER1
  fqdn: {{.OnpremFQDN}}
  data_dir: ./onprem-data
accepted_domains: [{{.OnpremDomain}}]
trust:
  ca_files: [{{q .CAFile}}{{if .ExtraCAFile}}, {{q .ExtraCAFile}}{{end}}]
  system_roots: false          # the lab trusts its own CA only
certificates:
  - file: {{q .Server1File}}     # self-signed CN=SERVER1, like New-ExchangeCertificate's default
  - file: {{q .ContosoPFX}}      # CA-issued CN=mail.contoso.com: installed, but not pinned anywhere
    password_file: {{q .ContosoPass}}
{{- if .ACMEDirectory}}
  - acme:                        # mail.contoso.com from the lab's ACME CA, obtained and renewed by mailflow
      domains: [{{.HybridFQDN}}]
      directory: {{q .ACMEDirectory}}
      challenge: tls-alpn-01
      challenge_listen: {{q .ACMEListen}}
{{- end}}
receive_connectors:
  - name: {{.DefaultFrontend}}
    bindings: ["127.0.0.1:{{.P.Onprem}}"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    fqdn: {{.FrontendFQDN}}
{{- if .FrontendPin}}
    tls_certificate_name: {{q .FrontendPin}}
{{- end}}
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    protocol_logging_level: Verbose
{{- if .Hybrid}}
  # Mail from local applications to the cloud (Exchange's "relay connector").
  - name: {{.OnpremRelay}}
    bindings: ["127.0.0.1:{{.P.OnpremRelay}}"]
    remote_ip_ranges: ["{{.ClientSource}}/32"]
    fqdn: {{.OnpremFQDN}}
    auth_mechanism: [Tls, ExternalAuthoritative]
    permission_groups: [ExchangeServers]
    protocol_logging_level: Verbose
send_connectors:
  # As the hybrid wizard creates it: DomainValidation of the cloud's name,
  # presenting contoso's public certificate (mutual TLS).
  - name: {{.OnpremToCloud}}
    address_spaces: [{{.TenantDomain}}]
    smart_hosts: ["127.0.0.1:{{.P.Tenant}}"]
    source_ip: {{.OnpremSource}}
    fqdn: {{.HybridFQDN}}
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: {{.CloudName}}
    tls_certificate_name: {{q .ContosoPin}}
    protocol_logging_level: Verbose
{{- end}}
{{- if .Devices}}
  # Devices and applications: AUTH only after STARTTLS, ExchangeUsers
  # relay to any recipient after AUTH (Exchange's Client Frontend).
  - name: {{.ClientFrontend}}
    bindings: ["127.0.0.1:{{.P.OnpremSubmit}}"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    fqdn: {{.OnpremFQDN}}
    auth_mechanism: [Tls, BasicAuth, BasicAuthRequireTLS]
    permission_groups: [ExchangeUsers]
    protocol_logging_level: Verbose
send_connectors:
  # Everything not local goes out through the tenant (centralised mail
  # transport), presenting contoso's certificate so the tenant's OnPremises
  # inbound connector attributes the connection to the organisation.
  - name: {{.OnpremRelayCloud}}
    address_spaces: ["*"]
    smart_hosts: ["127.0.0.1:{{.P.Tenant}}"]
    source_ip: {{.OnpremSource}}
    fqdn: {{.HybridFQDN}}
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: {{.CloudName}}
    tls_certificate_name: {{q .ContosoPin}}
    protocol_logging_level: Verbose
{{- end}}
queue:
  retry_intervals: [1h]        # nothing retries on its own: the lab retries like an admin (Retry-Queue)
admin:
  listen: 127.0.0.1:{{.P.OnpremAdmin}}
{{- if .DNSResolver}}
dns:
  resolvers: [{{q .DNSResolver}}]   # the lab's DNS: the renewal guard compares a new key with contoso's TLSA records
  dnssec: trust_ad
{{- end}}
`))

// tenantTemplate is the cloud tenant: a relay connector for the lab's
// client, and the outbound connector to on-premises with DomainValidation
// of mail.contoso.com, sending from 127.0.0.2.
var tenantTemplate = template.Must(template.New("tenant").Funcs(configFuncs).Parse(`# mailflow lab, {{.Scenario}}: the cloud tenant (playing Exchange Online for contoso).
# Written by mailflow lab; paths are relative to this file.
server:
  name: TENANT
  fqdn: {{.TenantFQDN}}
  data_dir: ./tenant-data
accepted_domains: [{{.TenantDomain}}]
trust:
  ca_files: [{{q .CAFile}}{{if .ExtraCAFile}}, {{q .ExtraCAFile}}{{end}}]
  system_roots: false
certificates:
  - file: {{q .TenantFile}}      # CN=mail.protection.outlook.com, issued by the lab CA
receive_connectors:
  - name: {{.TenantFrontend}}
    bindings: ["127.0.0.1:{{.P.Tenant}}"]
    remote_ip_ranges: ["0.0.0.0-255.255.255.255"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    protocol_logging_level: Verbose
  # The lab's client submits here; Exchange's relay connector recipe:
  # ExternalAuthoritative + ExchangeServers, scoped to one address.
  - name: {{.TenantRelay}}
    bindings: ["127.0.0.1:{{.P.Tenant}}"]
    remote_ip_ranges: ["{{.ClientSource}}/32"]
    auth_mechanism: [Tls, ExternalAuthoritative]
    permission_groups: [ExchangeServers]
    protocol_logging_level: Verbose
{{- if .Hybrid}}
  # Like the inbound connector from on-premises: mutual TLS, contoso's
  # certificate required.
  - name: {{.TenantFromOnprem}}
    bindings: ["127.0.0.1:{{.P.Tenant}}"]
    remote_ip_ranges: ["{{.OnpremSource}}/32"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers, Partners]
    require_tls: true
    domain_secure_enabled: true
    tls_sender_certificate_name: {{.HybridFQDN}}
    protocol_logging_level: Verbose
{{- end}}
{{- if .Devices}}
  # Exchange Online's inbound connector from on-premises (ConnectorType
  # OnPremises): a client certificate holding mail.contoso.com attributes
  # the connection to the tenant, which then relays to any recipient.
  - name: {{.TenantFromOnpremC}}
    bindings: ["127.0.0.1:{{.P.Tenant}}"]
    remote_ip_ranges: ["{{.OnpremSource}}/32"]
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    connector_type: OnPremises
    require_tls: true
    tls_sender_certificate_name: {{.HybridFQDN}}
    protocol_logging_level: Verbose
{{- end}}
send_connectors:
{{- if .DANE}}
  # Exchange Online delivering to contoso's MX: TLSA records that are
  # DNSSEC-authentic decide how the certificate is judged (DANE).
  - name: {{.TenantToOnprem}}
    address_spaces: [{{.OnpremDomain}}]
    port: {{.P.Onprem}}           # the lab's MX listens here instead of 25
    source_ip: {{.TenantSource}}
    require_tls: true
    dane: opportunistic
    protocol_logging_level: Verbose
{{- else}}
  # Exchange Online's outbound connector to on-premises: TlsSettings
  # DomainValidation, TlsDomain mail.contoso.com.
  - name: {{.TenantToOnprem}}
    address_spaces: [{{.OnpremDomain}}]
    smart_hosts: ["127.0.0.1:{{.P.Onprem}}"]
    source_ip: {{.TenantSource}}
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: {{.HybridFQDN}}
    tls_certificate_name: {{q .TenantPin}}
    protocol_logging_level: Verbose
{{- end}}
{{- if .Devices}}
  # The internet, played by a port nothing listens on: relayed mail waits
  # in the tenant's queue (the lab only checks it was accepted).
  - name: {{.TenantToInternet}}
    address_spaces: ["*"]
    smart_hosts: ["127.0.0.1:{{.P.Nowhere}}"]
{{- end}}
queue:
  retry_intervals: [1h]
admin:
  listen: 127.0.0.1:{{.P.TenantAdmin}}
{{- if .DNSResolver}}
dns:
  resolvers: [{{q .DNSResolver}}]   # the lab's DNS, playing a validating resolver
  dnssec: trust_ad
{{- end}}
`))

// writeConfigs writes onprem.yaml and tenant.yaml into dir.
func writeConfigs(dir string, d configData) (onprem, tenant string, err error) {
	onprem = filepath.Join(dir, "onprem.yaml")
	tenant = filepath.Join(dir, "tenant.yaml")
	for _, f := range []struct {
		path string
		t    *template.Template
	}{{onprem, onpremTemplate}, {tenant, tenantTemplate}} {
		var b bytes.Buffer
		if err := f.t.Execute(&b, d); err != nil {
			return "", "", fmt.Errorf("render %s: %w", f.path, err)
		}
		if err := os.WriteFile(f.path, b.Bytes(), 0o600); err != nil {
			return "", "", fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return onprem, tenant, nil
}

// newConfigData fills the names and the PKI's files relative to dir.
func newConfigData(scenario string, shape worldShape, p ports, dir string, pki *labpki.PKI) (configData, error) {
	d := configData{
		Scenario: scenario, Hybrid: shape.Hybrid, Devices: shape.Devices, P: p,
		TenantPin: pki.Tenant.Name(), ContosoPin: pki.Contoso.Name(),
		OnpremDomain: onpremDomain, TenantDomain: tenantDomain, OnpremFQDN: onpremFQDN, HybridFQDN: hybridFQDN,
		CloudName: cloudName, TenantFQDN: tenantFQDN,
		TenantSource: tenantSource, OnpremSource: onpremSource, ClientSource: clientSource,
		DefaultFrontend: defaultFrontend, OnpremRelay: onpremRelay, OnpremToCloud: onpremToCloud,
		TenantFrontend: tenantFrontend, TenantRelay: tenantRelay, TenantFromOnprem: tenantFromOnprem, TenantToOnprem: tenantToOnprem,
		ClientFrontend: clientFrontend, OnpremRelayCloud: onpremRelayCloud, TenantFromOnpremC: tenantFromOnpremC, TenantToInternet: tenantToInternet,
		FrontendFQDN: onpremFQDN,
	}
	for _, f := range []struct {
		dst *string
		abs string
	}{{&d.CAFile, pki.CAFile}, {&d.Server1File, pki.Server1File}, {&d.ContosoPFX, pki.ContosoPFX},
		{&d.ContosoPass, pki.ContosoPass}, {&d.TenantFile, pki.TenantFile}} {
		rel, err := filepath.Rel(dir, f.abs)
		if err != nil {
			return d, fmt.Errorf("certificate path %s: %w", f.abs, err)
		}
		*f.dst = filepath.ToSlash(rel)
	}
	return d, nil
}
