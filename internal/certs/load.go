package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// LoadFile loads a certificate with its chain and, when present, its private
// key. The format is detected from the content, whatever the extension:
//
//   - PEM: certificates and the key in one file, or the key in keyFile;
//   - DER: one certificate (.cer exported without the key);
//   - PFX/P12: password read from passwordFile (trailing newline removed;
//     empty password when passwordFile is "").
//
// The chain is put in order (leaf, then its issuers) whatever order the file
// had. A certificate without a private key loads with HasPrivateKey false, as
// Exchange lists those too; use RequireKey where a key is needed. Errors name
// the file and the fix and wrap ErrNoCertificate, ErrNoPrivateKey,
// ErrKeyMismatch or ErrWrongPassword.
func LoadFile(file, keyFile, passwordFile string) (*Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: %w", file, err)
	}
	var (
		chain []*x509.Certificate
		key   any
	)
	switch {
	case isPEM(data):
		chain, key, err = parsePEM(file, data)
	case isDERCertificate(data):
		var c *x509.Certificate
		c, err = x509.ParseCertificate(data)
		chain = []*x509.Certificate{c}
	case isPKCS7(data):
		chain, err = ParsePKCS7(data)
		if err != nil {
			err = fmt.Errorf("load certificate %s: %w", file, err)
		}
	default:
		chain, key, err = loadPFX(file, data, passwordFile)
	}
	if err != nil {
		return nil, err
	}
	if keyFile != "" {
		key, err = loadKeyFile(keyFile)
		if err != nil {
			return nil, err
		}
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("load certificate %s: %w in %s — the file must hold a certificate (PEM \"BEGIN CERTIFICATE\", DER or PFX)", file, ErrNoCertificate, file)
	}
	chain, err = orderChain(chain, key)
	if err != nil {
		where := "the key in " + file
		if keyFile != "" {
			where = "key_file " + keyFile
		}
		return nil, fmt.Errorf("load certificate %s: %w — %s belongs to another certificate", file, err, where)
	}
	c, err := New(chain, key, file)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: %w", file, err)
	}
	return c, nil
}

func isPEM(data []byte) bool { return bytes.Contains(data, []byte("-----BEGIN ")) }

// isDERCertificate tells a bare DER certificate from a PFX (both start with a
// SEQUENCE) by parsing it.
func isDERCertificate(data []byte) bool {
	_, err := x509.ParseCertificate(data)
	return err == nil
}

// parsePEM reads every certificate and private key block of a PEM file.
func parsePEM(file string, data []byte) ([]*x509.Certificate, any, error) {
	var (
		chain []*x509.Certificate
		keys  []any
	)
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case block.Type == "PKCS7" || block.Type == "CMS":
			cs, err := ParsePKCS7(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("load certificate %s: %w", file, err)
			}
			chain = append(chain, cs...)
		case block.Type == "CERTIFICATE" || block.Type == "X509 CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("load certificate %s: certificate %d does not parse: %w", file, len(chain)+1, err)
			}
			chain = append(chain, c)
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			k, err := parseKeyBlock(file, block)
			if err != nil {
				return nil, nil, err
			}
			keys = append(keys, k)
		}
	}
	if len(chain) == 0 {
		return nil, nil, fmt.Errorf("load certificate %s: %w in %s — the file must hold a \"BEGIN CERTIFICATE\" block", file, ErrNoCertificate, file)
	}
	if len(chain) > MaxBundleCertificates {
		return nil, nil, fmt.Errorf("load certificate %s: %w (%d, at most %d) — keep the certificate and its chain only", file, ErrTooManyCertificates, len(chain), MaxBundleCertificates)
	}
	switch len(keys) {
	case 0:
		return chain, nil, nil
	case 1:
		return chain, keys[0], nil
	}
	// Several keys: keep the one that belongs to a certificate of the file.
	for _, k := range keys {
		for _, c := range chain {
			if keyMatches(c, k) {
				return chain, k, nil
			}
		}
	}
	return nil, nil, fmt.Errorf("load certificate %s: %w — none of the %d keys in the file belongs to its certificates", file, ErrKeyMismatch, len(keys))
}

