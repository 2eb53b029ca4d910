package certs

import (
	"crypto/x509"
	"fmt"
	"os"
)

// ReadCAFile reads the certificates of a trust file: PEM with one or more
// CERTIFICATE blocks, or one DER certificate (a .cer exported from
// Windows). It is the one reader of CA files: the transport's
// trust.ca_files and the probe's --ca go through it, so a file the probe
// trusts is a file the sender trusts. Errors name the file and the fix.
func ReadCAFile(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load CA file %s: %w", file, err)
	}
	if isPEM(data) {
		list, _, err := parsePEM(file, data) // a key in the file is not used
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		return list, nil
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("load CA file %s: %w — neither PEM nor a DER certificate (%v)", file, ErrNoCertificate, err)
	}
	return []*x509.Certificate{c}, nil
}

// AppendCAFiles adds every certificate of files to pool (ReadCAFile); the
// first file that does not load is the error.
func AppendCAFiles(pool *x509.CertPool, files []string) error {
	for _, f := range files {
		list, err := ReadCAFile(f)
		if err != nil {
			return err
		}
		for _, c := range list {
			pool.AddCert(c)
		}
	}
	return nil
}

// TrustPool is the pool a validating sender trusts: the system roots when
// system is true (none when the system has no pool), plus every
// certificate of caFiles.
func TrustPool(caFiles []string, system bool) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if system {
		if sys, err := x509.SystemCertPool(); err == nil {
			pool = sys
		}
	}
	if err := AppendCAFiles(pool, caFiles); err != nil {
		return nil, err
	}
	return pool, nil
}
