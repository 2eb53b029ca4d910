package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/dane"
	"github.com/mailflowhq/mailflow/internal/diag/explain"
	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/dnsres/dnstest"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// Scenario 4 is scenario 1's failure in its DANE form: contoso publishes a
// DNSSEC-signed TLSA record (3 1 1) for its MX, Exchange Online validates
// it, and a certificate renewal with a new key — without a TLSA update —
// makes every delivery defer with 450 4.7.323 tlsa-invalid. mailflow's
// renewal warning and probe show it; publishing the new record fixes it.
//
// The lab's DNS is an in-process server that plays the validating resolver
// (it sets the AD bit on contoso.com's answers) so the lab runs anywhere;
// the test suite runs the same flow through a real unbound over a zone
// signed with ldns-signzone.
const (
	scenario4Name   = "Scenario 4: DANE — a renewal with a new key breaks 450 4.7.323 tlsa-invalid"
	scenario4Report = "scenario 1's failure in its DANE form: Exchange Online validates the DNSSEC-signed TLSA records of a domain's MX, and a renewal with a new key breaks delivery"
)

func (l *Lab) scenario4(ctx context.Context) *Scenario {
	sc := &Scenario{
		Name: scenario4Name, FieldReport: scenario4Report,
		Summary: "the cloud delivers to contoso's MX under DANE; a renewal with a new key breaks it with 450 4.7.323 tlsa-invalid; mailflow cert import warns, the probe shows the mismatch and the record to publish; publishing it beside the old one and retrying delivers",
	}
	r := l.newRun(ctx, sc)
	pki := l.pki
	var (
		w        *world
		zone     *dnstest.Server
		resolver *dnsres.Resolver
		owner    string
		current  dane.Record
		sub      submission
		detail   string
	)

	r.step("Start contoso's MX and a DANE-validating tenant; publish the TLSA record mailflow prints",
		fmt.Sprintf("on-premises %q answers as the MX %s presenting CN=mail.contoso.com (thumbprint %s); the tenant resolves through a validating resolver and its connector %q delivers by MX with dane: opportunistic; the lab's DNS serves contoso.com (MX, A) and the 3 1 1 record of `mailflow cert tlsa`, DNSSEC-authentic",
			defaultFrontend, hybridFQDN, pki.Contoso.Thumbprint, tenantToOnprem),
		func(s *Step) error {
			var err error
			if zone, err = dnstest.Listen(); err != nil {
				return fmt.Errorf("start the lab's DNS: %w", err)
			}
			l.closers = append(l.closers, zone.Close)
			var df connectorView
			if w, df, err = l.startScenario(s, "scenario 4", "scenario4", worldShape{Configure: func(d *configData) {
				d.DANE, d.DNSResolver = true, zone.Addr
				d.FrontendFQDN, d.FrontendPin = hybridFQDN, pki.Contoso.Name()
			}}); err != nil {
				return err
			}
			s.expect(df.thumbprint() == pki.Contoso.Thumbprint, "%s presents %s, want CN=mail.contoso.com %s", defaultFrontend, df.thumbprint(), pki.Contoso.Thumbprint)
			rt := w.Onprem.srv.Runtime()
			recs, problems, err := dane.ConnectorRecords(rt.Cfg, rt.Store, defaultFrontend, dane.DefaultParams, time.Now())
			if err != nil {
				return err
			}
			if !s.expect(len(recs) == 1 && len(problems) == 0, "cert tlsa gave %d records, problems %v", len(recs), problems) {
				return nil
			}
			current, owner = recs[0], recs[0].Owner
			s.evidence("$ mailflow cert tlsa --config "+w.Onprem.Config+" --connector "+probe.ShellQuote(defaultFrontend), current.String())
			if err := zone.AddRecords(onpremDomain+". 300 IN MX 10 "+hybridFQDN+".", hybridFQDN+". 300 IN A 127.0.0.1",
				owner+" 300 IN TLSA "+current.TLSA.String()); err != nil {
				return err
			}
			zone.Secure(onpremDomain)
			s.evidence("[lab DNS, DNSSEC-authentic] "+onpremDomain+". MX 10 "+hybridFQDN+".", "[lab DNS, DNSSEC-authentic] "+hybridFQDN+". A 127.0.0.1",
				"[lab DNS, DNSSEC-authentic] "+owner+" TLSA "+current.TLSA.String())
			if resolver, err = dnsres.New(dnsres.Config{Servers: []string{zone.Addr}, Mode: dnsres.TrustAD, Timeout: 5 * time.Second}); err != nil {
				return err
			}
			s.observe("%s publishes %s", onpremDomain, current)
			return nil
		})

	r.step("The cloud delivers under DANE",
		fmt.Sprintf("the tenant finds %s by MX, matches its certificate against the TLSA record (SmtpSend: \"Remote certificate validation succeeded (DANE, matched TLSA 3 1 1 …)\") and delivers", hybridFQDN),
		func(s *Step) error {
			first, err := submit(ctx, clientSource, w.Tenant.SMTP, cloudUser, onpremUser, "scenario 4: mail under DANE")
			if err != nil {
				return err
			}
			since := time.Now().Add(-time.Minute)
			if d, err := r.expectDelivered(s, w.Tenant, w.Onprem, first, 0); err != nil || d == nil {
				return err
			}
			return r.expectSendLog(s, w, since, "Remote certificate validation succeeded (DANE, matched TLSA "+current.TLSA.String())
		})

	r.step("Renew the certificate with a new key: mailflow cert import warns",
		fmt.Sprintf("on-premises imports the renewal of CN=mail.contoso.com (new key, thumbprint %s); %s picks it up (same issuer and subject) and the import warns that its key matches none of the TLSA records at %s, with the record to publish and the rollover steps", pki.Renewed.Thumbprint, defaultFrontend, owner),
		func(s *Step) error {
			// The server's renewal guard compares the new key with the
			// published TLSA records (through its dns resolvers) and
			// answers the import with the warning.
			res, err := importCertificate(s, "on-premises", w.Onprem.Admin, pki.RenewedFile, "")
			if err != nil {
				return fmt.Errorf("import the renewal: %w", err)
			}
			var warnings []string
			for _, f := range res.Findings {
				if f.Check == lifecycle.CheckDANE {
					wl := "WARNING: " + f.Problem + "\n" + f.Fix
					warnings = append(warnings, wl)
					s.evidence(prefixed("mailflow cert import", strings.Split(strings.TrimRight(wl, "\n"), "\n"))...)
				}
			}
			s.expect(len(warnings) == 1 && strings.Contains(strings.Join(warnings, ""), "450 4.7.323 tlsa-invalid"), "the import gave %d warnings, want one naming 450 4.7.323", len(warnings))
			s.observe("the renewal (thumbprint %s) is presented and the import warned: %d warning(s)", pki.Renewed.Thumbprint, len(warnings))
			return nil
		})

	r.step("The cloud defers: 450 4.7.323 tlsa-invalid",
		"a DEFER in the tenant's trace with {LED=450 4.7.323 tlsa-invalid …} naming the TLSA record seen and the record of the presented key; the message stays queued",
		func(s *Step) error {
			var err error
			if sub, err = submit(ctx, clientSource, w.Tenant.SMTP, cloudUser, onpremUser, "scenario 4: after the renewal"); err != nil {
				return err
			}
			evs, last, err := r.waitOutcome(w.Tenant, sub.MessageID, 0, attemptEnds...)
			s.evidence(traceLines("tenant", evs)...)
			if err != nil {
				return err
			}
			detail = status(last)
			s.expect(last.EventID == tracking.EventDefer, "the attempt ended %s, want DEFER", last.EventID)
			s.expect(strings.Contains(detail, tlscheck.StatusTLSAInvalid) && strings.Contains(detail, current.TLSA.String()),
				"the deferral reads %q, want %s with the TLSA record seen", detail, tlscheck.StatusTLSAInvalid)
			ex := explain.Text(detail)
			s.evidence("explain: "+ex.Title, "explain, see also: "+strings.Join(ex.SeeAlso, " | "))
			s.observe("DEFER %s", detail)
			return nil
		})

	var fixRecord string
	r.step("The probe shows the mismatch and the record to publish",
		fmt.Sprintf("mailflow probe %s:%d --resolver … reports the TLSA record at %s (secure), that the presented chain matches none, 450 4.7.323, and the fix: publish the renewed key's record beside the old one", hybridFQDN, w.portOnprem(), owner),
		func(s *Step) error {
			target := fmt.Sprintf("%s:%d", hybridFQDN, w.Ports.Onprem)
			rep := probe.Run(ctx, probe.Options{Target: target, DNS: resolver, Level: tlscheck.EncryptionOnly, Source: tenantSource})
			s.evidence(fmt.Sprintf("$ mailflow probe %s --resolver %s --policy EncryptionOnly --source %s", target, zone.Addr, tenantSource),
				fmt.Sprintf("[mailflow probe] %s %s", strings.ToUpper(rep.Verdict.Result), rep.Verdict.Status))
			if d := rep.DNS; d != nil && d.TLSA != nil {
				s.evidence(fmt.Sprintf("[mailflow probe] TLSA %s (%s): %s", d.TLSA.Owner, d.TLSA.Security, strings.Join(d.TLSA.Records, "; ")),
					fmt.Sprintf("[mailflow probe] presented key: %s IN TLSA %s", d.TLSA.Owner, d.TLSA.Presented))
			}
			if rep.Fix != nil {
				for _, st := range rep.Fix.Steps {
					s.evidence("[mailflow probe] fix: " + st)
				}
			}
			s.expect(rep.Verdict.Status == tlscheck.StatusTLSAInvalid, "the probe says %q, want %s", rep.Verdict.Status, tlscheck.StatusTLSAInvalid)
			if s.expect(rep.DNS != nil && rep.DNS.TLSA != nil && rep.DNS.TLSA.Presented != "", "the probe reports no TLSA information") {
				fixRecord = rep.DNS.TLSA.Presented
			}
			s.observe("the probe fails the MX with %s and names %s IN TLSA %s", rep.Verdict.Status, owner, fixRecord)
			return nil
		})

	r.step("Publish the new record beside the old one and retry: delivered",
		"the lab's DNS adds the renewed key's 3 1 1 record (the old one stays until its TTL passes, as the rollover says); Retry-Queue on the tenant delivers, matched against the new record",
		func(s *Step) error {
			if err := zone.AddRecords(owner + " 300 IN TLSA " + fixRecord); err != nil {
				return err
			}
			s.evidence("[lab DNS, DNSSEC-authentic] + " + owner + " TLSA " + fixRecord)
			before, err := w.Tenant.Admin.Trace(tracking.Filter{MessageID: sub.MessageID})
			if err != nil {
				return err
			}
			since := time.Now().Add(-time.Second)
			if err := w.Tenant.Admin.Retry(sub.QueueID); err != nil {
				return fmt.Errorf("retry %s on the tenant: %w", sub.QueueID, err)
			}
			s.evidence(fmt.Sprintf("[tenant admin] POST /api/v1/queue/retry?id=%s → 200", sub.QueueID))
			d, err := r.expectDelivered(s, w.Tenant, w.Onprem, sub, outcomes(before))
			if err != nil || d == nil {
				return err
			}
			s.expect(d.sent.Thumbprint == pki.Renewed.Thumbprint, "on-premises presented %s, want the renewal %s", d.sent.Thumbprint, pki.Renewed.Thumbprint)
			return r.expectSendLog(s, w, since, "Remote certificate validation succeeded (DANE, matched TLSA "+fixRecord)
		})

	return r.done()
}

// expectSendLog checks that a tenant SmtpSend session since then logged
// the line, and adds that session's TLS lines as evidence.
func (r *run) expectSendLog(s *Step, w *world, since time.Time, line string) error {
	w.Tenant.flushLogs()
	sends, err := readSessions(w.Tenant.logDir(), "SmtpSend", since)
	if err != nil {
		return err
	}
	for i := len(sends) - 1; i >= 0; i-- {
		if sends[i].contains(line) {
			s.evidence(prefixed("tenant SmtpSend", sends[i].tlsLines())...)
			return nil
		}
	}
	s.expect(false, "no tenant SmtpSend session logged %q", line)
	return nil
}

func (w *world) portOnprem() int {
	if w == nil {
		return 0
	}
	return w.Ports.Onprem
}
