package logs

// Findings across sessions: one remote address answered with (or, on send
// logs, presenting) different certificates over overlapping periods.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ---- different certificates for the same sender ----

// inconsistentFindings finds remote addresses answered with (or, on send
// logs, presenting) different certificates in service over overlapping
// periods — the "half the messages fail" case. Certificates in service one
// after the other are a renewal, not a finding.
func (a *Analyzer) inconsistentFindings() []Finding {
	type group struct {
		send  bool
		uses  []logSenderUse // totals per (connector, certificate)
		addrs []string
		n     int64
	}
	groups := map[string]*group{}
	for k, sc := range a.proto.senders {
		if !overlappingCerts(sc.uses, k.send) {
			continue
		}
		uses := slices.Clone(sc.uses)
		slices.SortFunc(uses, func(x, y logSenderUse) int {
			if c := strings.Compare(x.conn.name, y.conn.name); c != 0 {
				return c
			}
			return strings.Compare(x.cert.thumbprint+x.cert.subject, y.cert.thumbprint+y.cert.subject)
		})
		var sig strings.Builder
		fmt.Fprintf(&sig, "%v", k.send)
		for _, u := range uses {
			fmt.Fprintf(&sig, "|%s|%p", u.conn.name, u.cert)
		}
		g, ok := groups[sig.String()]
		if !ok {
			g = &group{send: k.send, uses: make([]logSenderUse, len(uses))}
			for i, u := range uses {
				g.uses[i] = logSenderUse{conn: u.conn, cert: u.cert}
			}
			groups[sig.String()] = g
		}
		g.n++
		g.addrs = append(g.addrs, k.addr.String())
		for i, u := range uses {
			g.uses[i].count += u.count
			gu := &g.uses[i].logSpan
			if gu.first.IsZero() || (!u.first.IsZero() && u.first.Before(gu.first)) {
				gu.first = u.first
			}
			if u.last.After(gu.last) {
				gu.last = u.last
			}
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y string) int {
		if c := cmp.Compare(groups[y].n, groups[x].n); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	var out []Finding
	for i, k := range keys {
		if i == logMaxInconsistentGroups {
			break
		}
		g := groups[k]
		slices.Sort(g.addrs)
		examples := g.addrs
		if len(examples) > logMaxExampleRemotes {
			examples = examples[:logMaxExampleRemotes]
		}
		var parts []string
		var total int64
		var first, last time.Time
		conns := map[string]bool{}
		for _, u := range g.uses {
			who := "by connector " + u.conn.name
			if g.send {
				who = "to send connector " + u.conn.name
			}
			parts = append(parts, fmt.Sprintf("%s %s %d time(s)", certLabel(u.cert), who, u.count))
			total += u.count
			if first.IsZero() || u.first.Before(first) {
				first = u.first
			}
			if u.last.After(last) {
				last = u.last
			}
			conns[u.conn.name] = true
		}
		f := Finding{
			Kind:      "inconsistent-certificates",
			Severity:  SeverityError,
			Count:     total,
			FirstSeen: first,
			LastSeen:  last,
		}
		if len(conns) == 1 {
			f.Connector = g.uses[0].conn.name
		}
		addrText := fmt.Sprintf("%d remote address(es) (%s", g.n, strings.Join(examples, ", "))
		if int(g.n) > len(examples) {
			addrText += ", …"
		}
		addrText += ")"
		if !g.send {
			f.Summary = fmt.Sprintf("the same senders got different certificates: %s were answered with %s", addrText, strings.Join(parts, "; "))
			f.Detail = fmt.Sprintf("Over the same period (%s) one sender was answered with different certificates. A validating sender accepts one and refuses the other, "+
				"so part of its mail is deferred (450 4.7.320 Certificate validation failed) while the rest flows: the \"half the messages fail\" case. "+
				"Typical causes: several servers behind one name or MX whose receive connectors present different certificates, or a connector without TlsCertificateName.", fmtSpan(first, last))
			f.Fix = []string{"Make every receive connector that takes this sender's mail present the same certificate, one that holds the name the sender expects: pin it with Set-ReceiveConnector \"<connector>\" -TlsCertificateName \"<I>issuer<S>subject\" on each server (mailflow: mailflow connector set \"<connector>\" --tls-certificate-name \"<I>issuer<S>subject\"), then verify each server with mailflow probe <server>:25 --policy DomainValidation --expect <name>."}
			for _, name := range a.opts.Expect {
				if good, _ := a.goodCert(name); good != nil {
					f.Fix = append(f.Fix, fmt.Sprintf("The certificate holding %s in these logs is %s.", name, certLabel(good)))
				}
			}
		} else {
			f.Summary = fmt.Sprintf("the same remote servers presented different certificates: %s presented %s", addrText, strings.Join(parts, "; "))
			f.Detail = fmt.Sprintf("Over the same period (%s) one remote address presented different certificates; a validating send connector succeeds with one and defers with the other.", fmtSpan(first, last))
			f.Fix = []string{"Ask the remote administrator to present one certificate on every server behind the address (mailflow probe <remote>:25 shows which one each presents)."}
		}
		out = append(out, f)
	}
	return out
}

// overlappingCerts reports whether an address met two different
// certificates whose periods of service overlap. The periods are the
// connectors' (when each connector presented, or received, the
// certificate from anyone), not the address's own sessions: a sender that
// reaches two servers only a few times still met two certificates in
// service at once, while a renewal retires one certificate before the next.
func overlappingCerts(uses []logSenderUse, send bool) bool {
	if len(uses) < 2 {
		return false
	}
	period := func(u logSenderUse) logSpan {
		m := u.conn.sent
		if send {
			m = u.conn.peer
		}
		if cu, ok := m[u.cert]; ok {
			return cu.logSpan
		}
		return u.logSpan
	}
	for i := range uses {
		for j := i + 1; j < len(uses); j++ {
			if uses[i].cert == uses[j].cert {
				continue
			}
			x, y := period(uses[i]), period(uses[j])
			if !x.first.After(y.last) && !y.first.After(x.last) {
				return true
			}
		}
	}
	return false
}
