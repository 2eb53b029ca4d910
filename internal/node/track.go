package node

import (
	"net"

	"github.com/mailflowhq/mailflow/internal/config"

	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/receive"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

// observer turns queue events into message tracking records. Tracking
// observes delivery; it never influences it.
type observer struct{ s *Node }

func (o *observer) Observe(ev queue.Event) {
	rt := o.s.Runtime()
	m := ev.Msg
	e := tracking.Event{
		Time:              ev.Time,
		ServerHostname:    rt.Cfg.Server.FQDN,
		EventID:           ev.Kind,
		InternalMessageID: m.ID,
		MessageID:         m.Env.MessageID,
		Subject:           m.Env.Subject,
		Sender:            m.Env.From,
		ReturnPath:        m.Env.From,
		TotalBytes:        m.Env.Size,
		RecipientCount:    len(m.Recipients),
		Source:            tracking.SourceSMTP,
	}
	if ev.Rcpt != "" {
		e.Recipients = []string{ev.Rcpt}
	}
	switch ev.Kind {
	case tracking.EventDeliver:
		e.Source = tracking.SourceStoreDriver
	case tracking.EventDSN:
		e.Source = tracking.SourceDSN
	case tracking.EventExpire, tracking.EventRemove:
		e.Source = tracking.SourceQueue
	}
	if f := ev.Result.LastError; f != nil {
		e.RecipientStatus = []string{f.String()}
	} else if ev.Result.Status != "" {
		e.RecipientStatus = []string{ev.Result.Status}
	}
	e.ServerIP = ev.Result.RemoteIP
	if ev.Result.RemoteHost != "" && ev.Kind == tracking.EventSend {
		e.ServerHostname = ev.Result.RemoteHost
	}
	e.CustomData = nodeData(ev.Node)
	if t := ev.Result.TLS; t != "" && ev.Kind == tracking.EventSend {
		// One record per message: the verdict of the connection it went
		// over, whether that connection was new or kept.
		if e.CustomData == "" {
			e.CustomData = "S:" + t
		} else {
			e.CustomData += ";" + t
		}
	}
	o.s.track.Log(e)
	switch ev.Kind {
	case queue.EventSend, queue.EventDeliver, queue.EventDefer, queue.EventFail:
		if hop := ev.Result.Route; hop != "" {
			o.s.outcomes.record(hop, ev.Result, ev.Time)
		}
	}
	if next := o.s.opts.Observer; next != nil {
		next.Observe(ev)
	}
}

// nodeData names, in the custom-data column, the node that recorded an
// event when several nodes share the queue ("S:Node=EX1"); empty otherwise.
func nodeData(node string) string {
	if node == "" {
		return ""
	}
	return "S:Node=" + node
}

func (s *Node) trackReceive(id string, env queue.Envelope) {
	rt := s.Runtime()
	host, _, _ := net.SplitHostPort(env.RemoteAddr)
	// Exchange marks what an authenticated user submits as Originating.
	dir, sourceContext := "Incoming", ""
	if env.AuthUser != "" {
		dir, sourceContext = "Originating", "AuthenticatedUser="+env.AuthUser
	}
	s.track.Log(tracking.Event{
		SourceContext:     sourceContext,
		Time:              env.ReceivedAt,
		ClientIP:          host,
		ClientHostname:    env.HeloName,
		ServerHostname:    rt.Cfg.Server.FQDN,
		ConnectorID:       env.ConnectorID,
		Source:            tracking.SourceSMTP,
		EventID:           tracking.EventReceive,
		InternalMessageID: id,
		MessageID:         env.MessageID,
		Recipients:        env.To,
		TotalBytes:        env.Size,
		RecipientCount:    len(env.To),
		Subject:           env.Subject,
		Sender:            env.From,
		ReturnPath:        env.From,
		Directionality:    dir,
		CustomData:        nodeData(s.sharedNode(rt)),
	})
}

// trackAuth records an SMTP AUTH outcome as an AUTH event: who, from
// where, on which connector, with which mechanism and reply. Never a
// password: receive.AuthEvent holds none.
func (s *Node) trackAuth(e receive.AuthEvent) {
	rt := s.Runtime()
	s.track.Log(tracking.Event{
		Time:            e.Time,
		ClientIP:        e.Remote.Addr().Unmap().String(),
		ServerHostname:  rt.Cfg.Server.FQDN,
		SourceContext:   "Mechanism=" + e.Mechanism,
		ConnectorID:     e.ConnectorID,
		Source:          "SMTP",
		EventID:         "AUTH",
		Sender:          e.User,
		RecipientStatus: []string{e.Reply},
		Directionality:  "Originating",
	})
}

// sharedNode is server.name when the queue is shared, else "".
func (s *Node) sharedNode(rt *Runtime) string {
	if rt.Cfg.Queue.Backend == config.QueuePostgres {
		return rt.Cfg.Server.Name
	}
	return ""
}