// parseKeyBlock parses PKCS#8, PKCS#1 and SEC 1 keys; encrypted keys are
// refused with the command that decrypts them.
func parseKeyBlock(file string, block *pem.Block) (any, error) {
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
		return nil, fmt.Errorf("load certificate %s: the private key is encrypted — decrypt it (openssl pkey -in %s -out key.pem) and use key_file, or use a PFX with password_file", file, file)
	}
	k, err := parseKeyDER(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: private key (%s) does not parse: %w", file, block.Type, err)
	}
	return k, nil
}

func parseKeyDER(der []byte) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, PKCS#1 or EC private key")
}

// loadKeyFile reads the private key of a key_file (PEM, or DER PKCS#8).
func loadKeyFile(keyFile string) (any, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", keyFile, err)
	}
	if !isPEM(data) {
		if k, err := parseKeyDER(data); err == nil {
			return k, nil
		}
		return nil, fmt.Errorf("load key %s: %w in %s — add key_file or a PEM with the key", keyFile, ErrNoPrivateKey, keyFile)
	}
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			return parseKeyBlock(keyFile, block)
		}
	}
	return nil, fmt.Errorf("load key %s: %w in %s — add key_file or a PEM with the key", keyFile, ErrNoPrivateKey, keyFile)
}

// loadPFX decodes a PKCS#12 file. A PFX holding only certificates (a trust
// store) loads without a key.
func loadPFX(file string, data []byte, passwordFile string) ([]*x509.Certificate, any, error) {
	password := ""
	if passwordFile != "" {
		p, err := os.ReadFile(passwordFile)
		if err != nil {
			return nil, nil, fmt.Errorf("load certificate %s: read password_file: %w", file, err)
		}
		password = strings.TrimRight(string(p), "\r\n")
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	switch {
	case err == nil:
		return append([]*x509.Certificate{leaf}, cas...), key, nil
	case errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption):
		if passwordFile == "" {
			return nil, nil, fmt.Errorf("load certificate %s: %w — the file is protected: set password_file", file, ErrWrongPassword)
		}
		return nil, nil, fmt.Errorf("load certificate %s: %w — check password_file %s", file, ErrWrongPassword, passwordFile)
	case strings.Contains(err.Error(), "private key missing"):
		certs, tsErr := pkcs12.DecodeTrustStore(data, password)
		if tsErr == nil && len(certs) > 0 {
			return certs, nil, nil
		}
		return nil, nil, fmt.Errorf("load certificate %s: %w in the PFX — export it again with its private key", file, ErrNoPrivateKey)
	case strings.Contains(err.Error(), "certificate missing"):
		return nil, nil, fmt.Errorf("load certificate %s: %w in %s — the PFX holds no certificate", file, ErrNoCertificate, file)
	case strings.Contains(err.Error(), "error reading P12 data"):
		return nil, nil, fmt.Errorf("load certificate %s: %w in %s — expected PEM, DER or PFX/P12 content", file, ErrNoCertificate, file)
	default:
		return nil, nil, fmt.Errorf("load certificate %s: read PFX: %w", file, err)
	}
}

// orderChain puts the certificate the key belongs to (or, without a key, the
// one that issued none of the others) first and follows issuer links; any
// certificate not on that path is kept at the end in file order.
func orderChain(in []*x509.Certificate, key any) ([]*x509.Certificate, error) {
	leafIdx := -1
	if key != nil {
		for i, c := range in {
			if keyMatches(c, key) {
				leafIdx = i
				break
			}
		}
		if leafIdx < 0 {
			return nil, ErrKeyMismatch
		}
	} else {
		leafIdx = 0
	find:
		for i, c := range in {
			for j, o := range in {
				if i != j && issued(c, o) {
					continue find
				}
			}
			leafIdx = i
			break
		}
	}
	used := make([]bool, len(in))
	out := []*x509.Certificate{in[leafIdx]}
	used[leafIdx] = true
	for cur := in[leafIdx]; !isSelfSigned(cur); {
		next := -1
		for i, c := range in {
			if !used[i] && issued(c, cur) {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		out = append(out, in[next])
		cur = in[next]
	}
	for i, c := range in {
		if !used[i] {
			out = append(out, c)
		}
	}
	return out, nil
}

// issued reports whether parent issued child (names and signature).
func issued(parent, child *x509.Certificate) bool {
	if parent == child || !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return false
	}
	return parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
}
