package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// Options configure a lab run.
type Options struct {
	// Dir is the lab directory (certificates, configurations, data, logs).
	// It must be empty or absent. "" = a new temporary directory that Close
	// removes.
	Dir string
	// Logger receives the servers' own logs; nil = the file lab.log in Dir.
	Logger *slog.Logger
	// Observer sees every scenario and step as it completes, for a live
	// narrative; nil = none.
	Observer Observer
	// WaitTimeout bounds each wait for something observable (a deferral,
	// a delivery); default DefaultWaitTimeout.
	WaitTimeout time.Duration
}

// DefaultWaitTimeout bounds each wait. Deliveries on loopback take
// milliseconds; the margin is for loaded machines.
const DefaultWaitTimeout = 10 * time.Second

// Observer is told about progress as it happens.
type Observer interface {
	// Started is called once the lab directory exists, before any scenario.
	Started(dir string, temporary bool)
	ScenarioStarted(sc *Scenario)
	StepDone(sc *Scenario, st *Step)
	ScenarioDone(sc *Scenario)
}

// Lab is a finished (or running, until Close) lab: the report and the
// servers, which stay up until Close so they can be inspected.
type Lab struct {
	Report *Report

	dir     string
	temp    bool
	pki     *labpki.PKI
	log     *slog.Logger
	logFile *os.File
	obs     Observer
	wait    time.Duration
	worlds  []*world
	closers []func() // other things a scenario started (scenario 4's DNS)
}

// Run builds the lab PKI in the lab directory and plays every scenario.
// It returns an error only when the lab cannot be set up at all; a
// scenario that does not behave as expected is recorded in the Report
// (Report.OK false). Call Close to stop the servers and remove a temporary
// directory.
func Run(ctx context.Context, opts Options) (*Lab, error) {
	l := &Lab{Report: &Report{Scenarios: []*Scenario{}}, obs: opts.Observer, wait: opts.WaitTimeout}
	if l.wait <= 0 {
		l.wait = DefaultWaitTimeout
	}
	if err := l.makeDir(opts.Dir); err != nil {
		return nil, err
	}
	l.log = opts.Logger
	if l.log == nil {
		f, err := os.OpenFile(filepath.Join(l.dir, "lab.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("open lab log: %w", err)
		}
		l.logFile = f
		l.log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if l.obs != nil {
		l.obs.Started(l.dir, l.temp)
	}
	pki, err := labpki.New(l.dir, time.Now())
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("build the lab PKI: %w", err)
	}
	l.pki = pki
	for _, play := range []func(context.Context) *Scenario{l.scenario1, l.scenario2, l.scenario3, l.scenario4, l.scenario5} {
		if ctx.Err() != nil {
			break
		}
		l.Report.Scenarios = append(l.Report.Scenarios, play(ctx))
	}
	l.Report.settle()
	if !l.temp {
		l.Report.Dir = l.dir
	}
	return l, nil
}

func (l *Lab) makeDir(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "mailflow-lab-")
		if err != nil {
			return fmt.Errorf("create the lab directory: %w", err)
		}
		l.dir, l.temp = d, true
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("lab directory %s: %w", dir, err)
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return fmt.Errorf("create the lab directory: %w", err)
		}
	case err != nil:
		return fmt.Errorf("lab directory %s: %w", abs, err)
	case len(entries) > 0:
		return fmt.Errorf("lab directory %s is not empty: give a new or empty directory (the lab writes certificates, configurations, queues and logs there)", abs)
	}
	l.dir = abs
	return nil
}

// Dir is the lab directory.
func (l *Lab) Dir() string { return l.dir }

// Temporary reports whether Close removes the directory.
func (l *Lab) Temporary() bool { return l.temp }

// Keep makes Close leave the lab directory in place (a temporary one
// included) and records it in the report.
func (l *Lab) Keep() {
	l.temp = false
	l.Report.Dir = l.dir
}

// ServerInfo describes one running server, for --keep.
type ServerInfo struct {
	Scenario string `json:"scenario"`
	Role     string `json:"role"` // tenant, on-premises
	Config   string `json:"config"`
	SMTP     string `json:"smtp"`
	Relay    string `json:"relay,omitempty"`
	Submit   string `json:"submit,omitempty"` // Client Frontend (scenario 3)
	Admin    string `json:"admin"`
}

// Servers lists the servers still running.
func (l *Lab) Servers() []ServerInfo {
	var out []ServerInfo
	for _, w := range l.worlds {
		for _, in := range []*instance{w.Onprem, w.Tenant} {
			if in == nil || in.srv == nil {
				continue
			}
			out = append(out, ServerInfo{Scenario: w.Name, Role: in.Role, Config: in.Config, SMTP: in.SMTP, Relay: in.Relay, Submit: in.Submit, Admin: in.Admin.Base})
		}
	}
	return out
}

// PKI is the lab's certificate set.
func (l *Lab) PKI() *labpki.PKI { return l.pki }

