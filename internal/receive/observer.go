package receive

// Session results reported to a SessionObserver.
const (
	SessionRefused     = "refused"      // connection limits: refused with 421 before any connector
	SessionNoConnector = "no_connector" // no receive connector matches local address and remote IP
	SessionAccepted    = "accepted"     // at least one message was accepted
	SessionNoMessage   = "no_message"   // the session ended without accepting a message
)

// SessionObserver is told how sessions and STARTTLS handshakes end (the
// metrics). It observes only: it is called from the session's goroutine
// after the event, must be quick, safe for concurrent use, and has no way
// to change what the session does.
type SessionObserver interface {
	// SessionEnded reports one connection; connector is "" when none
	// matched.
	SessionEnded(connector, result string)
	// Accepted reports one message accepted with 250 after DATA.
	Accepted(connector string)
	// Handshake reports one STARTTLS handshake with the certificate the
	// connector presented; version is "" when the handshake failed.
	Handshake(connector, thumbprint, version string, ok bool)
}

func (s *Service) sessionEnded(connector, result string) {
	if o := s.opts.Observer; o != nil {
		o.SessionEnded(connector, result)
	}
}

func (s *Service) handshake(connector, thumbprint, version string, ok bool) {
	if o := s.opts.Observer; o != nil {
		o.Handshake(connector, thumbprint, version, ok)
	}
}

func (s *Service) messageAccepted(connector string) {
	if o := s.opts.Observer; o != nil {
		o.Accepted(connector)
	}
}
