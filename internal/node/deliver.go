package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/route"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// deliverer is the queue's router: accepted domains go to the local
// mailbox store, everything else to the send connector whose address space
// matches the recipient domain most specifically.
type deliverer struct{ s *Node }

type sendGroup struct {
	conn   send.Connector
	domain string
	rcpts  []string
}

func (d *deliverer) Deliver(ctx context.Context, m *queue.Message, body func() (io.ReadCloser, error), rcpts []string) []queue.Result {
	rt := d.s.Runtime()
	suspended := d.s.currentSuspended(ctx)
	var results []queue.Result
	groups := map[string]*sendGroup{}
	var order []string
	for _, rcpt := range rcpts {
		domain := domainOf(rcpt)
		dec, err := rt.Router.Route(domain)
		if err != nil {
			var nr *route.NoRouteError
			failure := lasterror.Local(550, "5.4.4", "Unable to route: "+err.Error())
			if errors.As(err, &nr) {
				failure = lasterror.New(nr.Error())
			}
			results = append(results, queue.Result{Rcpt: rcpt, Outcome: outcome.Failed, LastError: failure})
			continue
		}
		hop := dec.Connector
		if dec.Local {
			hop = HopLocal
		}
		if suspended.has(hop) {
			results = append(results, queue.Result{Rcpt: rcpt, Outcome: outcome.Deferred, LastError: lasterror.Local(451, "4.4.0", suspendedText), Route: hop, Local: dec.Local})
			continue
		}
		if dec.Local {
			results = append(results, d.local(m, body, rcpt))
			continue
		}
		sc, ok := rt.Send[strings.ToLower(dec.Connector)]
		if !ok {
			failure := lasterror.Local(451, "4.4.0", fmt.Sprintf("send connector %q is no longer configured", dec.Connector))
			results = append(results, queue.Result{Rcpt: rcpt, Outcome: outcome.Deferred, LastError: failure})
			continue
		}
		// One transaction per next hop: recipients of every domain share it
		// when the connector sends to smart hosts and the expected
		// certificate name does not depend on the recipient domain; MX
		// routing and DomainValidation without tls_domain need one per
		// domain.
		key := strings.ToLower(dec.Connector) + "\x00" + sendDomainKey(sc, domain)
		g := groups[key]
		if g == nil {
			g = &sendGroup{conn: sc, domain: domain}
			groups[key] = g
			order = append(order, key)
		}
		g.rcpts = append(g.rcpts, rcpt)
	}
	for _, key := range order {
		g := groups[key]
		msg := send.Message{ID: m.ID, From: m.Env.From, Rcpts: g.rcpts, Body: body, Size: m.Env.Size, RecipientDomain: g.domain,
			RequireTLS: m.Env.RequireTLS, TLSOptional: m.Env.TLSOptional}
		rs := rt.Sender.Send(ctx, g.conn, msg)
		d.observeTLS(g.conn.Name, rs)
		for _, r := range rs {
			results = append(results, queue.Result{
				Rcpt: r.Rcpt, Outcome: r.Outcome, Status: r.Status, LastError: r.LastError,
				RemoteHost: r.RemoteHost, RemoteIP: r.RemoteIP, Route: g.conn.Name, TLS: r.TrackingData(),
			})
		}
	}
	return results
}

// sendDomainKey is the part of the recipient domain that decides the next
// hop and its TLS check: none for a smart host whose expected name is
// fixed.
func sendDomainKey(c send.Connector, domain string) string {
	if len(c.Hosts) > 0 && (c.Level < tlscheck.DomainValidation || c.TLSDomain != "") {
		return ""
	}
	return domain
}

// observeTLS reports the session's STARTTLS to the outbound observer: the
// results of one Send share one session.
func (d *deliverer) observeTLS(connector string, rs []send.Result) {
	o := d.s.opts.Outbound
	if o == nil || len(rs) == 0 || rs[0].TLS == nil || rs[0].Reused {
		// A kept connection's session was reported when it was made.
		return
	}
	t := rs[0].TLS
	thumbprint := ""
	if t.Peer != nil {
		thumbprint = t.Peer.Thumbprint
	}
	// A certificate the check refuses usually aborts the handshake (no
	// version): it is still "rejected", not a failed handshake.
	result := "ok"
	switch {
	case t.Peer != nil && !t.Verdict.OK:
		result = "rejected"
	case t.Version == "":
		result = "failed"
	}
	o.OutboundTLS(connector, thumbprint, t.Version, result)
}

func (d *deliverer) local(m *queue.Message, body func() (io.ReadCloser, error), rcpt string) queue.Result {
	rc, err := body()
	if err != nil {
		failure := lasterror.Local(451, "4.3.0", "Cannot read queued message: "+err.Error())
		return queue.Result{Rcpt: rcpt, Outcome: outcome.Deferred, LastError: failure, Local: true, Route: "Local"}
	}
	defer rc.Close()
	if _, err := d.s.mailbox.Deliver(rcpt, m.ID, rc); err != nil {
		failure := lasterror.Local(451, "4.3.0", "Local delivery failed: "+err.Error())
		return queue.Result{Rcpt: rcpt, Outcome: outcome.Deferred, LastError: failure}
	}
	status := "250 2.0.0 Delivered to mailbox"
	return queue.Result{Rcpt: rcpt, Outcome: outcome.Delivered, Status: status, RemoteHost: d.s.Runtime().Cfg.Server.FQDN, Local: true, Route: "Local"}
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}
