// Package tlscheck owns the single TLS judgement of mailflow: given the
// certificates a peer presented and a policy (EncryptionOnly,
// CertificateValidation, DomainValidation with an expected name), Verify says
// whether the peer passes and, if not, why, in Exchange's words
// (SubjectMismatch, CertificateExpired, UntrustedRoot, …) with the status a
// validating sender uses (450 4.7.320 Certificate validation failed).
//
// The sender (send connectors), the probe and mutual TLS on receive all call
// Verify, so a diagnosis made by the probe is the decision the transport
// takes. The package never dials and never reads the clock itself when
// Policy.Now is set, so every verdict is reproducible in tests.
package tlscheck

import (
	"fmt"
	"strings"
)

// Level is a TlsAuthLevel of Exchange send connectors (and the TlsSettings
// of Exchange Online connectors).
type Level int

// The levels, weakest first.
const (
	// EncryptionOnly accepts any certificate: TLS protects the session
	// against eavesdropping but not against an impostor.
	EncryptionOnly Level = iota
	// CertificateValidation requires a chain to a trusted root, in date,
	// with adequate keys and signatures.
	CertificateValidation
	// DomainValidation also requires the expected name (TlsDomain) in the
	// certificate's subject CN or a SAN.
	DomainValidation
)

var levelNames = [...]string{"EncryptionOnly", "CertificateValidation", "DomainValidation"}

// ParseLevel reads a level name case-insensitively.
func ParseLevel(s string) (Level, error) {
	t := strings.TrimSpace(s)
	for i, n := range levelNames {
		if strings.EqualFold(t, n) {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("TLS auth level %q is not valid: use %s", s, strings.Join(levelNames[:], ", "))
}

// String returns the Exchange name of the level.
func (l Level) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// MarshalText writes the Exchange name, so JSON and YAML show words.
func (l Level) MarshalText() ([]byte, error) {
	if l < 0 || int(l) >= len(levelNames) {
		return nil, fmt.Errorf("TLS auth level %d is not valid", int(l))
	}
	return []byte(l.String()), nil
}

// UnmarshalText reads a level name case-insensitively.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
