package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/diag/explain"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// Scenario 1 is the first field report: Exchange Online's outbound
// connector to on-premises (DomainValidation of mail.contoso.com) defers
// with 450 4.7.320 SubjectMismatch because Default Frontend has no
// TlsCertificateName and presents the self-signed CN=SERVER1 certificate;
// pinning the installed CA-issued certificate fixes it.
const (
	scenario1Name   = "Scenario 1: 450 4.7.320 SubjectMismatch from Default Frontend's self-signed certificate"
	scenario1Report = `"Mail not routing to on-premise Exchange 2013 environment from O365 with 450 4.7.320 Certificate validation failed error"`
)

func (l *Lab) scenario1(ctx context.Context) *Scenario {
	sc := &Scenario{
		Name: scenario1Name, FieldReport: scenario1Report,
		Summary: "the cloud defers mail for on-premises until Default Frontend presents the certificate that holds mail.contoso.com; pinned live, the retry delivers",
	}
	r := l.newRun(ctx, sc)
	pki := l.pki
	var (
		w      *world
		sub    submission
		detail string // the DEFER's recipient status: {LED=…};{MSG=…};…
		pin    string
	)

	r.step("Start the tenant and the on-premises server",
		fmt.Sprintf("both listen on loopback; on-premises %q has no TlsCertificateName and presents the self-signed CN=SERVER1 certificate (found by its FQDN %s); the tenant's connector %q requires DomainValidation of %s",
			defaultFrontend, onpremFQDN, tenantToOnprem, hybridFQDN),
		func(s *Step) error {
			var df connectorView
			var err error
			if w, df, err = l.startScenario(s, "scenario 1", "scenario1", worldShape{}); err != nil {
				return err
			}
			s.expect(df.info.Pinned == "", "%s has TlsCertificateName %q, want none", defaultFrontend, df.info.Pinned)
			s.expect(df.thumbprint() == pki.Server1.Thumbprint, "%s presents %s, want the self-signed SERVER1 certificate %s", defaultFrontend, df.thumbprint(), pki.Server1.Thumbprint)
			out, err := describeSend(w.Tenant, tenantToOnprem)
			if err != nil {
				return err
			}
			s.evidence(out.line)
			s.expect(strings.EqualFold(out.info.AuthLevel, "DomainValidation") && out.info.TLSDomain == hybridFQDN,
				"%s has TlsAuthLevel %s TlsDomain %s", tenantToOnprem, out.info.AuthLevel, out.info.TLSDomain)
			s.observe("on-premises presents %s on %s; the tenant validates %s", df.cert(), defaultFrontend, hybridFQDN)
			return nil
		})

	r.step("A cloud user sends to an on-premises mailbox",
		fmt.Sprintf("the tenant's relay connector accepts the message from %s (250 2.6.0, queued) for %s", clientSource, onpremUser),
		func(s *Step) error {
			var err error
			sub, err = submit(ctx, clientSource, w.Tenant.SMTP, cloudUser, onpremUser, "scenario 1: mail from the cloud to on-premises")
			s.evidence(sub.Transcript...)
			if err != nil {
				return err
			}
			s.expect(strings.HasPrefix(sub.Reply, "250") && sub.QueueID != "", "DATA answered %q without a queue id", sub.Reply)
			s.observe("the tenant queued it as %s: %s", sub.QueueID, sub.Reply)
			return nil
		})

	r.step("The tenant's outbound connector defers it: 450 4.7.320 SubjectMismatch",
		"a DEFER in the tenant's message trace with {LED=450 4.7.320 Certificate validation failed … SubjectMismatch …}, the message left queued for retry",
		func(s *Step) error {
			evs, last, err := r.waitOutcome(w.Tenant, sub.MessageID, 0, attemptEnds...)
			s.evidence(traceLines("tenant", evs)...)
			if err != nil {
				return err
			}
			detail = status(last)
			s.expect(last.EventID == tracking.EventDefer, "the first attempt ended %s, want DEFER", last.EventID)
			s.expect(strings.Contains(detail, "450 4.7.320") && strings.Contains(detail, "SubjectMismatch"),
				"the deferral reads %q, want 450 4.7.320 … SubjectMismatch", detail)
			q, err := w.Tenant.Admin.Queue()
			if err != nil {
				return err
			}
			rc, ok := queuedRecipient(q, sub.QueueID, onpremUser)
			if s.expect(ok, "message %s is not in the tenant's queue", sub.QueueID) {
				s.evidence(fmt.Sprintf("[tenant queue] %s %s state=%s attempts=%d next=%s lasterror=%s",
					sub.QueueID, rc.Addr, rc.State, rc.Attempts, rc.NextAttempt.UTC().Format(time.RFC3339), rc.LastError.String()))
				s.expect(rc.State == queue.StateRetry, "recipient state %s, want Retry", rc.State)
			}
			s.observe("DEFER %s", detail)
			return nil
		})

	r.step("On-premises' SmtpReceive log shows the certificate Default Frontend sent",
		fmt.Sprintf("the session from %s on %s logs Sending certificate with subject CN=SERVER1 (thumbprint %s), then the failed TLS negotiation", tenantSource, defaultFrontend, pki.Server1.Thumbprint),
		func(s *Step) error {
			// Wait for the session to end: its last lines (the failed
			// negotiation) are written after the tenant has given up.
			sess, err := r.waitSession(w.Onprem, "SmtpReceive", "finished session from "+tenantSource+" with a Sending certificate line", time.Time{},
				func(all []*logSession) *logSession {
					s := lastWithCertificate(sessionsFrom(all, tenantSource, defaultFrontend), "Sending certificate")
					if s == nil || !s.ended() {
						return nil
					}
					return s
				})
			if err != nil {
				return err
			}
			s.expect(sess.contains("TLS negotiation failed"), "the session does not log the failed TLS negotiation")
			s.evidence(prefixed("on-premises SmtpReceive", sess.tlsLines())...)
			c, _ := sess.certificate("Sending certificate")
			s.expect(c.Subject == "CN=SERVER1", "the log shows subject %q, want CN=SERVER1", c.Subject)
			s.expect(c.Thumbprint == pki.Server1.Thumbprint, "the log shows thumbprint %s, want %s", c.Thumbprint, pki.Server1.Thumbprint)
			s.observe("%s (session %s) sent %s, thumbprint %s, SANs %s", sess.Connector, sess.ID, c.Subject, c.Thumbprint, strings.Join(c.SANs, ";"))
			return nil
		})

	r.step("Diagnose: explain the error and find the certificate to pin",
		fmt.Sprintf("mailflow explain reads SubjectMismatch (expected %s, presented CN=SERVER1); of the installed certificates the CA-issued CN=mail.contoso.com (thumbprint %s) holds %s and is the one to pin",
			hybridFQDN, pki.Contoso.Thumbprint, hybridFQDN),
		func(s *Step) error {
			ex := explain.Text(detail)
			s.evidence("explain: "+ex.Title, "cause: "+ex.Cause)
			for _, f := range ex.Fix {
				s.evidence("fix: " + f)
			}
			s.expect(ex.Recognised && ex.Reason == "SubjectMismatch", "explain recognised=%v reason=%q, want SubjectMismatch", ex.Recognised, ex.Reason)
			want := ex.Fields["ExpectedSubject"]
			s.expect(want == hybridFQDN, "the error names expected subject %q, want %s", want, hybridFQDN)
			s.expect(ex.Fields["Thumbprint"] == pki.Server1.Thumbprint, "the error names thumbprint %q, want SERVER1's %s", ex.Fields["Thumbprint"], pki.Server1.Thumbprint)
			if want == "" {
				want = hybridFQDN
			}
			rec := recommend(w, want)
			s.evidence(rec.evidence...)
			if rec.cert == nil {
				return fmt.Errorf("no installed certificate holds %s", want)
			}
			pin = rec.cert.Name()
			s.expect(rec.cert.Thumbprint == pki.Contoso.Thumbprint, "the recommendation is %s, want CN=mail.contoso.com %s", rec.cert.Thumbprint, pki.Contoso.Thumbprint)
			s.evidence(
				fmt.Sprintf(`Exchange:  Get-ReceiveConnector "%s" | Set-ReceiveConnector -TlsCertificateName "%s"`, defaultFrontendID, pin),
				fmt.Sprintf(`mailflow:  mailflow connector set "%s" --config %s --tls-certificate-name "%s"`, defaultFrontend, w.Onprem.Config, pin))
			s.observe("pin %s on %s: %s", pin, defaultFrontend, describe(rec.cert))
			return nil
		})

	r.step("Apply the fix live: pin the certificate on Default Frontend",
		fmt.Sprintf("the admin API changes %s (no restart): it now presents CN=mail.contoso.com (thumbprint %s) to new sessions from %s", defaultFrontend, pki.Contoso.Thumbprint, tenantSource),
		func(s *Step) error {
			list, err := w.Onprem.Admin.SetConnector("receive", defaultFrontend, map[string]any{"tls_certificate_name": pin})
			if err != nil {
				return fmt.Errorf("set tls_certificate_name on %s: %w", defaultFrontend, err)
			}
			s.evidence(fmt.Sprintf("[on-premises admin] PATCH /api/v1/connectors/receive/%s {\"fields\":{\"tls_certificate_name\":%q}} → 200", defaultFrontend, pin))
			if df := connector(list, "receive", defaultFrontend); s.expect(df != nil && df.Certificate != nil, "%s missing from the answer", defaultFrontend) {
				s.evidence(receiveLine(df))
				s.expect(df.Certificate.Thumbprint == pki.Contoso.Thumbprint, "%s now presents %s", defaultFrontend, df.Certificate.Thumbprint)
			}
			s.evidence(fileLines(w.Onprem.Config, "tls_certificate_name")...)
			p, err := probeCertificate(ctx, tenantSource, w.Onprem.SMTP)
			if err != nil {
				return err
			}
			s.evidence(fmt.Sprintf("[probe from %s] %s; STARTTLS presents %s", tenantSource, p.Banner, describe(p.Cert)))
			s.expect(p.Cert.Thumbprint == pki.Contoso.Thumbprint, "a new session gets %s, want %s", p.Cert.Thumbprint, pki.Contoso.Thumbprint)
			s.observe("a new session from %s gets %s", tenantSource, describe(p.Cert))
			return nil
		})

	r.step("Retry the queue: the message is delivered",
		"Retry-Queue on the tenant: the tenant's trace shows SEND (250 from on-premises), on-premises shows Sending certificate CN=mail.contoso.com, RECEIVE and DELIVER, and the message is in the mailbox",
		func(s *Step) error {
			before, err := w.Tenant.Admin.Trace(tracking.Filter{MessageID: sub.MessageID})
			if err != nil {
				return err
			}
			if err := w.Tenant.Admin.Retry(sub.QueueID); err != nil {
				return fmt.Errorf("retry %s on the tenant: %w", sub.QueueID, err)
			}
			s.evidence(fmt.Sprintf("[tenant admin] POST /api/v1/queue/retry?id=%s → 200", sub.QueueID))
			d, err := r.expectDelivered(s, w.Tenant, w.Onprem, sub, outcomes(before))
			if err != nil || d == nil {
				return err
			}
			s.expect(strings.HasSuffix(d.sess.Connector, defaultFrontend), "on-premises received it on %s, want %s", d.sess.Connector, defaultFrontendID)
			s.expect(d.sent.Thumbprint == pki.Contoso.Thumbprint, "on-premises presented %s, want CN=mail.contoso.com %s", d.sent.Thumbprint, pki.Contoso.Thumbprint)
			return nil
		})

	return r.done()
}

