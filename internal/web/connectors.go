package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/config"
)

func (w *Web) connectorsPage(rw http.ResponseWriter, r *http.Request, s *session) {
	w.render(rw, r, s, "connectors", "Connectors", admin.DescribeConnectors(w.n.Runtime(), w.now()), "", "")
}

// formField is one editable key of a connector, shown as the file writes
// it (lists comma-separated) and sent back as a string: the same
// conversion and validation as mailflow connector set --KEY VALUE.
type formField struct {
	Key, Label, Value, Help string
	Choices                 []string // a select when set
	List                    string   // datalist id
}

type connectorData struct {
	Info   admin.ConnectorInfo
	Fields []formField
	Names  []string // certificate names for the tls_certificate_name datalist
	Path   string
}

// editable lists the keys the form edits, with their current values.
func editable(cfg *config.Config, kind, name string) ([]formField, bool) {
	list := func(v []string) string { return strings.Join(v, ", ") }
	b := strconv.FormatBool
	bools := []string{"false", "true"}
	if kind == "receive" {
		for _, c := range cfg.ReceiveConnectors {
			if !strings.EqualFold(c.Name, name) {
				continue
			}
			return []formField{
				{Key: "fqdn", Label: "FQDN", Value: c.FQDN, Help: "name in the banner and EHLO; empty = server.fqdn"},
				{Key: "bindings", Label: "Bindings", Value: list(c.Bindings), Help: "IP:port, comma-separated"},
				{Key: "remote_ip_ranges", Label: "Remote IP ranges", Value: list(c.RemoteIPRanges), Help: "CIDR, ranges or addresses; empty = everyone"},
				{Key: "tls_certificate_name", Label: "TLS certificate name", Value: c.TLSCertificateName, List: "certnames", Help: "<I>issuer<S>subject; empty = automatic selection by FQDN"},
				{Key: "require_tls", Label: "Require TLS", Value: b(c.RequireTLS), Choices: bools},
				{Key: "auth_mechanism", Label: "Auth mechanism", Value: list(c.AuthMechanism), Help: "e.g. Tls, BasicAuth, BasicAuthRequireTLS"},
				{Key: "permission_groups", Label: "Permission groups", Value: list(c.PermissionGroups), Help: "e.g. AnonymousUsers, Partners, ExchangeServers"},
				{Key: "domain_secure_enabled", Label: "Domain secure (mutual TLS)", Value: b(c.DomainSecureEnabled), Choices: bools},
				{Key: "tls_sender_certificate_name", Label: "TLS sender certificate name", Value: c.TLSSenderCertificateName},
				{Key: "protocol_logging_level", Label: "Protocol logging", Value: c.ProtocolLoggingLevel, Choices: []string{"", "None", "Verbose"}},
			}, true
		}
		return nil, false
	}
	for _, c := range cfg.SendConnectors {
		if !strings.EqualFold(c.Name, name) {
			continue
		}
		port := ""
		if c.Port != 0 {
			port = strconv.Itoa(c.Port)
		}
		return []formField{
			{Key: "address_spaces", Label: "Address spaces", Value: list(c.AddressSpaces), Help: "domains, *.domain or *"},
			{Key: "smart_hosts", Label: "Smart hosts", Value: list(c.SmartHosts), Help: "empty = MX lookup"},
			{Key: "port", Label: "Port", Value: port, Help: "empty = 25"},
			{Key: "fqdn", Label: "FQDN", Value: c.FQDN, Help: "EHLO name; empty = server.fqdn"},
			{Key: "require_tls", Label: "Require TLS", Value: b(c.RequireTLS), Choices: bools},
			{Key: "tls_auth_level", Label: "TLS auth level", Value: c.TLSAuthLevel, Choices: []string{"", "EncryptionOnly", "CertificateValidation", "DomainValidation"}},
			{Key: "tls_domain", Label: "TLS domain", Value: c.TLSDomain, Help: "name DomainValidation expects; empty = recipient domain"},
			{Key: "tls_certificate_name", Label: "TLS certificate name", Value: c.TLSCertificateName, List: "certnames", Help: "client certificate, <I>issuer<S>subject"},
			{Key: "source_ip", Label: "Source IP", Value: c.SourceIP},
			{Key: "protocol_logging_level", Label: "Protocol logging", Value: c.ProtocolLoggingLevel, Choices: []string{"", "None", "Verbose"}},
		}, true
	}
	return nil, false
}

func (w *Web) describe(kind, name string) (admin.ConnectorInfo, bool) {
	for _, c := range admin.DescribeConnectors(w.n.Runtime(), w.now()) {
		if c.Kind == kind && strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return admin.ConnectorInfo{}, false
}

func (w *Web) connectorData(kind, name string) (connectorData, bool) {
	rt := w.n.Runtime()
	info, ok := w.describe(kind, name)
	if !ok {
		return connectorData{}, false
	}
	fields, _ := editable(rt.Cfg, kind, info.Name)
	d := connectorData{Info: info, Fields: fields, Path: connectorPath(kind, info.Name)}
	for _, c := range rt.Store.All() {
		if c.HasPrivateKey() {
			d.Names = append(d.Names, c.Name())
		}
	}
	return d, true
}

func connectorPath(kind, name string) string {
	return "/connectors/" + kind + "/" + url.PathEscape(name)
}

func (w *Web) connectorPage(rw http.ResponseWriter, r *http.Request, s *session) {
	d, ok := w.connectorData(r.PathValue("kind"), r.PathValue("name"))
	if !ok {
		http.NotFound(rw, r)
		return
	}
	w.render(rw, r, s, "connector", d.Info.Name, d, "", "")
}

func (w *Web) connectorPost(rw http.ResponseWriter, r *http.Request, s *session) {
	kind := r.PathValue("kind")
	d, ok := w.connectorData(kind, r.PathValue("name"))
	if !ok {
		http.NotFound(rw, r)
		return
	}
	fields := map[string]any{}
	for i, f := range d.Fields {
		got, present := r.PostForm[f.Key]
		if !present {
			continue
		}
		v := strings.TrimSpace(got[0])
		d.Fields[i].Value = v
		if v == f.Value {
			continue
		}
		if v == "" {
			fields[f.Key] = nil // back to the default, as --unset
		} else {
			fields[f.Key] = v
		}
	}
	if len(fields) == 0 {
		w.back(rw, r, s, d.Path, "Nothing changed.")
		return
	}
	before := d.Info
	entry := AuditEntry{Action: "connector.set", Target: kind + " connector " + d.Info.Name, Before: before}
	if err := w.n.SetConnector(kind, d.Info.Name, fields); err != nil {
		entry.Result, entry.Error, entry.After = "refused", err.Error(), fields
		w.record(r, s, entry)
		w.render(rw, r, s, "connector", d.Info.Name, d, "", err.Error())
		return
	}
	after, _ := w.describe(kind, d.Info.Name)
	entry.After = after
	w.record(r, s, entry)
	w.back(rw, r, s, d.Path, "Saved and applied live at "+w.now().UTC().Format(time.TimeOnly)+" UTC: "+strings.Join(sortedKeys(fields), ", "))
}
