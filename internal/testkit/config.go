package testkit

import "fmt"

// LabOnPrem is the head of an on-premises configuration written in the
// directory where labpki.New wrote its certificates (under certs/): server
// SERVER1 (server1.contoso.local) for contoso.com, trusting the lab CA
// only, with the self-signed CN=SERVER1 certificate and the CA-issued
// mail.contoso.com PFX. Tests append their admin section and connectors.
const LabOnPrem = `server:
  name: SERVER1
  fqdn: server1.contoso.local
  data_dir: ./data
accepted_domains: [contoso.com]
trust:
  ca_files: [certs/lab-ca.pem]
  system_roots: false
certificates:
  - file: certs/server1-selfsigned.pem
  - file: certs/mail-contoso.pfx
    password_file: certs/mail-contoso.pass
`

// DefaultFrontend is a receive_connectors section holding SERVER1's
// Default Frontend on 127.0.0.1:port for 127.0.0.0/8: STARTTLS (auth Tls)
// for anonymous senders, presenting the certificate named pin. Keys
// appended right after it belong to this connector.
func DefaultFrontend(port int, pin string) string {
	return fmt.Sprintf(`receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
    fqdn: server1.contoso.local
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
    tls_certificate_name: "%s"
`, port, pin)
}