// Close stops every server and removes a temporary lab directory (unless
// Keep was called).
func (l *Lab) Close() error {
	var err error
	for _, w := range l.worlds {
		err = errors.Join(err, w.close(context.Background()))
	}
	l.worlds = nil
	for _, c := range l.closers {
		c()
	}
	l.closers = nil
	if l.logFile != nil {
		err = errors.Join(err, l.logFile.Close())
		l.logFile = nil
	}
	if l.temp && l.dir != "" {
		err = errors.Join(err, os.RemoveAll(l.dir))
	}
	return err
}

// run plays one scenario's steps in order; after a step that did not
// behave as expected the rest are recorded as not run, since each builds
// on the state the previous one left.
type run struct {
	ctx     context.Context
	lab     *Lab
	sc      *Scenario
	stopped bool
}

func (l *Lab) newRun(ctx context.Context, sc *Scenario) *run {
	if l.obs != nil {
		l.obs.ScenarioStarted(sc)
	}
	return &run{ctx: ctx, lab: l, sc: sc}
}

// step runs fn as the next step and reports whether it behaved as
// expected.
func (r *run) step(name, expected string, fn func(s *Step) error) bool {
	s := &Step{Name: name, Expected: expected}
	switch {
	case r.stopped:
		s.finish(errors.New("not run: an earlier step did not behave as expected"))
	case r.ctx.Err() != nil:
		s.finish(fmt.Errorf("not run: %w", r.ctx.Err()))
	default:
		s.finish(fn(s))
	}
	r.stopped = r.stopped || !s.OK
	r.sc.Steps = append(r.sc.Steps, s)
	if r.lab.obs != nil {
		r.lab.obs.StepDone(r.sc, s)
	}
	return s.OK
}

// done settles the scenario and tells the observer.
func (r *run) done() *Scenario {
	r.sc.OK = len(r.sc.Steps) > 0
	for _, st := range r.sc.Steps {
		r.sc.OK = r.sc.OK && st.OK
	}
	if r.lab.obs != nil {
		r.lab.obs.ScenarioDone(r.sc)
	}
	return r.sc
}

// pollInterval is how often a wait looks again at the admin API.
const pollInterval = 20 * time.Millisecond

// waitTrace polls the message trace of in (the admin API) for messageID
// until done accepts the events, bounded by the lab's wait timeout.
func (r *run) waitTrace(in *instance, messageID, what string, done func([]tracking.Event) bool) ([]tracking.Event, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.lab.wait)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		evs, err := in.Admin.Trace(tracking.Filter{MessageID: messageID})
		if err != nil {
			return nil, fmt.Errorf("message trace on %s: %w", in.Role, err)
		}
		if done(evs) {
			return evs, nil
		}
		select {
		case <-ctx.Done():
			return evs, fmt.Errorf("no %s in the %s message trace within %s", what, in.Role, r.lab.wait)
		case <-tick.C:
		}
	}
}

// waitSession polls the protocol logs of kind ("SmtpReceive", "SmtpSend")
// of in, flushed first, until pick finds the session wanted, bounded by
// the lab's wait timeout. A session is logged by the server's own
// goroutine, so its last lines may lag behind what the peer has seen.
func (r *run) waitSession(in *instance, kind, what string, since time.Time, pick func([]*logSession) *logSession) (*logSession, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.lab.wait)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		in.flushLogs()
		all, err := readSessions(in.logDir(), kind, since)
		if err != nil {
			return nil, err
		}
		if s := pick(all); s != nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no %s in the %s %s log within %s", what, in.Role, kind, r.lab.wait)
		case <-tick.C:
		}
	}
}

// waitOutcome waits until the message has a tracking event of one of ids
// beyond the first `after` such events (so a retry's outcome is told from
// the first attempt's).
func (r *run) waitOutcome(in *instance, messageID string, after int, ids ...string) ([]tracking.Event, tracking.Event, error) {
	evs, err := r.waitTrace(in, messageID, fmt.Sprintf("%v event", ids), func(evs []tracking.Event) bool {
		n := 0
		for _, id := range ids {
			n += countEvents(evs, id)
		}
		return n > after
	})
	if err != nil {
		return evs, tracking.Event{}, err
	}
	last, _ := lastEvent(evs, ids...)
	return evs, last, nil
}

// outcomes counts a message's events that end an attempt.
func outcomes(evs []tracking.Event) int {
	return countEvents(evs, tracking.EventSend) + countEvents(evs, tracking.EventDefer) +
		countEvents(evs, tracking.EventFail) + countEvents(evs, tracking.EventDeliver)
}

var attemptEnds = []string{tracking.EventSend, tracking.EventDefer, tracking.EventFail, tracking.EventDeliver}

// connector finds a connector in an admin listing.
func connector(list []admin.ConnectorInfo, kind, name string) *admin.ConnectorInfo {
	for i := range list {
		if list[i].Kind == kind && list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}
