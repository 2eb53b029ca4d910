package node

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/queue"
)

// Outcome is the last delivery attempt through one next hop.
type Outcome struct {
	Outcome  outcome.Outcome
	Status   string // the reply, or the failure as the queue shows it
	Enhanced string // "4.7.320"; "" when the reply had none
	Time     time.Time
}

// Enhanced is the enhanced status code of an attempt's result: the
// failure's, or the one in the delivering reply.
func Enhanced(r queue.Result) string {
	if r.LastError != nil {
		return r.LastError.Enhanced
	}
	return lasterror.New(r.Status).Enhanced
}

// outcomes remembers the last delivery outcome per next hop for the mail
// flow map. It is written by the queue observer only: it observes delivery
// and never influences it.
type outcomes struct {
	mu   sync.Mutex
	last map[string]Outcome
}

func (o *outcomes) record(hop string, r queue.Result, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		o.last = map[string]Outcome{}
	}
	st := r.Status
	if r.LastError != nil {
		st = r.LastError.String()
	}
	o.last[strings.ToLower(hop)] = Outcome{Outcome: r.Outcome, Status: st, Enhanced: Enhanced(r), Time: at}
}

// LastOutcome is the last delivery outcome through hop (a send connector
// or HopLocal); ok is false before the first attempt.
func (s *Node) LastOutcome(hop string) (Outcome, bool) {
	s.outcomes.mu.Lock()
	defer s.outcomes.mu.Unlock()
	o, ok := s.outcomes.last[strings.ToLower(hop)]
	return o, ok
}

// CertificateUse is a certificate and the connectors that present it.
type CertificateUse struct {
	Cert *certs.Certificate
	Uses []ConnectorUse
}

// ConnectorUse is one connector presenting a certificate: a receive
// connector to the remote ranges it serves, or a send connector (as its
// client certificate).
type ConnectorUse struct {
	Kind, Connector string
	Ranges          []string
}

// CertificateUses lists every loaded certificate with the connectors that
// present it now (the live selection, not only pins).
func (s *Node) CertificateUses() []CertificateUse {
	rt := s.Runtime()
	var out []CertificateUse
	for _, c := range rt.Store.All() {
		u := CertificateUse{Cert: c}
		for _, rc := range rt.Recv.Connectors {
			if rc.Selection.Cert == c {
				ranges := rc.Config.RemoteIPRanges
				if len(ranges) == 0 {
					ranges = []string{"0.0.0.0/0", "::/0"}
				}
				u.Uses = append(u.Uses, ConnectorUse{Kind: "receive", Connector: rc.Config.Name, Ranges: ranges})
			}
		}
		for _, sc := range rt.Cfg.SendConnectors {
			if cc := s.ClientCertificate(sc.Name); cc == c {
				u.Uses = append(u.Uses, ConnectorUse{Kind: "send", Connector: sc.Name, Ranges: sc.AddressSpaces})
			}
		}
		out = append(out, u)
	}
	return out
}

// ClientCertificate is the certificate the send connector named presents
// when a next hop asks for one (pinned, or chosen by its FQDN), exactly as
// a delivery chooses it; nil for none or an unknown connector.
func (s *Node) ClientCertificate(connector string) *certs.Certificate {
	rt := s.Runtime()
	sc, ok := rt.Send[strings.ToLower(connector)]
	if !ok {
		return nil
	}
	return rt.Sender.SelectClient(sc, s.now()).Cert
}

// DroppedLogLines counts protocol log lines dropped because a log's buffer
// was full, by log ("receive", "send").
func (s *Node) DroppedLogLines() map[string]int64 {
	out := map[string]int64{}
	for name, w := range map[string]*protolog.Writer{"receive": s.recvLog, "send": s.sendLog} {
		if w != nil {
			out[name] = w.Dropped()
		}
	}
	return out
}

// Ready reports whether the node serves mail: started, listening, and not
// shutting down. The error says why not.
func (s *Node) Ready() error {
	if s.closing.Load() {
		return errors.New("shutting down: no longer accepting connections")
	}
	return nil
}
