package certs

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// ParseCertificates reads the certificates of a CA's reply in any of the
// forms CAs send: PEM (one or more "CERTIFICATE" blocks, or a "PKCS7"
// block), a DER certificate (.cer, .crt) or a DER PKCS#7 bundle (.p7b,
// .p7c). It never returns a private key; files with keys go through
// LoadFile. Errors say what the content is and how to convert it; more than
// MaxBundleCertificates certificates are refused.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrNoCertificate)
	}
	if isPEM(data) {
		var out []*x509.Certificate
		rest := data
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			switch block.Type {
			case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
				if len(out) == MaxBundleCertificates {
					return nil, fmt.Errorf("%w (more than %d) — keep the certificate and its chain only", ErrTooManyCertificates, MaxBundleCertificates)
				}
				c, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					return nil, fmt.Errorf("certificate %d does not parse: %w", len(out)+1, err)
				}
				out = append(out, c)
			case "PKCS7", "CMS":
				cs, err := ParsePKCS7(block.Bytes)
				if err != nil {
					return nil, err
				}
				if len(out)+len(cs) > MaxBundleCertificates {
					return nil, fmt.Errorf("%w (more than %d) — keep the certificate and its chain only", ErrTooManyCertificates, MaxBundleCertificates)
				}
				out = append(out, cs...)
			case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
				return nil, fmt.Errorf("%w: this is a certificate request (CSR), not the signed certificate — send it to the CA and import what the CA returns", ErrNoCertificate)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: no complete \"BEGIN CERTIFICATE\" or \"BEGIN PKCS7\" block (truncated or not a certificate)", ErrNoCertificate)
		}
		return out, nil
	}
	if c, err := x509.ParseCertificate(data); err == nil {
		return []*x509.Certificate{c}, nil
	}
	if isPKCS7(data) {
		return ParsePKCS7(data)
	}
	return nil, fmt.Errorf("%w: the content is neither PEM, a DER certificate nor a DER PKCS#7 (.p7b) bundle (truncated or another format; a PFX needs its password: --password-file)", ErrNoCertificate)
}