// lastWithCertificate returns the last session that logged event.
func lastWithCertificate(list []*logSession, event string) *logSession {
	for i := len(list) - 1; i >= 0; i-- {
		if _, ok := list[i].certificate(event); ok {
			return list[i]
		}
	}
	return nil
}

// queuedRecipient finds a recipient of a queued message in the admin
// API's queue listing.
func queuedRecipient(list []adminQueued, id, rcpt string) (queue.Recipient, bool) {
	for _, m := range list {
		if m.ID != id {
			continue
		}
		for _, r := range m.Recipients {
			if strings.EqualFold(r.Addr, rcpt) {
				return r, true
			}
		}
	}
	return queue.Recipient{}, false
}

// findMailbox returns the mailbox file that holds the Message-ID, looking
// where local delivery writes: <data_dir>/mailboxes/<domain>/<local>/new/.
func findMailbox(in *instance, messageID string) (string, error) {
	dir := filepath.Join(in.srv.Runtime().Cfg.DataDir(), "mailboxes")
	files, err := filepath.Glob(filepath.Join(dir, "*", "*", "new", "*.eml"))
	if err != nil {
		return "", err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), messageID) {
			return f, nil
		}
	}
	return "", fmt.Errorf("no mailbox file under %s holds %s", dir, messageID)
}

// fileLines returns the lines of a file holding text, as "file:line: …".
func fileLines(path, text string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	var out []string
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, text) {
			out = append(out, fmt.Sprintf("%s:%d: %s", filepath.Base(path), i+1, strings.TrimSpace(l)))
		}
	}
	return out
}
