package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/tracking"
)

// Scenario 2 is the second field report: an Exchange 2010 hybrid, where
// the wizard's dedicated receive connector is selected by the cloud's
// source address and presents its own certificate (by its own FQDN) while
// everyone else still gets Default Frontend; mutual TLS both ways; and the
// author's open question — must the expected name be the certificate's
// Common Name, and does a renewal with one more SAN need re-pinning? —
// answered by running it.
const (
	scenario2Name   = "Scenario 2: hybrid connector, mutual TLS, and names in the SAN"
	scenario2Report = `"Exchange 2010 hybrid, SMTP, SSL Certificates and Subject Alternative Names"`
	// extraName is in the renewed certificate only (the extra SAN entry).
	extraName = "smtp.contoso.com"
)

func (l *Lab) scenario2(ctx context.Context) *Scenario {
	sc := &Scenario{
		Name: scenario2Name, FieldReport: scenario2Report,
		Summary: "a connector chosen by the cloud's source address with its own certificate; mutual TLS both ways; DomainValidation accepts the expected name from the SAN (not only the CN); a renewal with an extra SAN is picked up without re-pinning",
	}
	r := l.newRun(ctx, sc)
	pki := l.pki
	var w *world

	r.step("Start the tenant and the on-premises server (hybrid pieces in place)",
		fmt.Sprintf("on-premises %q presents the self-signed CN=SERVER1 certificate to everyone; its %q connector sends to the tenant with DomainValidation of %s presenting CN=mail.contoso.com; the tenant's %q requires contoso's certificate (mutual TLS)",
			defaultFrontend, onpremToCloud, cloudName, tenantFromOnprem),
		func(s *Step) error {
			var df connectorView
			var err error
			if w, df, err = l.startScenario(s, "scenario 2", "scenario2", worldShape{Hybrid: true}); err != nil {
				return err
			}
			s.expect(df.thumbprint() == pki.Server1.Thumbprint, "%s presents %s, want SERVER1's %s", defaultFrontend, df.thumbprint(), pki.Server1.Thumbprint)
			out, err := describeSend(w.Onprem, onpremToCloud)
			if err != nil {
				return err
			}
			in, err := describeReceive(w.Tenant, tenantFromOnprem)
			if err != nil {
				return err
			}
			s.evidence(out.line, in.line)
			s.expect(in.info.Secure, "%s is not domain-secure", tenantFromOnprem)
			s.observe("on-premises presents %s to every sender; no connector is scoped to %s yet", df.cert(), tenantSource)
			return nil
		})

	r.step("Plan the hybrid connection from contoso's certificate and apply it live (mailflow hybrid plan)",
		fmt.Sprintf("mailflow hybrid plan --exchange-version 2010 with CN=mail.contoso.com (thumbprint %s): %q (remote range %s/32, Fqdn %s, domain security with %s, RequireTLS) and %q on-premises, %q and %q on the tenant, all naming %s; Exchange 2010 has no TlsCertificateName, so the plan sets the Fqdn and predicts 2010 picks the same certificate; both files are written and both servers reloaded",
			pki.Contoso.Thumbprint, hybridConnector, tenantSource, hybridFQDN, cloudName, onpremToCloud, tenantFromOnprem, tenantToOnprem, hybridFQDN),
		func(s *Step) error {
			p, err := planHybrid(w, pki.Contoso)
			if err != nil {
				return fmt.Errorf("hybrid plan: %w", err)
			}
			for _, c := range p.Shell {
				s.evidence("[hybrid plan, Exchange Management Shell] " + c.String())
			}
			for _, c := range p.Online {
				s.evidence("[hybrid plan, Exchange Online PowerShell] " + c.String())
			}
			for _, n := range p.Notes {
				s.evidence("[hybrid plan] " + n)
			}
			for _, c := range p.Shell {
				s.expect(!strings.Contains(c.String(), "-TlsCertificateName"), "the 2010 command %s has -TlsCertificateName", c.Name)
			}
			s.expect(p.Presents.Receive != nil && p.Presents.Receive.Thumbprint == pki.Contoso.Thumbprint,
				"the plan predicts Exchange 2010 presents %+v, want CN=mail.contoso.com %s", p.Presents.Receive, pki.Contoso.Thumbprint)
			if err := applyHybrid(w, p); err != nil {
				return err
			}
			s.evidence("[onprem.yaml, tenant.yaml] hybrid plan connectors written (validated, comments kept); [admin] POST /api/v1/reload → 200 on both")
			hc, err := describeReceive(w.Onprem, hybridConnector)
			if err != nil {
				return err
			}
			s.evidence(hc.line)
			s.expect(hc.info.FQDN == hybridFQDN, "%s has Fqdn %q, want %s", hybridConnector, hc.info.FQDN, hybridFQDN)
			s.expect(hc.thumbprint() == pki.Contoso.Thumbprint, "%s presents %s, want CN=mail.contoso.com %s", hybridConnector, hc.thumbprint(), pki.Contoso.Thumbprint)
			s.expect(hc.info.Secure && hc.info.RequireTLS, "%s: domain_secure_enabled %v, require_tls %v", hybridConnector, hc.info.Secure, hc.info.RequireTLS)
			s.observe("%s is live and presents %s; the plan's 2010 commands set -Fqdn %s instead of a pin", hybridConnectorID, hc.cert(), hybridFQDN)
			return nil
		})

	r.step("Confirm both sides agree (mailflow hybrid check --live)",
		"every pairing passes both ways offline (route, connector by source address with domain security, server and client certificates by Exchange 2010's rules), and a test message goes each way over mutual TLS",
		func(s *Step) error {
			rep := checkHybrid(ctx, w)
			s.evidence(checkLines(rep)...)
			live := 0
			for _, row := range rep.Rows {
				if row.Live {
					live++
				}
			}
			s.expect(rep.ExitCode() == 0, "hybrid check exit %d", rep.ExitCode())
			s.expect(live == 2, "%d live rows, want one per direction", live)
			s.observe("hybrid check: %d rows, exit %d", len(rep.Rows), rep.ExitCode())
			return nil
		})

	r.step("The connector is chosen by the sender's address",
		fmt.Sprintf("from %s a session lands on %s (banner %s, CN=SERVER1 %s); from %s on %s (banner %s, CN=mail.contoso.com %s)",
			clientSource, defaultFrontend, onpremFQDN, pki.Server1.Thumbprint, tenantSource, hybridConnector, hybridFQDN, pki.Contoso.Thumbprint),
		func(s *Step) error {
			since := time.Now()
			for _, c := range []struct {
				source, fqdn, thumbprint, connector string
			}{
				{clientSource, onpremFQDN, pki.Server1.Thumbprint, defaultFrontend},
				{tenantSource, hybridFQDN, pki.Contoso.Thumbprint, hybridConnector},
			} {
				p, err := probeCertificate(ctx, c.source, w.Onprem.SMTP)
				if err != nil {
					return err
				}
				s.evidence(fmt.Sprintf("[probe from %s] %s; STARTTLS presents %s", c.source, p.Banner, describe(p.Cert)))
				s.expect(strings.Contains(p.Banner, " "+c.fqdn+" "), "the banner for %s reads %q, want %s", c.source, p.Banner, c.fqdn)
				s.expect(p.Cert.Thumbprint == c.thumbprint, "%s got %s, want %s", c.source, p.Cert.Thumbprint, c.thumbprint)
			}
			w.Onprem.flushLogs()
			all, err := readSessions(w.Onprem.logDir(), "SmtpReceive", since)
			if err != nil {
				return err
			}
			for _, c := range []struct{ source, connector string }{{clientSource, defaultFrontend}, {tenantSource, hybridConnector}} {
				sess := lastWithCertificate(sessionsFrom(all, c.source, ""), "Sending certificate")
				if !s.expect(sess != nil, "no SmtpReceive session from %s", c.source) {
					continue
				}
				s.expect(strings.HasSuffix(sess.Connector, c.connector), "the session from %s is on %s, want %s", c.source, sess.Connector, c.connector)
				s.evidence(prefixed("on-premises SmtpReceive", sess.tlsLines())...)
			}
			s.observe("%s → %s with CN=SERVER1; %s → %s with CN=mail.contoso.com", clientSource, defaultFrontend, tenantSource, hybridConnector)
			return nil
		})

	r.step("Mutual TLS, tenant → on-premises",
		fmt.Sprintf("the tenant presents its certificate CN=mail.protection.outlook.com (thumbprint %s) as client; on-premises' %s verifies it (Status='Success', Domain='%s') and delivers", pki.Tenant.Thumbprint, hybridConnector, cloudName),
		func(s *Step) error {
			sub, err := submit(ctx, clientSource, w.Tenant.SMTP, cloudUser, onpremUser, "scenario 2: mutual TLS from the cloud")
			if err != nil {
				return err
			}
			d, err := r.expectDelivered(s, w.Tenant, w.Onprem, sub, 0)
			if err != nil || d == nil {
				return err
			}
			s.expect(strings.HasSuffix(d.sess.Connector, hybridConnector), "received on %s, want %s", d.sess.Connector, hybridConnectorID)
			s.expect(d.gotClientCert && d.received.Thumbprint == pki.Tenant.Thumbprint, "on-premises received client certificate %q, want the tenant's %s", d.received.Thumbprint, pki.Tenant.Thumbprint)
			s.expect(d.sess.contains("Status='Success'; Domain='"+cloudName+"'"), "no TlsDomainCapabilities … Status='Success' line for %s", cloudName)
			s.observe("%s received the tenant's client certificate %s (%s) and verified it for %s; delivered to %s",
				d.sess.Connector, d.received.Subject, d.received.Thumbprint, cloudName, d.mailbox)
			return nil
		})

	r.step("Mutual TLS, on-premises → tenant",
		fmt.Sprintf("on-premises' %q sends from %s, validates the tenant's certificate for %s and presents CN=mail.contoso.com (thumbprint %s); the tenant's %q verifies it for %s and delivers",
			onpremToCloud, onpremSource, cloudName, pki.Contoso.Thumbprint, tenantFromOnprem, hybridFQDN),
		func(s *Step) error {
			since := time.Now()
			sub, err := submit(ctx, clientSource, w.Onprem.Relay, onpremUser, cloudUser, "scenario 2: mutual TLS to the cloud")
			if err != nil {
				return err
			}
			d, err := r.expectDelivered(s, w.Onprem, w.Tenant, sub, 0)
			if err != nil || d == nil {
				return err
			}
			s.expect(strings.HasSuffix(d.sess.Connector, tenantFromOnprem), "received on %s, want %s", d.sess.Connector, tenantFromOnprem)
			s.expect(d.gotClientCert && d.received.Thumbprint == pki.Contoso.Thumbprint, "the tenant received client certificate %q, want contoso's %s", d.received.Thumbprint, pki.Contoso.Thumbprint)
			s.expect(d.sess.contains("Status='Success'; Domain='"+hybridFQDN+"'"), "no TlsDomainCapabilities … Status='Success' line for %s", hybridFQDN)
			w.Onprem.flushLogs()
			sends, err := readSessions(w.Onprem.logDir(), "SmtpSend", since)
			if err != nil {
				return err
			}
			if ss := lastWithCertificate(sends, "Remote certificate"); s.expect(ss != nil, "no on-premises SmtpSend session with the tenant's certificate") {
				s.evidence(prefixed("on-premises SmtpSend", ss.tlsLines())...)
				s.expect(ss.contains("Remote certificate validation succeeded (DomainValidation, expected "+cloudName+")"),
					"on-premises did not log a successful DomainValidation of %s", cloudName)
			}
			s.observe("on-premises validated the tenant for %s; %s received contoso's client certificate %s (%s); delivered to %s",
				cloudName, d.sess.Connector, d.received.Subject, d.received.Thumbprint, d.mailbox)
			return nil
		})

	r.step("Negative control: a client certificate with the right name from an untrusted CA is refused",
		fmt.Sprintf("the tenant presents CN=%s issued by a CA on-premises does not trust (thumbprint %s): %s refuses MAIL with 530 5.7.1 and the tenant fails the message; then the tenant's certificate is restored",
			cloudName, pki.Untrusted.Thumbprint, hybridConnector),
		func(s *Step) error {
			if _, err := importCertificate(s, "tenant", w.Tenant.Admin, pki.UntrustedFile,
				"force: this negative control needs the untrusted certificate presented, to show on-premises refusing it"); err != nil {
				return fmt.Errorf("import %s on the tenant: %w", pki.UntrustedFile, err)
			}
			if _, err := w.Tenant.Admin.SetConnector("send", tenantToOnprem, map[string]any{"tls_certificate_name": pki.Untrusted.Name()}); err != nil {
				return fmt.Errorf("pin the untrusted certificate on %s: %w", tenantToOnprem, err)
			}
			s.evidence(fmt.Sprintf("[tenant admin] PATCH /api/v1/connectors/send/%s {\"fields\":{\"tls_certificate_name\":%q}} → 200", tenantToOnprem, pki.Untrusted.Name()))
			since := time.Now()
			sub, err := submit(ctx, clientSource, w.Tenant.SMTP, cloudUser, onpremUser, "scenario 2: negative control, untrusted client certificate")
			if err != nil {
				return err
			}
			evs, last, err := r.waitOutcome(w.Tenant, sub.MessageID, 0, attemptEnds...)
			s.evidence(traceLines("tenant", evs)...)
			if err != nil {
				return err
			}
			s.expect(last.EventID == tracking.EventFail && strings.Contains(status(last), "530 5.7.1"),
				"the attempt ended %s %q, want FAIL 530 5.7.1", last.EventID, status(last))
			w.Onprem.flushLogs()
			all, err := readSessions(w.Onprem.logDir(), "SmtpReceive", since)
			if err != nil {
				return err
			}
			var verdict string
			if sess := lastWithCertificate(sessionsFrom(all, tenantSource, hybridConnector), "Received certificate"); s.expect(sess != nil, "no on-premises session with the untrusted client certificate") {
				s.evidence(prefixed("on-premises SmtpReceive", sess.tlsLines())...)
				s.evidence(prefixed("on-premises SmtpReceive", sess.lines('>', "530"))...)
				c, _ := sess.certificate("Received certificate")
				s.expect(c.Thumbprint == pki.Untrusted.Thumbprint, "on-premises received %s, want the untrusted %s", c.Thumbprint, pki.Untrusted.Thumbprint)
				rec, ok := sess.find("TlsDomainCapabilities")
				verdict = rec.Context
				s.expect(ok && !strings.Contains(rec.Context, "Status='Success'"), "the client certificate was accepted: %q", rec.Context)
			}
			// Restore, as an administrator would after the test.
			if _, err := w.Tenant.Admin.SetConnector("send", tenantToOnprem, map[string]any{"tls_certificate_name": pki.Tenant.Name()}); err != nil {
				return fmt.Errorf("restore the tenant certificate on %s: %w", tenantToOnprem, err)
			}
			if err := w.Tenant.Admin.RemoveCertificate(pki.Untrusted.Thumbprint); err != nil {
				return fmt.Errorf("remove the untrusted certificate from the tenant: %w", err)
			}
			s.evidence(fmt.Sprintf("[tenant admin] restored tls_certificate_name %q on %s and removed certificate %s", pki.Tenant.Name(), tenantToOnprem, pki.Untrusted.Thumbprint))
			s.observe("FAIL %s; on-premises logged %s", status(last), verdict)
			return nil
		})

	r.step("The field report's question, part 1: the expected name in the SAN only",
		fmt.Sprintf("%s pinned to CN=hybrid.contoso.net (SAN %s, thumbprint %s): the tenant's DomainValidation of %s passes and the message is delivered",
			hybridConnector, hybridFQDN, pki.SANOnly.Thumbprint, hybridFQDN),
		func(s *Step) error {
			if _, err := importCertificate(s, "on-premises", w.Onprem.Admin, pki.SANOnlyFile,
				"force: CN=hybrid.contoso.net is an extra certificate for this test, not a renewal of mail.contoso.com; the connectors keep selecting the current one until "+hybridConnector+" is pinned to it below"); err != nil {
				return fmt.Errorf("import %s on-premises: %w", pki.SANOnlyFile, err)
			}
			list, err := w.Onprem.Admin.SetConnector("receive", hybridConnector, map[string]any{"tls_certificate_name": pki.SANOnly.Name()})
			if err != nil {
				return fmt.Errorf("pin %s on %s: %w", pki.SANOnly.Name(), hybridConnector, err)
			}
			if hc := connector(list, "receive", hybridConnector); s.expect(hc != nil && hc.Certificate != nil, "%s missing from the answer", hybridConnector) {
				s.evidence("[on-premises connectors] " + receiveLine(hc))
			}
			since := time.Now()
			sub, err := submit(ctx, clientSource, w.Tenant.SMTP, cloudUser, onpremUser, "scenario 2: expected name in the SAN only")
			if err != nil {
				return err
			}
			d, err := r.expectDelivered(s, w.Tenant, w.Onprem, sub, 0)
			if err != nil || d == nil {
				return err
			}
			s.expect(d.sent.Thumbprint == pki.SANOnly.Thumbprint && d.sent.Subject == "CN=hybrid.contoso.net",
				"on-premises presented %s %s, want CN=hybrid.contoso.net %s", d.sent.Subject, d.sent.Thumbprint, pki.SANOnly.Thumbprint)
			if err := r.tenantVerdict(s, w, since, "Remote certificate validation succeeded (DomainValidation, expected "+hybridFQDN+")"); err != nil {
				return err
			}
			s.observe("the tenant accepted %s (SANs %s) for %s and delivered: DomainValidation reads the SAN, the CN need not be the expected name",
				d.sent.Subject, strings.Join(d.sent.SANs, ";"), hybridFQDN)
			return nil
		})

	r.step("Negative control: a name in neither the CN nor a SAN still fails",
		fmt.Sprintf("with the tenant expecting %s (not in CN=hybrid.contoso.net's names) the attempt defers with 450 4.7.320 SubjectMismatch; back to %s, Retry-Queue delivers", extraName, hybridFQDN),
		func(s *Step) error {
			if _, err := w.Tenant.Admin.SetConnector("send", tenantToOnprem, map[string]any{"tls_domain": extraName}); err != nil {
				return fmt.Errorf("set tls_domain on %s: %w", tenantToOnprem, err)
			}
			s.evidence(fmt.Sprintf("[tenant admin] PATCH /api/v1/connectors/send/%s {\"fields\":{\"tls_domain\":%q}} → 200", tenantToOnprem, extraName))
			sub, err := submit(ctx, clientSource, w.Tenant.SMTP, cloudUser, onpremUser, "scenario 2: negative control, name not in the certificate")
			if err != nil {
				return err
			}
			evs, last, err := r.waitOutcome(w.Tenant, sub.MessageID, 0, attemptEnds...)
			s.evidence(traceLines("tenant", evs, tracking.EventDefer, tracking.EventSend, tracking.EventFail)...)
			if err != nil {
				return err
			}
			deferred := status(last)
			s.expect(last.EventID == tracking.EventDefer && strings.Contains(deferred, "450 4.7.320") &&
				strings.Contains(deferred, "SubjectMismatch Expected Subject: "+extraName),
				"the attempt ended %s %q, want DEFER 450 4.7.320 SubjectMismatch for %s", last.EventID, deferred, extraName)
			if _, err := w.Tenant.Admin.SetConnector("send", tenantToOnprem, map[string]any{"tls_domain": hybridFQDN}); err != nil {
				return fmt.Errorf("restore tls_domain on %s: %w", tenantToOnprem, err)
			}
			if err := w.Tenant.Admin.Retry(sub.QueueID); err != nil {
				return fmt.Errorf("retry %s on the tenant: %w", sub.QueueID, err)
			}
			s.evidence(fmt.Sprintf("[tenant admin] tls_domain back to %s; POST /api/v1/queue/retry?id=%s → 200", hybridFQDN, sub.QueueID))
			d, err := r.expectDelivered(s, w.Tenant, w.Onprem, sub, outcomes(evs))
			if err != nil || d == nil {
				return err
			}
			s.observe("DEFER %s; after restoring tls_domain %s the retry delivered", deferred, hybridFQDN)
			return nil
		})

	r.step("The field report's question, part 2: a renewal with an extra SAN needs no re-pinning",
		fmt.Sprintf("%s pinned to %q presents %s; after importing the renewal (same issuer and subject, extra SAN %s, newer) new sessions present %s with the pin unchanged, and mail flows",
			hybridConnector, pki.Contoso.Name(), pki.Contoso.Thumbprint, extraName, pki.Renewed.Thumbprint),
		func(s *Step) error {
			if _, err := w.Onprem.Admin.SetConnector("receive", hybridConnector, map[string]any{"tls_certificate_name": pki.Contoso.Name()}); err != nil {
				return fmt.Errorf("pin %s on %s: %w", pki.Contoso.Name(), hybridConnector, err)
			}
			s.evidence(fmt.Sprintf("[on-premises admin] PATCH /api/v1/connectors/receive/%s {\"fields\":{\"tls_certificate_name\":%q}} → 200", hybridConnector, pki.Contoso.Name()))
			before, err := probeCertificate(ctx, tenantSource, w.Onprem.SMTP)
			if err != nil {
				return err
			}
			s.evidence(fmt.Sprintf("[probe from %s, before] %s, NotBefore %s", tenantSource, describe(before.Cert), notBefore(before.Cert.Leaf.NotBefore)))
			s.expect(before.Cert.Thumbprint == pki.Contoso.Thumbprint, "before the renewal %s, want %s", before.Cert.Thumbprint, pki.Contoso.Thumbprint)
			res, err := importCertificate(s, "on-premises", w.Onprem.Admin, pki.RenewedFile, "")
			info := res.Info
			if err != nil {
				return fmt.Errorf("import the renewal %s: %w", pki.RenewedFile, err)
			}
			s.evidence(fmt.Sprintf("[on-premises admin] POST /api/v1/certificates → %s, NotBefore %s (no connector changed)", infoLine(info), notBefore(info.NotBefore)))
			after, err := probeCertificate(ctx, tenantSource, w.Onprem.SMTP)
			if err != nil {
				return err
			}
			s.evidence(fmt.Sprintf("[probe from %s, after] %s, NotBefore %s", tenantSource, describe(after.Cert), notBefore(after.Cert.Leaf.NotBefore)))
			s.expect(after.Cert.Thumbprint == pki.Renewed.Thumbprint, "after the renewal %s, want %s", after.Cert.Thumbprint, pki.Renewed.Thumbprint)
			hc, err := describeReceive(w.Onprem, hybridConnector)
			if err != nil {
				return err
			}
			s.evidence(hc.line)
			s.expect(hc.info.Pinned == pki.Contoso.Name(), "the pin changed to %q", hc.info.Pinned)
			sub, err := submit(ctx, clientSource, w.Tenant.SMTP, cloudUser, onpremUser, "scenario 2: after the renewal")
			if err != nil {
				return err
			}
			d, err := r.expectDelivered(s, w.Tenant, w.Onprem, sub, 0)
			if err != nil || d == nil {
				return err
			}
			s.expect(d.sent.Thumbprint == pki.Renewed.Thumbprint, "the delivery used %s, want the renewal %s", d.sent.Thumbprint, pki.Renewed.Thumbprint)
			s.observe("thumbprint %s → %s with TlsCertificateName %q unchanged; delivered with the renewal (SANs %s)",
				before.Cert.Thumbprint, after.Cert.Thumbprint, hc.info.Pinned, strings.Join(after.Cert.SANs, ";"))
			return nil
		})

	return r.done()
}

// tenantVerdict finds the tenant's SmtpSend session since a time and
// expects its certificate verdict line.
func (r *run) tenantVerdict(s *Step, w *world, since time.Time, want string) error {
	w.Tenant.flushLogs()
	sends, err := readSessions(w.Tenant.logDir(), "SmtpSend", since)
	if err != nil {
		return err
	}
	ss := lastWithCertificate(sends, "Remote certificate")
	if !s.expect(ss != nil, "no tenant SmtpSend session with on-premises' certificate") {
		return nil
	}
	s.evidence(prefixed("tenant SmtpSend", ss.tlsLines())...)
	s.expect(ss.contains(want), "the tenant's SmtpSend log lacks %q", want)
	return nil
}
