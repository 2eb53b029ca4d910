package send

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/netip"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/smtp"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// errCertificateRejected aborts the handshake when tlscheck refuses the
// server's certificate; the verdict itself is kept beside it.
var errCertificateRejected = errors.New("server certificate rejected by the connector's TLS policy")

// startTLS negotiates TLS on the connection. It reports whether the session
// is now encrypted; a nil failure with encrypted false means opportunistic
// TLS was refused by the server and the session goes on in plaintext. stage
// says where a failure happened (the STARTTLS command or the handshake).
func (s *Sender) startTLS(cn *Connection, c Connector, domain string, opts ConnectOptions, pol *TargetPolicy) (encrypted bool, stage Stage, f *failure) {
	cl, log, t := cn.client, cn.log, cn.Target
	now := opts.Now
	if now.IsZero() {
		now = s.now()
	}
	clientCert, f := s.clientCertificate(c, now, log)
	if f != nil {
		cl.Quit()
		return false, StageStartTLS, f
	}
	check := pol.Check
	check.Roots, check.Now, check.Usage = s.Roots, now, x509.ExtKeyUsageServerAuth
	var (
		verdict   *tlscheck.Result
		presented *certs.Certificate
		requested *tls.CertificateRequestInfo
	)
	serverName := sniName(t.Host)
	if pol.ServerName != "" {
		serverName = pol.ServerName
	}
	if opts.ServerName != nil {
		serverName = *opts.ServerName
	}
	cfg := &tls.Config{
		ServerName: serverName,
		// The one certificate judgement is tlscheck's (see the package doc).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			cn.PeerChain = cs.PeerCertificates
			v := tlscheck.Verify(cs.PeerCertificates, check)
			cn.policyVerdict = &v
			if !pol.Enforce {
				// Report-only policy: the connector's own check decides.
				own := connectorPolicy(c, domain).Check
				own.Roots, own.Now = s.Roots, now
				v = tlscheck.Verify(cs.PeerCertificates, own)
			}
			verdict = &v
			if !v.OK && !opts.FinishHandshake {
				return errCertificateRejected
			}
			return nil
		},
		// Present our certificate whenever the server asks, whatever CA
		// names it lists: Exchange does, and a mismatch is the server's
		// verdict to give, not ours to guess.
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			requested = cri
			if clientCert == nil {
				return &tls.Certificate{}, nil
			}
			presented = clientCert
			return clientCert.TLS(), nil
		},
	}
	if opts.LegacyTLS {
		cfg.MinVersion = tls.VersionTLS10
		for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
			cfg.CipherSuites = append(cfg.CipherSuites, cs.ID)
		}
	}
	state, err := cl.StartTLS(cfg)

	var re *smtp.ReplyError
	if errors.As(err, &re) {
		if !pol.RequireTLS {
			log.Info("", "STARTTLS refused ("+re.Reply.Text()+"); continuing without TLS (opportunistic)")
			return false, StageStartTLS, nil
		}
		cl.Quit()
		if pol.Type == PolicyTLSA {
			return false, StageStartTLS, deferred(StatusNoSTARTTLS, ReasonNoSTARTTLS, "the remote server publishes DNSSEC-authenticated TLSA records but refused STARTTLS: "+re.Reply.Text())
		}
		return false, StageStartTLS, deferred(StatusCannotConnect, ReasonStartTLS, "the remote server refused STARTTLS: "+re.Reply.Text())
	}
	info := &TLSInfo{ServerName: cfg.ServerName}
	if len(cn.PeerChain) > 0 {
		pi := certs.FromX509(cn.PeerChain[0]).Describe(now)
		info.Peer = &pi
		logCertificate(log, "Remote certificate", certs.FromX509(cn.PeerChain[0]))
	}
	if verdict != nil {
		info.Verdict = *verdict
		logVerdict(log, *verdict)
	}
	if requested != nil {
		info.ClientCertificateRequested = true
		for _, raw := range requested.AcceptableCAs {
			info.AcceptableCAs = append(info.AcceptableCAs, certs.WindowsName(raw))
		}
	}
	if presented != nil {
		ci := presented.Describe(now)
		info.ClientCertificate = &ci
		logCertificate(log, "Sending certificate", presented)
	}
	cn.TLS = info

	if err != nil {
		if verdict != nil && !verdict.OK {
			return false, StageTLS, verdictFailure(*verdict)
		}
		if errors.Is(err, smtp.ErrInjectedResponse) {
			return false, StageStartTLS, classifySession("STARTTLS", err)
		}
		f := tlsFailure(err)
		if pol.Type == PolicyTLSA && f.status == StatusCannotConnect {
			// Exchange Online words a failed handshake under DANE as
			// starttls-not-supported: TLS was mandatory and did not happen.
			f.status, f.reason = StatusNoSTARTTLS, ReasonNoSTARTTLS
		}
		log.Info("", f.message)
		return false, StageTLS, f
	}
	info.Version = tlsVersionName(state.Version)
	info.VersionID = state.Version
	info.CipherSuite = tlscheck.CipherSuiteName(state.CipherSuite)
	log.Info("", "TLS protocol "+tlsProtocolName(state.Version)+" negotiation succeeded using "+info.CipherSuite)
	if verdict != nil && !verdict.OK {
		// FinishHandshake: the session was observed to its end, the verdict
		// stands.
		cl.Quit()
		return false, StageTLS, verdictFailure(*verdict)
	}
	return true, StageTLS, nil
}

