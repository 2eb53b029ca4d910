package certs

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxBundleCertificates bounds how many certificates one file may hold. A CA
// sends a leaf and two or three issuers; a .p7b with hundreds is hostile or a
// trust-store export picked by mistake, and parsing it all would cost memory
// and time for nothing.
const MaxBundleCertificates = 32

// ErrTooManyCertificates is returned for files holding more than
// MaxBundleCertificates certificates.
var ErrTooManyCertificates = errors.New("too many certificates")

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidPKCS7Data  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
)

// ParsePKCS7 reads the certificates of a degenerate PKCS#7 / CMS SignedData
// (RFC 2315 §9.1, RFC 5652 §5): the ".p7b" a CA sends with a signed
// certificate and its chain (openssl crl2pkcs7 -nocrl -certfile; Windows
// "Cryptographic Message Syntax Standard – PKCS #7 Certificates").
//
// It is written by hand with cryptobyte because no maintained PKCS#7
// library is available to this project, and only this one shape is needed:
// ContentInfo{signedData, SignedData{version, digestAlgorithms, contentInfo,
// [0] certificates, [1] crls OPTIONAL, signerInfos}}. Signatures are not
// verified (a degenerate SignedData has no signers); the certificates are
// checked later like any chain. BER indefinite lengths, which some old
// Windows exports use, are refused with a hint to convert the file.
func ParsePKCS7(der []byte) ([]*x509.Certificate, error) {
	in := cryptobyte.String(der)
	var ci, content cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errors.New("PKCS#7: not a DER ContentInfo (truncated, trailing data or BER indefinite length — convert with: openssl pkcs7 -inform DER -in FILE -print_certs -out chain.pem)")
	}
	if !ci.ReadASN1ObjectIdentifier(&oid) {
		return nil, errors.New("PKCS#7: ContentInfo has no content type")
	}
	if !oid.Equal(oidSignedData) {
		return nil, fmt.Errorf("PKCS#7: content type %s is not SignedData (1.2.840.113549.1.7.2): not a certificate bundle", oid)
	}
	if !ci.ReadASN1(&content, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, errors.New("PKCS#7: SignedData content is missing")
	}
	var sd cryptobyte.String
	if !content.ReadASN1(&sd, cbasn1.SEQUENCE) {
		return nil, errors.New("PKCS#7: SignedData is not a SEQUENCE")
	}
	var version int64
	var digestAlgs, encap cryptobyte.String
	if !sd.ReadASN1Integer(&version) || !sd.ReadASN1(&digestAlgs, cbasn1.SET) || !sd.ReadASN1(&encap, cbasn1.SEQUENCE) {
		return nil, errors.New("PKCS#7: SignedData header (version, digest algorithms, content) does not parse")
	}
	var certSet cryptobyte.String
	var present bool
	if !sd.ReadOptionalASN1(&certSet, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, errors.New("PKCS#7: certificates field does not parse")
	}
	if !present {
		return nil, fmt.Errorf("PKCS#7: %w — the SignedData holds no certificates", ErrNoCertificate)
	}
	var out []*x509.Certificate
	for !certSet.Empty() {
		var raw cryptobyte.String
		var tag cbasn1.Tag
		if !certSet.ReadAnyASN1Element(&raw, &tag) {
			return nil, fmt.Errorf("PKCS#7: certificate %d is truncated", len(out)+1)
		}
		if tag != cbasn1.SEQUENCE {
			continue // attribute certificates and other choices: not TLS certificates
		}
		if len(out) == MaxBundleCertificates {
			return nil, fmt.Errorf("PKCS#7: %w (more than %d) — a CA's reply holds the certificate and its chain; export only those", ErrTooManyCertificates, MaxBundleCertificates)
		}
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("PKCS#7: certificate %d does not parse: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("PKCS#7: %w — the SignedData holds no X.509 certificate", ErrNoCertificate)
	}
	return out, nil
}

// isPKCS7 reports whether der starts like a ContentInfo of type SignedData.
func isPKCS7(der []byte) bool {
	in := cryptobyte.String(der)
	var ci cryptobyte.String
	var oid asn1.ObjectIdentifier
	return in.ReadASN1(&ci, cbasn1.SEQUENCE) && ci.ReadASN1ObjectIdentifier(&oid) && (oid.Equal(oidSignedData) || oid.Equal(oidPKCS7Data))
}
