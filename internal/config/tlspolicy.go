package config

import (
	"fmt"
	"net/mail"
)

// MTA-STS modes of a send connector (mta_sts).
const (
	// MTASTSEnforce applies each domain's MTA-STS policy in the policy's
	// own mode: enforce defers to hosts that fail it, testing only reports.
	MTASTSEnforce = "enforce"
	// MTASTSOff never looks policies up.
	MTASTSOff = "off"
)

// MTASTSModes lists the accepted mta_sts values.
func MTASTSModes() []string { return []string{MTASTSEnforce, MTASTSOff} }

// TLSRPT configures the daily TLS reports (RFC 8460) mailflow sends to the
// domains it delivers to. Outcomes are always counted; send_reports
// decides whether the reports leave the server.
type TLSRPT struct {
	// SendReports: send each domain that publishes a TLS-RPT record its
	// daily report (default true).
	SendReports *bool `yaml:"send_reports"`
	// OrganizationName names the reporting organisation (default
	// server.fqdn).
	OrganizationName string `yaml:"organization_name"`
	// ContactInfo is an address or URL for questions about the reports
	// (default postmaster@server.fqdn).
	ContactInfo string `yaml:"contact_info"`
	// From is the reports' sender address (default postmaster@server.fqdn).
	From string `yaml:"from"`
}

// Sending reports whether reports are sent.
func (t TLSRPT) Sending() bool { return t.SendReports == nil || *t.SendReports }

func (c *Config) applyTLSRPTDefaults() {
	t := &c.TLSRPT
	if t.OrganizationName == "" {
		t.OrganizationName = c.Server.FQDN
	}
	if t.ContactInfo == "" && c.Server.FQDN != "" {
		t.ContactInfo = "postmaster@" + c.Server.FQDN
	}
	if t.From == "" && c.Server.FQDN != "" {
		t.From = "postmaster@" + c.Server.FQDN
	}
}

func (v *validator) tlsRPT() {
	t := v.c.TLSRPT
	if t.From == "" {
		return // no server.fqdn either: the server warns at start and sends no reports
	}
	if a, err := mail.ParseAddress(t.From); err != nil || a.Address != t.From {
		v.add("tls_rpt.from", fmt.Sprintf("%q is not an e-mail address", t.From),
			"write a bare address such as tlsrpt@contoso.com")
	}
}