// SelectClient is the client certificate choice alone, for what shows it
// (the admin center, metrics): the same certificate a delivery presents.
func (s *Sender) SelectClient(c Connector, now time.Time) certs.Selection {
	if s.Store == nil {
		return certs.Selection{}
	}
	return s.Store.SelectClient(certs.Request{
		CertificateName: c.CertificateName, ConnectorFQDN: c.FQDN, ServerFQDN: s.ServerFQDN, Connector: c.Name, Now: now,
	})
}

// verdictFailure is the failure for a rejected certificate: 450 4.7.320
// at a connector's level, Exchange Online's 4.7.322/4.7.323/4.7.325 under
// DANE, with the TLSA records seen in the message.
func verdictFailure(v tlscheck.Result) *failure {
	if v.DANE != nil {
		return deferred(v.Status(), string(v.Reason), v.Message())
	}
	return deferred(StatusCertificate, string(v.Reason), v.Message())
}

// clientCertificate picks the client certificate to present (the
// connector's TlsCertificateName, else the best match for its FQDN; see
// certs.SelectClient). A pinned TlsCertificateName that cannot be found
// stops the delivery.
func (s *Sender) clientCertificate(c Connector, now time.Time, log *protolog.Session) (*certs.Certificate, *failure) {
	if s.Store == nil {
		if c.CertificateName != "" {
			f := &failure{status: StatusCertNotFound, reason: ReasonCertNotFound, outcome: outcome.Deferred, ours: true, final: true,
				message: "no certificate store is configured, so " + c.CertificateName + " cannot be found"}
			return nil, f
		}
		return nil, nil
	}
	sel := s.SelectClient(c, now)
	if sel.Cert != nil {
		if sel.Warning != "" {
			log.Info("", sel.Warning)
		}
		return sel.Cert, nil
	}
	if c.CertificateName == "" {
		if sel.Warning != "" {
			log.Info("", sel.Warning)
		}
		return nil, nil
	}
	// Pinned but not usable: absent (454 4.7.5), or present without its
	// private key (NoCredentials). Other hosts would not help.
	matched, _ := s.Store.FindName(c.CertificateName)
	if len(matched) > 0 {
		log.Info("", "TLS negotiation failed with error NoCredentials")
		return nil, &failure{status: StatusCannotConnect, reason: ReasonNoCredentials, outcome: outcome.Deferred, ours: true, final: true,
			message: "TLS negotiation failed with error NoCredentials: " + sel.Warning}
	}
	log.Info("", StatusCertNotFound)
	return nil, &failure{status: StatusCertNotFound, reason: ReasonCertNotFound, outcome: outcome.Deferred, ours: true, final: true,
		message: sel.Warning}
}

// sniName is the server name to send: host names only, never IP literals
// (RFC 6066 §3).
func sniName(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	return host
}

func tlsVersionName(v uint16) string { return tls.VersionName(v) }

func logCertificate(log *protolog.Session, event string, c *certs.Certificate) {
	if log == nil || c == nil {
		return
	}
	log.Certificate(event, c.Subject, c.Issuer, c.Serial, c.Thumbprint, c.SANs)
}

func logVerdict(log *protolog.Session, v tlscheck.Result) {
	if v.DANE != nil {
		switch {
		case v.OK && v.DANE.Matched != nil:
			log.Info("", "Remote certificate validation succeeded (DANE, matched TLSA "+v.DANE.Matched.String()+" at "+v.DANE.Owner+")")
		case v.OK:
			log.Info("", "Remote certificate not authenticated (DANE): "+v.Detail)
		default:
			log.Info("", "Remote certificate validation failed (DANE): "+v.Status()+" "+v.Message())
		}
		return
	}
	if v.OK {
		msg := "Remote certificate validation succeeded (" + v.Level.String()
		if v.Expected != "" {
			msg += ", expected " + v.Expected
		}
		log.Info("", msg+")")
		return
	}
	log.Info("", "Remote certificate validation failed ("+v.Level.String()+"): "+v.Message())
}
