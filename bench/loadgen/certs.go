package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// certFiles is one generated certificate in the forms the peers want.
type certFiles struct {
	PEM  string // chain and key in one file (mailflow, the Go servers)
	Key  string // key alone (Postfix's smtpd_tls_chain_files wants key, then chain)
	Cert string // chain alone
}

// benchNames are the host names every bench certificate holds, so that
// each connector's automatic selection (by its fqdn) finds it.
var benchNames = []string{"relay.bench.test", "listener.bench.test", "sink.bench.test", "pf.bench.test"}

// makeCert generates a self-signed certificate with keyType ("ecdsa-p256",
// "rsa2048") under dir/name.*.
func makeCert(dir, name, keyType string) (certFiles, error) {
	c, err := certs.Generate(certs.Template{Subject: "CN=relay.bench.test", SANs: benchNames, KeyType: keyType})
	if err != nil {
		return certFiles{}, fmt.Errorf("generate %s certificate: %w", keyType, err)
	}
	f := certFiles{
		PEM:  filepath.Join(dir, name+".pem"),
		Key:  filepath.Join(dir, name+".key"),
		Cert: filepath.Join(dir, name+".crt"),
	}
	if err := certs.WritePEM(f.PEM, c); err != nil {
		return f, fmt.Errorf("write %s: %w", f.PEM, err)
	}
	if err := certs.WriteCertPEM(f.Cert, c); err != nil {
		return f, fmt.Errorf("write %s: %w", f.Cert, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return f, fmt.Errorf("encode %s key: %w", keyType, err)
	}
	if err := os.WriteFile(f.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return f, fmt.Errorf("write %s: %w", f.Key, err)
	}
	return f, nil
}
