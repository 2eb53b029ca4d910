package receive

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/neterr"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

type tlsInfo struct {
	version, cipher string
	clientSubject   string
	clientOK        bool   // domain-secure peer verified
	clientWhy       string // why not, for the 530 reply
}

func (s *session) startTLS(cmd smtp.Command) {
	switch {
	case cmd.Arg != "":
		s.syntax("STARTTLS takes no arguments")
		return
	case s.tls:
		// RFC 3207: STARTTLS is not offered again once TLS is active.
		s.errors++
		s.reply(503, "5.5.1", "TLS already active")
		return
	case !s.c.OffersTLS():
		s.errors++
		s.reply(454, "4.7.0", "TLS not available: no certificate for "+s.c.Selection.Sought)
		return
	case s.helo == "":
		s.errors++
		s.reply(503, "5.5.2", "Send hello first")
		return
	}
	cert := s.c.Selection.Cert
	s.reply(220, "2.0.0", "SMTP server ready")
	if err := s.flush(); err != nil {
		s.quit = true
		return
	}
	// STARTTLS injection (CVE-2011-0411): anything the client pipelined
	// after STARTTLS arrived in plaintext and must never be executed.
	// Abort rather than discard: a client that does this is not a mail
	// server speaking in good faith.
	if n := s.r.Buffered(); n > 0 {
		s.log.Info("", fmt.Sprintf("Plaintext pipelined after STARTTLS (%d bytes); closing (STARTTLS injection protection)", n))
		s.quit = true
		return
	}
	s.log.Certificate("Sending certificate", cert.Subject, cert.Issuer, cert.Serial, cert.Thumbprint, cert.SANs)

	cfg := s.c.TLS
	if s.c.ChecksClientCertificate() {
		cfg = cfg.Clone()
		cfg.VerifyConnection = s.verifyClient
	}
	tconn := tls.Server(s.conn, cfg)
	hsTimeout := time.Duration(s.st.Limits.TLSHandshakeTimeout)
	if hsTimeout <= 0 {
		hsTimeout = 30 * time.Second
	}
	// A socket deadline, not a context: HandshakeContext with a deadline
	// starts a goroutine and a timer per handshake to watch the context,
	// measurable in the fresh-session rate. The command loop sets its own
	// deadlines again after this.
	s.conn.SetDeadline(time.Now().Add(hsTimeout))
	err := tconn.Handshake()
	s.conn.SetDeadline(time.Time{})
	if err != nil {
		s.log.Info("", "TLS negotiation failed with error "+neterr.HandshakeName(err))
		s.srv.opts.Logger.Info("TLS handshake failed", "connector", s.c.Name(), "remote", s.remote.String(), "error", err)
		s.srv.handshake(s.c.Name(), cert.Thumbprint, "", false)
		s.quit = true
		return
	}
	cs := tconn.ConnectionState()
	s.tls = true
	if s.user != nil {
		// RFC 3207 §4.2: an identity from before TLS is forgotten.
		s.user = nil
		s.perms = s.c.Base
	}
	s.tlsInfo.version = tls.VersionName(cs.Version)
	s.tlsInfo.cipher = tlscheck.CipherSuiteName(cs.CipherSuite)
	s.srv.handshake(s.c.Name(), cert.Thumbprint, s.tlsInfo.version, true)
	if s.log != nil { // formatted only for a protocol log that is on
		s.log.Info("", fmt.Sprintf("TLS protocol %s negotiation succeeded using %s", s.tlsInfo.version, s.tlsInfo.cipher))
	}
	if len(cs.PeerCertificates) > 0 && s.log != nil {
		pc := certs.FromX509(cs.PeerCertificates[0])
		s.log.Certificate("Received certificate", pc.Subject, pc.Issuer, pc.Serial, pc.Thumbprint, pc.SANs)
	}
	if s.c.ChecksClientCertificate() {
		status := "Success"
		if !s.tlsInfo.clientOK {
			status = s.tlsInfo.clientWhy
		}
		s.log.Info("", fmt.Sprintf("TlsDomainCapabilities='None'; Status='%s'; Domain='%s'", status, s.c.Config.TLSSenderCertificateName))
		switch {
		case s.tlsInfo.clientOK && s.c.OnPremises():
			// Exchange Online's attribution by certificate: the session
			// belongs to the tenant's own organisation and may relay.
			s.perms |= onPremisesPermissions
			s.log.Info(s.tlsInfo.clientSubject, fmt.Sprintf("Tenant attribution by certificate: the client certificate holds %s (TlsSenderCertificateName)", s.c.Config.TLSSenderCertificateName))
		case s.tlsInfo.clientOK:
			s.perms |= partnerPermissions(&s.c.Config)
		}
	}
	// RFC 3207 §4.2: forget everything learnt before TLS.
	s.conn = tconn
	s.r.Reset(tconn)
	s.w.Reset(tconn)
	s.helo = ""
	s.esmtp = false
	s.resetTransaction()
	if s.log != nil {
		s.log.Info(s.perms.String(), "Set Session Permissions")
	}
}

// verifyClient judges the client certificate of a domain-secure connector
// with the shared TLS check. It never fails the handshake: the verdict is
// kept and MAIL is refused with the reason, which tells the peer's
// administrator far more than a TLS alert would.
func (s *session) verifyClient(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		s.tlsInfo.clientOK = false
		s.tlsInfo.clientWhy = "NoRemoteCertificate: the peer presented no client certificate; configure the sending connector to present one"
		return nil
	}
	res := tlscheck.Verify(cs.PeerCertificates, tlscheck.Policy{
		Level:        tlscheck.DomainValidation,
		ExpectedName: s.c.Config.TLSSenderCertificateName,
		Roots:        s.st.Roots,
		Now:          s.st.Now(),
		Usage:        x509.ExtKeyUsageClientAuth,
	})
	s.tlsInfo.clientSubject = res.PresentedSubject
	s.tlsInfo.clientOK = res.OK
	if !res.OK {
		s.tlsInfo.clientWhy = fmt.Sprintf("%s: %s", res.Reason, res.Detail)
	}
	return nil
}
