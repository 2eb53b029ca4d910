package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/dane"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/lifecycle/acme"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// ExpiryCheckInterval is how often the expiry of the certificates in use
// is checked after start-up (Exchange checks daily too).
const ExpiryCheckInterval = 24 * time.Hour

// startLifecycle starts the expiry monitor and one ACME manager per acme:
// certificate entry. ACME entries are read at start-up; a change to them
// takes a restart.
func (s *Node) startLifecycle(ctx context.Context) error {
	rt := s.Runtime()
	for i, ref := range rt.Cfg.Certificates {
		if !ref.ACME.Enabled() {
			continue
		}
		file := rt.Cfg.Resolve(ref.File)
		entry := fmt.Sprintf("certificates[%d]", i)
		m, err := acme.New(acme.Options{
			Entry: entry, ACME: ref.ACME, File: file,
			StateDir: filepath.Join(rt.Cfg.DataDir(), "acme"),
			Roots:    rt.Roots, Clock: s.clock, Logger: s.log,
			Install: func(c *certs.Certificate) error { return s.InstallCertificate(file, c) },
			Record:  s.trackCertificate,
		})
		if err != nil {
			return err
		}
		s.acme = append(s.acme, m)
		s.bg.Add(1)
		go func() { defer s.bg.Done(); m.Run(ctx) }()
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		for {
			// The next check is armed before this one runs, so whoever
			// sees this check's log lines may move the clock on at once.
			t := s.clock.NewTimer(ExpiryCheckInterval)
			s.CheckExpiry()
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
	}()
	return nil
}

// ACMEManagers are the managers of the acme: entries (tests, status).
func (s *Node) ACMEManagers() []*acme.Manager { return s.acme }

// CheckExpiry logs, like Exchange's events 12017 and 12018, a warning for
// every certificate a connector uses that expires within
// server.certificate_expiry_warning and an error for one that has
// expired, and records them in the tracking log.
func (s *Node) CheckExpiry() lifecycle.Findings {
	rt := s.Runtime()
	g := rt.Guard(s.now())
	fs := g.Expiry(time.Duration(rt.Cfg.ExpiryWarning()))
	for _, f := range fs {
		event := 12017
		if f.Severity == lifecycle.SevError {
			event = 12018
		}
		attrs := []any{"event", event, "thumbprint", f.Thumbprint, "connectors", f.Connector, "fix", f.Fix}
		if f.Severity == lifecycle.SevError {
			s.log.Error(f.Problem, attrs...)
		} else {
			s.log.Warn(f.Problem, attrs...)
		}
		var c *certs.Certificate
		if rt.Store != nil {
			c = rt.Store.FindThumbprint(f.Thumbprint)
		}
		step := "expiring"
		if event == 12018 {
			step = "expired"
		}
		s.trackCertificate(step, f.Connector, c, f.Problem)
	}
	return fs
}

// ErrRefusedByGuard is what the renewal guard's refusal of a certificate
// (a *lifecycle.RefusedError) matches with errors.Is.
var ErrRefusedByGuard = lifecycle.ErrRefused

// InstallCertificate makes c the content of file (a certificate entry of
// the configuration) and applies it live, after the renewal guard
// accepted it: sessions in flight keep the certificate they negotiated. A
// refusal logs every finding with its fix and changes nothing; so does a
// configuration that no longer builds with the new file (the old file is
// put back).
func (s *Node) InstallCertificate(file string, c *certs.Certificate) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	rt := s.Runtime()
	g := rt.Guard(s.now())
	var prev *certs.Certificate
	for _, o := range rt.Store.All() {
		if sameFile(o.Source, file) {
			prev = o
		}
	}
	fs, _ := g.AdmitReplacing(c, prev)
	if err := s.admitted(c, fs, false, "acme", false); err != nil {
		return err
	}
	old, oldErr := os.ReadFile(file)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	if err := certs.WritePEM(file, c); err != nil {
		return err
	}
	restore := func() {
		if oldErr == nil {
			certs.WriteFileAtomic(file, old, 0o600)
		} else {
			os.Remove(file)
		}
	}
	next, err := Build(s.path, s.now())
	if err != nil {
		restore()
		return fmt.Errorf("certificate %s: the configuration does not build with it: %w", c.Thumbprint, err)
	}
	if err := s.apply(next); err != nil {
		restore()
		return err
	}
	return nil
}

// trackCertificate records a certificate lifecycle step in the message
// tracking log as an AGENTINFO event (the event id Exchange uses for
// agent information), the step and certificate in custom-data.
func (s *Node) trackCertificate(step, where string, c *certs.Certificate, detail string) {
	if s.track == nil {
		return
	}
	data := "S:Certificate=" + step + ";Where=" + where
	if c != nil {
		data += fmt.Sprintf(";Thumbprint=%s;Subject=%s;Issuer=%s;NotAfter=%s", c.Thumbprint, c.Subject, c.Issuer, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if detail != "" {
		data += ";Detail=" + detail
	}
	s.track.Log(tracking.Event{
		Time: s.now(), ServerHostname: s.Runtime().Cfg.Server.FQDN,
		Source: tracking.SourceAgent, EventID: EventAgentInfo, CustomData: data,
	})
}

// EventAgentInfo is the tracking event id of certificate lifecycle
// records.
const EventAgentInfo = "AGENTINFO"

// Guard is the renewal guard for this runtime: its configuration,
// certificates and trust, at now. Every caller (cert import, cert check,
// ACME installs, the expiry monitor, the lab) builds it here, so a check
// added to Extra applies everywhere at once. The DANE TLSA comparison is
// one, when the configuration names dns resolvers: a renewal must not
// query whatever resolver the machine has by surprise.
func (rt *Runtime) Guard(now time.Time) lifecycle.Guard {
	g := lifecycle.Guard{Cfg: rt.Cfg, Store: rt.Store, Roots: rt.Roots, Now: now}
	if rt.DNS != nil && len(rt.Cfg.DNS.Resolvers) > 0 {
		cfgPath := rt.Cfg.Path
		g.Extra = append(g.Extra, dane.GuardCheck(rt.DNS, rt.Cfg, dane.DefaultParams, func(tp string) string {
			return fmt.Sprintf("mailflow cert remove %s --config %s (the previous certificate is presented again)", tp, cfgPath)
		}))
	}
	return g
}
