package node

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/receive"
	"github.com/mailflowhq/mailflow/internal/route"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Runtime is one immutable, fully validated view of the configuration with
// everything it refers to loaded.
type Runtime struct {
	Cfg    *config.Config
	Store  *certs.Store
	Roots  *x509.CertPool
	Recv   *receive.Settings
	Router *route.Router
	Send   map[string]send.Connector // by lower-case name
	Sender *send.Sender              // bound to Store and Roots; set by the Server
	// DNS is the resolver of the dns section (DNSSEC status for DANE).
	DNS *dnsres.Resolver
	// Policies are the per-destination TLS policy sources besides DANE
	// (MTA-STS) and Observer receives each policy outcome (TLS-RPT); the
	// Sender gets both.
	Policies []send.PolicySource
	Observer send.PolicyObserver
	Warnings []string
}

// SenderDNS is the resolver deliveries use: the dns section's when the
// configuration names resolvers or trusts DNSSEC, else nil — the standard
// library's resolver (and its hosts file) stays in use.
func (rt *Runtime) SenderDNS() *dnsres.Resolver {
	if usesDNSSection(rt.Cfg) {
		return rt.DNS
	}
	return nil
}

// Build loads a configuration file and everything it names. Errors name the
// file, line, key and fix.
func Build(path string, now time.Time) (*Runtime, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return BuildFrom(cfg, now)
}

