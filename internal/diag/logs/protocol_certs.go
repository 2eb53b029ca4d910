package logs

// Certificate lines of a protocol log: which certificate each session
// presented or received, interned once, and which senders saw which.

import (
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/protolog"
)

// feedCerts passes a record to the certificate-line accumulator and takes
// the certificates it completes.
func (p *protoState) feedCerts(s *protoSession, rec *protolog.Record) {
	p.certBuf = p.certs.Add(p.certBuf[:0], rec)
	switch {
	case rec.Event == '*' && rec.Data == "" && strings.HasSuffix(rec.Context, " certificate"):
		s.flags |= sessCertOpen // a block starts (and may have closed another)
	case rec.Event != '*' || len(p.certBuf) > 0:
		s.flags &^= sessCertOpen
	}
	for i := range p.certBuf {
		ev := &p.certBuf[i]
		info := p.intern(ev)
		peer := ev.Event != "Sending certificate"
		if info == nil {
			p.limits.CertificatesUntracked++
			continue
		}
		p.useCert(s, info, peer, p.time(ev.DateTime))
		if ev.OneLine && len(p.oneLine) < logMaxOneLineCache {
			p.oneLine[logOneLineKey{strings.Clone(rec.Context), strings.Clone(rec.Data)}] = logOneLineHit{info, peer}
		}
	}
	clear(p.certBuf) // drop references to the events' strings
}

// intern returns the logCert of a logged certificate, creating it (and
// filling fields an earlier, sparser record lacked); nil past the cap.
func (p *protoState) intern(ev *protolog.CertEvent) *logCert {
	key := strings.ToUpper(strings.TrimSpace(ev.Thumbprint))
	if key == "" {
		// Exchange logs only a thumbprint for received certificates and
		// always one for sent ones; without it, the names identify it.
		key = "subject:" + ev.Subject + "|" + ev.Serial
	}
	info, ok := p.infos[key]
	if !ok {
		if len(p.infos) >= logMaxCertificates {
			return nil
		}
		info = &logCert{thumbprint: strings.ToUpper(strings.TrimSpace(ev.Thumbprint))}
		p.infos[key] = info
	}
	named := false
	if info.subject == "" && ev.Subject != "" {
		info.subject, named = ev.Subject, true
	}
	if info.issuer == "" && ev.Issuer != "" {
		info.issuer, named = ev.Issuer, true
	}
	if info.serial == "" {
		info.serial = ev.Serial
	}
	if len(info.sans) == 0 && len(ev.SANs) > 0 {
		info.sans = ev.SANs
	}
	if info.notAfter.IsZero() && !ev.NotAfter.IsZero() {
		info.notBefore, info.notAfter = ev.NotBefore, ev.NotAfter
	}
	if named {
		// Parsing names is costly; it happens once per certificate.
		info.selfSigned = info.subject != "" && info.issuer != "" && certs.SameName(info.subject, info.issuer)
	}
	return info
}

// useCert records that session s saw certificate info at t.
func (p *protoState) useCert(s *protoSession, info *logCert, peer bool, t time.Time) {
	c := s.conn
	m := &c.sent
	if peer {
		m = &c.peer
	}
	if *m == nil {
		*m = make(map[*logCert]*logCertUse)
	}
	u, ok := (*m)[info]
	if !ok {
		if len(*m) >= logMaxCertsPerConnector {
			c.certsOther++
			return
		}
		u = &logCertUse{cert: info}
		(*m)[info] = u
	}
	u.add(t)
	if !t.IsZero() {
		if !info.notAfter.IsZero() && t.After(info.notAfter) {
			u.expired.add(t)
		}
		if !info.notBefore.IsZero() && t.Before(info.notBefore) {
			u.notYetValidUses++
		}
	}
	if !peer {
		s.sent = u
	}
	// What a remote address was answered with (receive) or presented
	// (send): the certificates that address's mail depends on.
	if s.remote.IsValid() && peer == c.send {
		p.sender(logSenderKey{s.remote, c.send}, c, info, t)
	}
}

func (p *protoState) sender(k logSenderKey, c *logConn, info *logCert, t time.Time) {
	sc, ok := p.senders[k]
	if !ok {
		if len(p.senders) >= logMaxSenders {
			p.limits.SendersUntracked++
			return
		}
		sc = &logSenderCerts{uses: make([]logSenderUse, 0, 1)}
		p.senders[k] = sc
	}
	for i := range sc.uses {
		if sc.uses[i].conn == c && sc.uses[i].cert == info {
			sc.uses[i].add(t)
			return
		}
	}
	if len(sc.uses) >= logMaxCertsPerSender {
		sc.overflow++
		return
	}
	sc.uses = append(sc.uses, logSenderUse{conn: c, cert: info})
	sc.uses[len(sc.uses)-1].add(t)
}
