package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// The mail flow map is an SVG laid out here and drawn by the map
// template: receive connectors on the left, this server in the middle,
// send connectors (and the local mailboxes) on the right. Each edge is
// labelled with the certificate and TLS policy and classed by health (ok,
// warn, bad, unknown; the style sheet colours the classes).

type mapBox struct {
	X, Y, W, H int
	Title      string
	Full       string // the untruncated title (tooltip)
	Lines      []string
	Link       string
	Health     string
}

type mapEdge struct {
	X1, Y1, X2, Y2 int
	LX, LY         int // label position
	Label, Label2  string
	Label3         string // a third line: the client certificate a send connector presents
	Health         string
	Title          string // tooltip: why this colour
}

type flowMap struct {
	Width, Height int
	Boxes         []mapBox
	Edges         []mapEdge
	Server        mapBox
}

const (
	boxW, boxH, gap = 250, 78, 26
	colLeft         = 20
	colMid          = 540
	midW            = 200
	colRight        = 1010
	mapWidth        = colRight + boxW + 20
)

func (w *Web) flowMap() flowMap {
	rt := w.n.Runtime()
	now := w.now()
	var left, right []mapBox
	var ledges, redges []mapEdge
	for _, c := range rt.Recv.Connectors {
		rc := c.Config
		ranges := strings.Join(rc.RemoteIPRanges, ", ")
		if ranges == "" {
			ranges = "any remote address"
		}
		b := mapBox{Title: rc.Name, Lines: []string{"on " + strings.Join(rc.Bindings, ", "), "from " + ranges}, Link: connectorPath("receive", rc.Name)}
		e := mapEdge{Health: "ok"}
		policy := "STARTTLS offered"
		if rc.RequireTLS {
			policy = "TLS required"
		}
		if rc.DomainSecureEnabled {
			policy += ", mutual TLS"
		}
		if cert := c.Selection.Cert; cert != nil {
			info := cert.Describe(now)
			e.Label = fmt.Sprintf("presents %s (%d days)", shortSubject(info.Subject), info.DaysLeft)
			e.Health = expiryHealth(info)
			e.Title = fmt.Sprintf("%s, thumbprint %s, %s", info.Subject, info.Thumbprint, info.Status)
		} else {
			e.Label = "no certificate: no STARTTLS"
			e.Health = "bad"
			if !rc.RequireTLS {
				e.Health = "warn"
			}
			e.Title = c.Selection.Warning
		}
		if c.Selection.Warning != "" && e.Health == "ok" {
			e.Health, e.Title = "warn", c.Selection.Warning
		}
		e.Label2 = policy
		b.Health = e.Health
		left = append(left, b)
		ledges = append(ledges, e)
	}
	for _, sc := range rt.Cfg.SendConnectors {
		hosts := strings.Join(sc.SmartHosts, ", ")
		if hosts == "" {
			hosts = "MX lookup"
		}
		b := mapBox{Title: sc.Name, Lines: []string{"for " + strings.Join(sc.AddressSpaces, ", "), "via " + hosts}, Link: connectorPath("send", sc.Name)}
		level := sc.TLSAuthLevel
		if level == "" {
			level = tlscheck.EncryptionOnly.String()
			if !sc.RequireTLS {
				level = "opportunistic TLS"
			}
		}
		e := mapEdge{Label2: level}
		if sc.TLSDomain != "" {
			e.Label2 += " expects " + sc.TLSDomain
		}
		e.Health, e.Label, e.Title = w.hopHealth(sc.Name)
		if cc := w.n.ClientCertificate(sc.Name); cc != nil {
			info := cc.Describe(now)
			e.Label3 = fmt.Sprintf("client certificate %s (%d days)", shortSubject(info.Subject), info.DaysLeft)
			if h := expiryHealth(info); h != "ok" && e.Health != "bad" {
				e.Health, e.Title = h, e.Title+"; client certificate "+info.Subject+" "+info.Status
			}
		}
		b.Health = e.Health
		right = append(right, b)
		redges = append(redges, e)
	}
	local := mapBox{Title: "Local mailboxes", Lines: []string{"accepted domains", strings.Join(rt.Cfg.AcceptedDomains, ", ")}}
	le := mapEdge{Label: "local delivery", Label2: "no TLS (in process)"}
	le.Health, _, le.Title = w.hopHealth(node.HopLocal)
	local.Health = le.Health
	right = append(right, local)
	redges = append(redges, le)

	rows := max(len(left), len(right), 1)
	height := 40 + rows*(boxH+gap)
	m := flowMap{Width: mapWidth, Height: height}
	m.Server = mapBox{X: colMid, Y: height/2 - 60, W: midW, H: 120, Title: rt.Cfg.Server.Name,
		Lines: []string{rt.Cfg.Server.FQDN, fmt.Sprintf("%d queued", len(w.n.Queue().List()))}, Link: "/queues", Health: "ok"}
	place := func(boxes []mapBox, edges []mapEdge, x int, toServer bool) {
		top := (height - len(boxes)*(boxH+gap) + gap) / 2
		for i := range boxes {
			b := &boxes[i]
			b.X, b.Y, b.W, b.H = x, top+i*(boxH+gap), boxW, boxH
			e := &edges[i]
			sy := m.Server.Y + 20 + (i+1)*80/(len(boxes)+1)
			if toServer {
				e.X1, e.Y1, e.X2, e.Y2 = b.X+b.W, b.Y+b.H/2, m.Server.X, sy
			} else {
				e.X1, e.Y1, e.X2, e.Y2 = m.Server.X+m.Server.W, sy, b.X, b.Y+b.H/2
			}
			e.LX, e.LY = (e.X1+e.X2)/2, (e.Y1+e.Y2)/2-8
			b.Full, b.Title = b.Title, fit(b.Title, 30)
			for j, l := range b.Lines {
				b.Lines[j] = fit(l, 38)
			}
			m.Boxes = append(m.Boxes, *b)
			m.Edges = append(m.Edges, *e)
		}
	}
	place(left, ledges, colLeft, true)
	place(right, redges, colRight, false)
	return m
}

// hopHealth colours a next hop by its last delivery outcome: delivered
// ok, deferred warn (a certificate failure, 4.7.x, bad), failed bad. It
// returns the class, a short label and the full last status.
func (w *Web) hopHealth(hop string) (health, short, full string) {
	o, ok := w.n.LastOutcome(hop)
	if !ok {
		return "unknown", "no delivery yet", "no delivery attempt since start"
	}
	code := o.Enhanced
	full = o.Time.UTC().Format("15:04:05Z") + " " + o.Status
	switch o.Outcome {
	case outcome.Delivered:
		return "ok", "last: delivered", full
	case outcome.Failed:
		return "bad", "last: failed " + code, full
	}
	if strings.HasPrefix(code, "4.7.") {
		return "bad", "last: deferred " + code, full
	}
	return "warn", "last: deferred " + code, full
}

// fit shortens a box title to what the box holds; the full text is in the
// connector's page.
func fit(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// shortSubject is the CN of a Windows-form subject, or the subject.
func shortSubject(subject string) string {
	for _, part := range strings.Split(subject, ",") {
		if p := strings.TrimSpace(part); strings.HasPrefix(strings.ToUpper(p), "CN=") {
			return p
		}
	}
	return subject
}

func (w *Web) mapPage(rw http.ResponseWriter, r *http.Request, s *session) {
	w.render(rw, r, s, "map", "Mail flow", w.flowMap(), "", "")
}
