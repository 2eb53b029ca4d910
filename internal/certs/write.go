package certs

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mailflowhq/mailflow/internal/atomicfile"
)

// WritePEM writes the chain (leaf first) followed by the PKCS#8 private key,
// when there is one, to path with mode 0600. The file is replaced atomically
// so that a server reloading certificates never reads half a file.
func WritePEM(path string, c *Certificate) error {
	if c == nil || len(c.Chain) == 0 {
		return fmt.Errorf("write certificate %s: %w", path, ErrNoCertificate)
	}
	var out []byte
	for _, der := range c.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if c.PrivateKey != nil {
		der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
		if err != nil {
			return fmt.Errorf("write certificate %s: encode key: %w", path, err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	return writeAtomic(path, out, 0o600)
}

// WriteCertPEM writes only the certificates of c (leaf first, no private
// key) to path with mode 0644, atomically: the form trust.ca_files and
// partners want.
func WriteCertPEM(path string, c *Certificate) error {
	if c == nil || len(c.Chain) == 0 {
		return fmt.Errorf("write certificate %s: %w", path, ErrNoCertificate)
	}
	var out []byte
	for _, der := range c.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return writeAtomic(path, out, 0o644)
}

// WritePFX writes the certificate, its chain and its key as a PKCS#12 file
// protected by password, with modern algorithms (AES-256, PBKDF2, SHA-256)
// that Windows Server 2019 and later import. A certificate without a key is
// written as a trust store (certificates only).
func WritePFX(path string, c *Certificate, password string) error {
	if c == nil || c.Leaf == nil || len(c.Chain) == 0 {
		return fmt.Errorf("write certificate %s: %w", path, ErrNoCertificate)
	}
	var cas []*x509.Certificate
	for _, der := range c.Chain[1:] {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("write certificate %s: chain: %w", path, err)
		}
		cas = append(cas, x)
	}
	var (
		data []byte
		err  error
	)
	if c.PrivateKey != nil {
		data, err = pkcs12.Modern.Encode(c.PrivateKey, c.Leaf, cas, password)
	} else {
		data, err = pkcs12.Modern.EncodeTrustStore(append([]*x509.Certificate{c.Leaf}, cas...), password)
	}
	if err != nil {
		return fmt.Errorf("write certificate %s: encode PFX: %w", path, err)
	}
	return writeAtomic(path, data, 0o600)
}

// writeAtomic writes a certificate file atomically with mode.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	return nil
}

// WriteFileAtomic writes data to path with mode the way the store writes
// certificates (temporary file, sync, rename), e.g. to put a previous
// certificate file back.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeAtomic(path, data, mode)
}
