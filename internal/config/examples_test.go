package config

import (
	"path/filepath"
	"testing"
)

// TestExamplesLoad: the shipped examples load without their certificate
// files (the server checks those) and mean what their comments say.
func TestExamplesLoad(t *testing.T) {
	onprem, err := Load(filepath.Join("..", "..", "examples", "onprem.yaml"))
	if err != nil {
		t.Fatalf("onprem.yaml: %v", err)
	}
	if onprem.Server.Name != "SERVER1" || onprem.Server.FQDN != "server1.contoso.local" {
		t.Errorf("server = %+v", onprem.Server)
	}
	if len(onprem.Certificates) != 2 || onprem.Certificates[1].PasswordFile != "certs/mail-contoso.pass" {
		t.Errorf("certificates = %+v", onprem.Certificates)
	}
	if got, want := onprem.Resolve(onprem.Certificates[0].File), filepath.Join("..", "..", "examples", "certs", "server1-selfsigned.pem"); got != want {
		t.Errorf("Resolve = %s, want %s", got, want)
	}
	o365 := onprem.ReceiveConnector("Inbound from Office 365")
	if o365 == nil {
		t.Fatal("connector Inbound from Office 365 missing")
	}
	if !o365.RequireTLS || !o365.DomainSecureEnabled || !o365.HasPermission(PermPartners) || o365.TLSSenderCertificateName != "mail.protection.outlook.com" {
		t.Errorf("Inbound from Office 365 = %+v", o365)
	}
	if o365.Key != "receive_connectors[1]" || o365.Line != onprem.Line("receive_connectors[1]") || o365.Line == 0 {
		t.Errorf("Key %q Line %d", o365.Key, o365.Line)
	}
	if rs := o365.Ranges(); len(rs) != 1 || rs[0].Text != "127.0.0.2/32" {
		t.Errorf("Ranges = %v", rs)
	}
	cf := onprem.ReceiveConnector("Client Frontend SERVER1")
	if cf == nil || !cf.HasAuth(AuthBasicRequireTLS) || !cf.HasPermission(PermExchangeUsers) || cf.HasPermission(PermAnonymousUsers) || cf.BasicAuthInClear() {
		t.Errorf("Client Frontend = %+v, want AUTH after STARTTLS for ExchangeUsers only", cf)
	}
	if w := onprem.OpenRelayWarnings(); len(w) != 0 {
		t.Errorf("unexpected relay warnings: %v", w)
	}

	tenant, err := Load(filepath.Join("..", "..", "examples", "tenant.yaml"))
	if err != nil {
		t.Fatalf("tenant.yaml: %v", err)
	}
	out := tenant.SendConnector("outbound to CONTOSO")
	if out == nil {
		t.Fatal("send connector Outbound to contoso missing")
	}
	if !out.Matches("contoso.com") || out.Matches("fabrikam.com") {
		t.Error("address space matching wrong")
	}
	if got := out.SmartHostAddresses(); len(got) != 1 || got[0] != "127.0.0.1:2525" {
		t.Errorf("SmartHostAddresses = %v", got)
	}
	if out.TLSAuthLevel != DomainValidation || out.TLSDomain != "mail.contoso.com" || out.SourceIP != "127.0.0.2" {
		t.Errorf("send connector = %+v", out)
	}
	// The tenant sends from 127.0.0.2, which must land on the on-premises
	// connector meant for it, and must reach the on-premises binding.
	if !o365.Ranges()[0].Contains(mustAddr(t, out.SourceIP)) {
		t.Error("tenant source_ip is outside Inbound from Office 365's ranges")
	}
	if !o365.ParsedBindings()[0].Matches(mustAddrPort(t, out.SmartHostAddresses()[0])) {
		t.Error("tenant smart host does not reach the on-premises binding")
	}
	if tenant.Admin.Listen == onprem.Admin.Listen {
		t.Error("both examples use the same admin address; the lab runs them side by side")
	}
	if !tenant.IsAcceptedDomain("tenant.example") || tenant.IsAcceptedDomain("contoso.com") {
		t.Error("IsAcceptedDomain wrong")
	}
}