// BuildFrom is Build for an already parsed configuration.
func BuildFrom(cfg *config.Config, now time.Time) (*Runtime, error) {
	var errs config.Errors
	store, cerrs := LoadCertificates(cfg)
	errs = append(errs, cerrs...)
	roots, rerrs := LoadTrust(cfg)
	errs = append(errs, rerrs...)
	errs = append(errs, checkPinnedNames(cfg, store)...)
	sendConns, serrs := sendConnectors(cfg)
	errs = append(errs, serrs...)
	resolver, err := dnsres.New(cfg.DNS.ResolverConfig())
	if err != nil {
		errs = append(errs, cfg.ErrorAt("dns.resolvers", err.Error(), `write resolvers as IP addresses, e.g. ["127.0.0.1:53"]`))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	recv, warnings, err := receive.Compile(cfg, store, roots, now)
	if err != nil {
		return nil, err
	}
	var rs []route.SendConnector
	for _, sc := range cfg.SendConnectors {
		if sc.Enabled != nil && !*sc.Enabled {
			continue
		}
		rs = append(rs, route.SendConnector{Name: sc.Name, AddressSpaces: sc.AddressSpaces})
	}
	warnings = append(warnings, cfg.OpenRelayWarnings()...)
	warnings = append(warnings, cfg.BasicAuthWarnings()...)
	warnings = append(warnings, cfg.DANEWarnings()...)
	return &Runtime{
		Cfg: cfg, Store: store, Roots: roots, Recv: recv, DNS: resolver,
		Router: route.New(cfg.AcceptedDomains, rs), Send: sendConns, Warnings: warnings,
	}, nil
}

// LoadCertificates loads every certificate the configuration lists.
func LoadCertificates(cfg *config.Config) (*certs.Store, config.Errors) {
	var list []*certs.Certificate
	var errs config.Errors
	for i, ref := range cfg.Certificates {
		key := fmt.Sprintf("certificates[%d].file", i)
		keyFile, pass := "", ""
		if ref.KeyFile != "" {
			keyFile = cfg.Resolve(ref.KeyFile)
		}
		if ref.PasswordFile != "" {
			pass = cfg.Resolve(ref.PasswordFile)
		}
		if ref.ACME.Enabled() && !fileExists(cfg.Resolve(ref.File)) {
			// Not issued yet: the ACME manager obtains it at start-up and
			// applies it live; until then connectors select without it.
			continue
		}
		c, err := certs.LoadFile(cfg.Resolve(ref.File), keyFile, pass)
		if err != nil {
			errs = append(errs, cfg.ErrorAt(key, err.Error(), certFix(err, i)))
			continue
		}
		list = append(list, c)
	}
	return certs.NewStore(list...), errs
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// LoadTrust builds the pool used to validate peers: the system roots
// (unless trust.system_roots is false) plus trust.ca_files, each read by
// certs.ReadCAFile (PEM or DER, as the probe reads them).
func LoadTrust(cfg *config.Config) (*x509.CertPool, config.Errors) {
	system := cfg.Trust.SystemRoots == nil || *cfg.Trust.SystemRoots
	pool, _ := certs.TrustPool(nil, system)
	var errs config.Errors
	for i, f := range cfg.Trust.CAFiles {
		if err := certs.AppendCAFiles(pool, []string{cfg.Resolve(f)}); err != nil {
			errs = append(errs, cfg.ErrorAt(fmt.Sprintf("trust.ca_files[%d]", i), err.Error(),
				"point ca_files at a file of CA certificates: PEM (-----BEGIN CERTIFICATE-----) or one DER certificate (.cer)"))
		}
	}
	return pool, errs
}

// checkPinnedNames refuses a tls_certificate_name that matches no loaded
// certificate: Exchange would silently stop offering STARTTLS (event
// 12014); mailflow refuses the change instead and lists what would match.
func checkPinnedNames(cfg *config.Config, store *certs.Store) config.Errors {
	var errs config.Errors
	check := func(key, name, kind string) {
		if name == "" {
			return
		}
		issuer, subject, err := certs.ParseName(name)
		if err != nil {
			errs = append(errs, cfg.ErrorAt(key, err.Error(), `use "<I>issuer<S>subject" as shown by mailflow cert list`))
			return
		}
		for _, c := range store.All() {
			if c.HasPrivateKey() && certs.SameName(c.Issuer, issuer) && certs.SameName(c.Subject, subject) {
				return
			}
		}
		var names []string
		for _, c := range store.All() {
			if c.HasPrivateKey() {
				names = append(names, c.Name())
			}
		}
		fix := "add the certificate under certificates: or pin one of: " + strings.Join(names, " | ")
		if len(names) == 0 {
			fix = "add the certificate (with its private key) under certificates:"
		}
		errs = append(errs, cfg.ErrorAt(key, fmt.Sprintf("%s %q matches no loaded certificate with a private key", kind, name), fix))
	}
	for i, rc := range cfg.ReceiveConnectors {
		check(fmt.Sprintf("receive_connectors[%d].tls_certificate_name", i), rc.TLSCertificateName, "tls_certificate_name")
	}
	for i, sc := range cfg.SendConnectors {
		check(fmt.Sprintf("send_connectors[%d].tls_certificate_name", i), sc.TLSCertificateName, "tls_certificate_name")
	}
	// The admin API's certificate (used beyond loopback) is either a pin
	// or a host name; a name nothing covers would only fail when the API
	// starts, after the transport is already up.
	if name := cfg.Admin.TLSCertificateName; name != "" && cfg.AdminEnabled() {
		if certs.IsCertificateName(name) {
			check("admin.tls_certificate_name", name, "admin.tls_certificate_name")
		} else if sel := store.Select(certs.NameOrHost(name, "admin API", time.Time{})); sel.Cert == nil {
			errs = append(errs, cfg.ErrorAt("admin.tls_certificate_name",
				fmt.Sprintf("admin.tls_certificate_name %q: no loaded certificate with a private key holds that name", name),
				"add a certificate for that name under certificates:, or name one by <I>issuer<S>subject as shown by mailflow cert list"))
		}
	}
	return errs
}

func sendConnectors(cfg *config.Config) (map[string]send.Connector, config.Errors) {
	out := map[string]send.Connector{}
	var errs config.Errors
	for i, sc := range cfg.SendConnectors {
		level := tlscheck.EncryptionOnly
		if sc.TLSAuthLevel != "" {
			l, err := tlscheck.ParseLevel(sc.TLSAuthLevel)
			if err != nil {
				errs = append(errs, cfg.ErrorAt(fmt.Sprintf("send_connectors[%d].tls_auth_level", i), err.Error(),
					"use EncryptionOnly, CertificateValidation or DomainValidation"))
				continue
			}
			level = l
		}
		dane, err := send.ParseDANEMode(sc.DANE)
		if err != nil {
			errs = append(errs, cfg.ErrorAt(fmt.Sprintf("send_connectors[%d].dane", i), err.Error(), "use opportunistic, required or off"))
			continue
		}
		out[strings.ToLower(sc.Name)] = send.Connector{
			DANE: dane, MTASTS: !strings.EqualFold(sc.MTASTS, config.MTASTSOff),
			Name: sc.Name, Hosts: sc.SmartHosts, Port: sc.Port, FQDN: sc.FQDN,
			RequireTLS: sc.RequireTLS, Level: level, TLSDomain: sc.TLSDomain,
			CertificateName: sc.TLSCertificateName, SourceIP: sc.SourceIP,
			ConnectTimeout: time.Duration(sc.ConnectTimeout),
			Log:            strings.EqualFold(sc.ProtocolLoggingLevel, "Verbose"),

			MaxMessagesPerConnection: sc.MaxMessagesPerConnection,
			MaxPerHopConnections:     sc.MaxPerDomainConnections,
			IdleTimeout:              time.Duration(sc.ConnectionIdleTimeout),
		}
	}
	return out, errs
}

// certFix says how to repair a certificate entry that did not load.
func certFix(err error, i int) string {
	switch {
	case errors.Is(err, certs.ErrWrongPassword):
		return fmt.Sprintf("put the PFX password in the file named by certificates[%d].password_file (one line)", i)
	case errors.Is(err, certs.ErrNoPrivateKey):
		return fmt.Sprintf("add certificates[%d].key_file, or use a PEM/PFX that holds the private key", i)
	case errors.Is(err, certs.ErrKeyMismatch):
		return fmt.Sprintf("certificates[%d].key_file holds another certificate's key: use the key made with this certificate", i)
	case errors.Is(err, certs.ErrNoCertificate):
		return "point file at a PEM (-----BEGIN CERTIFICATE-----), DER or PFX/P12 certificate"
	case errors.Is(err, os.ErrNotExist):
		return "check the path (relative paths are resolved against the configuration file's directory); lab certificates: mailflow cert lab --dir DIR"
	}
	return "check that the file is a readable PEM, DER or PFX certificate (mailflow cert list FILE shows what it holds)"
}
