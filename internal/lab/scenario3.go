package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/diag/explain"
	"github.com/mailflowhq/mailflow/internal/tracking"
	"github.com/mailflowhq/mailflow/internal/users"
)

// Scenario 3 is the relay admins are being pushed to build as the cloud
// retires basic authentication for direct submission: a device
// authenticates on the on-premises Client Frontend, and on-premises relays
// its mail through the tenant, which recognises the on-premises server by
// its client certificate (an inbound connector of type OnPremises with
// TlsSenderCertificateName). With the wrong certificate the tenant answers
// Exchange Online's 550 5.7.64 TenantAttribution.
const (
	scenario3Name   = "Scenario 3: device submission on Client Frontend, relayed through the tenant by certificate"
	scenario3Report = `"Client submission and device relay: authenticated SMTP and a certificate-based connector to the tenant"`

	deviceUser     = "scanner01"
	devicePassword = "Lab-Scanner-Pw-4821"
	deviceAddress  = "scanner01@" + onpremDomain
	outsideRcpt    = "someone@fabrikam.example"
)

func (l *Lab) scenario3(ctx context.Context) *Scenario {
	sc := &Scenario{
		Name: scenario3Name, FieldReport: scenario3Report,
		Summary: "a scanner authenticates after STARTTLS on Client Frontend; on-premises relays to an outside recipient through the tenant, which attributes it by contoso's certificate; with the wrong certificate the tenant refuses with 550 5.7.64 and explain says why",
	}
	r := l.newRun(ctx, sc)
	pki := l.pki
	var (
		w   *world
		sub submission
	)

	r.step("Start the servers and add the device's user live",
		fmt.Sprintf("on-premises %q offers AUTH only after STARTTLS to ExchangeUsers; its %q sends everything else to the tenant presenting CN=mail.contoso.com (thumbprint %s); the tenant's %q (OnPremises) expects %s; user %s is added through the admin API",
			clientFrontend, onpremRelayCloud, pki.Contoso.Thumbprint, tenantFromOnpremC, hybridFQDN, deviceUser),
		func(s *Step) error {
			var err error
			if w, _, err = l.startScenario(s, "scenario 3", "scenario3", worldShape{Devices: true}); err != nil {
				return err
			}
			cf, err := describeReceive(w.Onprem, clientFrontend)
			if err != nil {
				return err
			}
			out, err := describeSend(w.Onprem, onpremRelayCloud)
			if err != nil {
				return err
			}
			in, err := describeReceive(w.Tenant, tenantFromOnpremC)
			if err != nil {
				return err
			}
			s.evidence(cf.line, out.line, in.line)
			s.expect(strings.Contains(cf.info.Relay, "after SMTP AUTH (ExchangeUsers); nothing before it"), "%s relays for %q", clientFrontend, cf.info.Relay)
			s.expect(strings.Contains(in.info.Relay, "client certificate holds "+hybridFQDN+" (OnPremises)"), "%s relays for %q", tenantFromOnpremC, in.info.Relay)
			hash, err := users.Hash(devicePassword, users.DefaultParams)
			if err != nil {
				return err
			}
			if err := w.Onprem.Admin.AddUser(deviceUser, hash, []string{deviceAddress}); err != nil {
				return fmt.Errorf("add user %s: %w", deviceUser, err)
			}
			list, err := w.Onprem.Admin.Users()
			if err != nil {
				return err
			}
			s.evidence(fmt.Sprintf("[on-premises admin] POST /api/v1/users {\"name\":%q,\"hash\":\"$argon2id$…\",\"send_as\":[%q]} → 201", deviceUser, deviceAddress))
			s.expect(len(list) == 1 && list[0].Name == deviceUser, "users: %+v", list)
			s.observe("%s relays %s; %s relays %s; user %s may send as %s", clientFrontend, cf.info.Relay, tenantFromOnpremC, in.info.Relay, deviceUser, deviceAddress)
			return nil
		})

	r.step("The device authenticates on Client Frontend and submits to an outside recipient",
		fmt.Sprintf("AUTH before STARTTLS gets 530 5.7.0; after STARTTLS AUTH PLAIN as %s gets 235 2.7.0 and the message for %s is queued (250 2.6.0); the transcript shows no password", deviceUser, outsideRcpt),
		func(s *Step) error {
			var clear string
			var err error
			sub, clear, err = submitAuth(ctx, clientSource, w.Onprem.Submit, deviceUser, devicePassword, deviceAddress, outsideRcpt, "scenario 3: scan from the device")
			s.evidence(sub.Transcript...)
			if err != nil {
				return err
			}
			s.expect(clear == "530 5.7.0 Must issue a STARTTLS command first", "AUTH before STARTTLS answered %q", clear)
			s.expect(strings.HasPrefix(sub.Reply, "250 2.6.0") && sub.QueueID != "", "DATA answered %q", sub.Reply)
			s.expect(!strings.Contains(strings.Join(sub.Transcript, "\n"), devicePassword), "the transcript holds the password")
			s.observe("AUTH in clear text: %s; after STARTTLS authenticated and queued as %s", clear, sub.QueueID)
			return nil
		})

	r.step("On-premises relays through the tenant with mutual TLS; the tenant recognises the certificate",
		fmt.Sprintf("on-premises SENDs via %q; the tenant's %q receives contoso's client certificate (thumbprint %s), logs the attribution and accepts the outside recipient (RECEIVE)",
			onpremRelayCloud, tenantFromOnpremC, pki.Contoso.Thumbprint),
		func(s *Step) error {
			evs, last, err := r.waitOutcome(w.Onprem, sub.MessageID, 0, attemptEnds...)
			s.evidence(traceLines("on-premises", evs)...)
			if err != nil {
				return err
			}
			if !s.expect(last.EventID == tracking.EventSend, "on-premises ended %s %q, want SEND", last.EventID, status(last)) {
				return nil
			}
			if rec, ok := lastEvent(evs, "RECEIVE"); s.expect(ok, "no on-premises RECEIVE") {
				s.expect(rec.SourceContext == "AuthenticatedUser="+deviceUser && rec.Directionality == "Originating",
					"on-premises RECEIVE has source-context %q directionality %q", rec.SourceContext, rec.Directionality)
			}
			tevs, err := r.waitTrace(w.Tenant, sub.MessageID, "RECEIVE", func(e []tracking.Event) bool { return countEvents(e, "RECEIVE") > 0 })
			s.evidence(traceLines("tenant", tevs, "RECEIVE")...)
			if err != nil {
				return err
			}
			sess, err := r.waitSession(w.Tenant, "SmtpReceive", "session holding "+sub.MessageID, time.Time{},
				func(all []*logSession) *logSession { return sessionWith(all, sub.MessageID) })
			if err != nil {
				return err
			}
			s.evidence(prefixed("tenant SmtpReceive", sess.tlsLines())...)
			rec, ok := sess.find("Tenant attribution by certificate")
			if ok {
				s.evidence("[tenant SmtpReceive] " + formatRecord(&rec))
			}
			got, gotCert := sess.certificate("Received certificate")
			s.expect(strings.HasSuffix(sess.Connector, tenantFromOnpremC), "the tenant took it on %s, want %s", sess.Connector, tenantFromOnpremC)
			s.expect(gotCert && got.Thumbprint == pki.Contoso.Thumbprint, "the tenant received client certificate %q, want contoso's %s", got.Thumbprint, pki.Contoso.Thumbprint)
			s.expect(ok && rec.Data == "CN=mail.contoso.com", "no attribution line for CN=mail.contoso.com (got %q)", rec.Data)
			s.observe("the tenant recognised %s (%s) on %s and accepted %s", got.Subject, got.Thumbprint, sess.Connector, outsideRcpt)
			return nil
		})

	r.step("Negative control: the wrong certificate gets 550 5.7.64 TenantAttribution, and explain says why",
		fmt.Sprintf("with %q pinned to the self-signed CN=SERVER1 (thumbprint %s) the tenant refuses the outside recipient with 550 5.7.64 TenantAttribution; Relay Access Denied, on-premises FAILs the message, mailflow explain names TlsSenderCertificateName; the pin is restored",
			onpremRelayCloud, pki.Server1.Thumbprint),
		func(s *Step) error {
			if _, err := w.Onprem.Admin.SetConnector("send", onpremRelayCloud, map[string]any{"tls_certificate_name": pki.Server1.Name()}); err != nil {
				return fmt.Errorf("pin CN=SERVER1 on %s: %w", onpremRelayCloud, err)
			}
			s.evidence(fmt.Sprintf("[on-premises admin] PATCH /api/v1/connectors/send/%s {\"fields\":{\"tls_certificate_name\":%q}} → 200", onpremRelayCloud, pki.Server1.Name()))
			bad, _, err := submitAuth(ctx, clientSource, w.Onprem.Submit, deviceUser, devicePassword, deviceAddress, outsideRcpt, "scenario 3: negative control, wrong certificate")
			if err != nil {
				return err
			}
			evs, last, err := r.waitOutcome(w.Onprem, bad.MessageID, 0, attemptEnds...)
			s.evidence(traceLines("on-premises", evs)...)
			if err != nil {
				return err
			}
			st := status(last)
			s.expect(last.EventID == tracking.EventFail && strings.Contains(st, "550 5.7.64 TenantAttribution; Relay Access Denied"),
				"the attempt ended %s %q, want FAIL 550 5.7.64 TenantAttribution", last.EventID, st)
			ex := explain.Text(st) // the status on-premises recorded, as an admin would paste it
			s.evidence("explain: "+ex.Title, "cause: "+ex.Cause)
			for _, f := range ex.Fix {
				s.evidence("fix: " + f)
			}
			s.expect(ex.Topic == "eop.5.7.64.TenantAttribution" && strings.Contains(ex.Cause, "TlsSenderCertificateName"), "explain: topic %q", ex.Topic)
			if _, err := w.Onprem.Admin.SetConnector("send", onpremRelayCloud, map[string]any{"tls_certificate_name": pki.Contoso.Name()}); err != nil {
				return fmt.Errorf("restore the pin on %s: %w", onpremRelayCloud, err)
			}
			s.evidence(fmt.Sprintf("[on-premises admin] restored tls_certificate_name %q on %s", pki.Contoso.Name(), onpremRelayCloud))
			s.observe("FAIL %s; explain: %s", st, ex.Title)
			return nil
		})

	return r.done()
}
