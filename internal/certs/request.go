package certs

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// PendingRequest is a certificate request sent to a third-party CA whose
// private key waits in the store for the signed certificate, like the
// "pending request" New-ExchangeCertificate -GenerateRequest leaves behind.
type PendingRequest struct {
	ID      string // first 16 hex characters of the SHA-256 of the public key
	Subject string // Windows form
	SANs    []string
	KeyType string
	Created time.Time
	CSR     []byte        // DER PKCS#10
	Key     crypto.Signer // the private key the signed certificate must match
	KeyFile string        // where the store keeps the key (set by the store)
}

// RequestTemplate describes a certificate request.
type RequestTemplate struct {
	Subject string   // e.g. "CN=mail.contoso.com, O=Contoso, C=US"; empty = "CN=" + first SAN
	SANs    []string // DNS names or IP addresses; empty = the subject's CN
	KeyType string   // ecdsa-p256, rsa-2048 (default), rsa-3072 …
	Now     time.Time
}

// NewRequest creates a key and a PKCS#10 request signed by it. The subject
// is encoded exactly as Windows writes it back, so the issued certificate's
// <I>issuer<S>subject shows the subject given here.
func NewRequest(t RequestTemplate) (*PendingRequest, error) {
	subject := strings.TrimSpace(t.Subject)
	sans := t.SANs
	if subject == "" {
		if len(sans) == 0 {
			return nil, errors.New("certificate request: give --subject \"CN=mail.contoso.com\" or at least one --san")
		}
		subject = "CN=" + sans[0]
	}
	dn, err := ParseDN(subject)
	if err != nil {
		return nil, fmt.Errorf("certificate request: subject: %w", err)
	}
	if len(sans) == 0 {
		cn := firstValue(dn, "CN")
		if cn == "" || strings.ContainsAny(cn, " \t") {
			return nil, errors.New("certificate request: the subject has no host name in CN: add --san with the host names senders connect to")
		}
		sans = []string{cn}
	}
	raw, err := EncodeDN(dn)
	if err != nil {
		return nil, fmt.Errorf("certificate request: subject %q: %w", subject, err)
	}
	kt := t.KeyType
	if kt == "" {
		kt = "rsa-2048"
	}
	k, err := generateKey(kt)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("certificate request: key type %s cannot sign", kt)
	}
	tmpl := &x509.CertificateRequest{RawSubject: raw}
	for _, s := range sans {
		switch ip := net.ParseIP(s); {
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		case strings.Contains(s, "@"):
			tmpl.EmailAddresses = append(tmpl.EmailAddresses, s)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, signer)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	id, err := KeyID(signer.Public())
	if err != nil {
		return nil, err
	}
	now := t.Now
	if now.IsZero() {
		now = time.Now()
	}
	return &PendingRequest{
		ID: id, Subject: WindowsName(raw), SANs: sans, KeyType: kt,
		Created: now.UTC().Truncate(time.Second), CSR: der, Key: signer,
	}, nil
}

// KeyID names a public key: the first 16 hex characters of the SHA-256 of
// its SubjectPublicKeyInfo. A signed certificate finds its pending request
// by this value.
func KeyID(pub crypto.PublicKey) (string, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("public key: %w", err)
	}
	sum := sha256.Sum256(spki)
	return strings.ToUpper(hex.EncodeToString(sum[:8])), nil
}
