package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/loopguard"
	"github.com/mailflowhq/mailflow/internal/mtasts"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlsrpt"
)

// The DNS-published TLS policies the node adds to its sender: MTA-STS as a
// policy source (its cache in <data_dir>/mta-sts), and TLS-RPT as the
// observer of every policy outcome (counts in <data_dir>/tlsrpt, reports
// sent once a day through the node's own queue).

// reportInterval is how often the node looks for finished days to report.
const reportInterval = time.Hour

// MTASTSDir and TLSRPTDir are where the node keeps MTA-STS policies and
// TLS-RPT counts.
func MTASTSDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir(), "mta-sts") }
func TLSRPTDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir(), "tlsrpt") }

// usesDNSSection reports whether the configuration's dns section replaces
// the system resolver.
func usesDNSSection(cfg *config.Config) bool {
	return cfg.DNS.TrustAD() || len(cfg.DNS.Resolvers) > 0
}

// TXTResolver is the DNS of MTA-STS and TLS-RPT discovery for a
// configuration, for commands that run without a server (mailflow tlsrpt
// show, mailflow probe): the dns section's resolver when configured, else
// the system's.
func TXTResolver(cfg *config.Config) (mtasts.Resolver, error) {
	if !usesDNSSection(cfg) {
		return loopguard.System(), nil
	}
	r, err := dnsres.New(cfg.DNS.ResolverConfig())
	if err != nil {
		return nil, fmt.Errorf("dns section of %s: %w", cfg.Path, err)
	}
	return mtasts.DNS(r), nil
}

// txtResolver is the DNS of MTA-STS and TLS-RPT discovery: the dns
// section's resolver when configured, as the sender uses it, else the
// system's.
func txtResolver(rt *Runtime) mtasts.Resolver {
	if r := rt.SenderDNS(); r != nil {
		return mtasts.DNS(r)
	}
	return loopguard.System()
}

// rptObserver records the sender's policy outcomes for TLS-RPT.
type rptObserver struct{ store *tlsrpt.Store }

// Only sessions with the domain's own MX hosts are recorded: a smart host
// (even one with TLSA records) relays for many domains, and its sessions
// are none of the recipient domain's business.
func (o rptObserver) PolicyOutcome(p send.PolicyOutcome) {
	if !p.FromMX {
		return
	}
	o.store.Record(OutcomeForReport(p))
}

// OutcomeForReport maps a sender policy outcome to a TLS-RPT outcome: an
// MTA-STS policy's mx patterns become the report's mx-host.
func OutcomeForReport(p send.PolicyOutcome) tlsrpt.Outcome {
	o := tlsrpt.Outcome{
		Time: p.Time, PolicyDomain: p.Domain, PolicyType: string(p.Type), PolicyString: p.Strings,
		SendingMTAIP: p.SendingIP, ReceivingMXHostname: p.MXHost, ReceivingIP: p.ReceivingIP,
	}
	if !p.Success {
		o.ResultType = p.ResultType
		if o.ResultType == "" {
			o.ResultType = tlsrpt.ResultValidationFailure
		}
		o.AdditionalInfo = p.Detail
	}
	if p.Type == send.PolicySTS {
		for _, l := range p.Strings {
			if v, ok := strings.CutPrefix(l, "mx:"); ok {
				o.MXHost = append(o.MXHost, strings.TrimSpace(v))
			}
		}
	}
	return o
}

// withPolicies gives the runtime the MTA-STS policy source and the
// TLS-RPT observer (the node hands both to its sender), and points the
// policy fetcher at the runtime's trust store and resolver.
func (s *Node) withPolicies(rt *Runtime) {
	if s.sts == nil {
		return
	}
	s.sts.SetFetcher(mtasts.Fetcher{Resolver: txtResolver(rt), Roots: rt.Roots, Port: s.opts.MTASTSPort, Now: s.clock.Now})
	obs := rptObserver{s.rpt}
	rt.Observer = obs
	rt.Policies = []send.PolicySource{&mtasts.Source{Client: s.sts, Observer: obs}}
}

// reportLoop sends the reports of finished days at start and then every
// reportInterval, until ctx ends.
func (s *Node) reportLoop(ctx context.Context) {
	defer close(s.reportDone)
	for {
		s.SendTLSReports(ctx)
		t := s.clock.NewTimer(reportInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// SendTLSReports sends the TLS-RPT reports of the days before today (UTC)
// now; it does nothing when tls_rpt.send_reports is false.
func (s *Node) SendTLSReports(ctx context.Context) []tlsrpt.Sent {
	rt := s.Runtime()
	t := rt.Cfg.TLSRPT
	if !t.Sending() || t.From == "" {
		return nil
	}
	// One run at a time: the daily loop and an explicit call must not
	// both send a day's report.
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	r := &tlsrpt.Reporter{
		Store: s.rpt, Resolver: txtResolver(rt), Queue: s.queue, From: t.From, Now: s.clock.Now, Logger: s.log,
		Meta: tlsrpt.Meta{OrganizationName: t.OrganizationName, ContactInfo: t.ContactInfo, Submitter: rt.Cfg.Server.FQDN},
	}
	return r.SendDue(ctx)
}

// TLSReports is the node's TLS-RPT store (mailflow tlsrpt show).
func (s *Node) TLSReports() *tlsrpt.Store { return s.rpt }
