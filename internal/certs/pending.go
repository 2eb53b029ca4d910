package certs

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrNoPendingRequest is returned when a signed certificate matches no
// pending request's key.
var ErrNoPendingRequest = errors.New("no pending request for this key")

// PendingStore keeps the private keys of certificate requests until the
// CA's signed certificate comes back: DIR/ID.key (PKCS#8, mode 0600) and
// DIR/ID.csr (the request as sent). The directory is created with mode 0700.
type PendingStore struct{ Dir string }

// Save writes the request's key and CSR; the key is written last so that a
// listed request always has its CSR.
func (s PendingStore) Save(r *PendingRequest) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("pending requests %s: %w", s.Dir, err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: r.CSR})
	if err := writeAtomic(filepath.Join(s.Dir, r.ID+".csr"), csr, 0o644); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(r.Key)
	if err != nil {
		return fmt.Errorf("pending request %s: encode key: %w", r.ID, err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der, Headers: map[string]string{
		"Created": r.Created.UTC().Format(time.RFC3339), "Key-Type": r.KeyType,
	}})
	r.KeyFile = filepath.Join(s.Dir, r.ID+".key")
	return writeAtomic(r.KeyFile, keyPEM, 0o600)
}

// List returns the pending requests, oldest first. A missing directory is
// an empty list.
func (s PendingStore) List() ([]*PendingRequest, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending requests %s: %w", s.Dir, err)
	}
	var out []*PendingRequest
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok || e.IsDir() {
			continue
		}
		r, err := s.load(id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

func (s PendingStore) load(id string) (*PendingRequest, error) {
	keyFile := filepath.Join(s.Dir, id+".key")
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pending request %s: %w", id, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("pending request %s: %s holds no PEM key — remove it (mailflow cert request --cancel %s)", id, keyFile, id)
	}
	k, err := parseKeyDER(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pending request %s: %s: %w", id, keyFile, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("pending request %s: key cannot sign", id)
	}
	r := &PendingRequest{ID: id, Key: signer, KeyFile: keyFile, KeyType: block.Headers["Key-Type"]}
	r.Created, _ = time.Parse(time.RFC3339, block.Headers["Created"])
	if csrPEM, err := os.ReadFile(filepath.Join(s.Dir, id+".csr")); err == nil {
		if b, _ := pem.Decode(csrPEM); b != nil {
			if csr, err := x509.ParseCertificateRequest(b.Bytes); err == nil {
				r.CSR = b.Bytes
				r.Subject = WindowsName(csr.RawSubject)
				r.SANs = append(r.SANs, csr.DNSNames...)
				for _, ip := range csr.IPAddresses {
					r.SANs = append(r.SANs, ip.String())
				}
			}
		}
	}
	return r, nil
}

// Match finds the pending request whose key one of the certificates
// carries and returns it with that certificate. A signed certificate for a
// key this store does not hold is refused with ErrNoPendingRequest and the
// pending requests listed.
func (s PendingStore) Match(chain []*x509.Certificate) (*PendingRequest, *x509.Certificate, error) {
	pending, err := s.List()
	if err != nil {
		return nil, nil, err
	}
	for _, c := range chain {
		id, err := KeyID(c.PublicKey)
		if err != nil {
			continue
		}
		for _, p := range pending {
			if p.ID == id && keyMatches(c, p.Key) {
				return p, c, nil
			}
		}
	}
	leaf := chain[0]
	id, _ := KeyID(leaf.PublicKey)
	var list []string
	for _, p := range pending {
		list = append(list, fmt.Sprintf("%s (%s)", p.ID, p.Subject))
	}
	have := "there are no pending requests"
	if len(list) > 0 {
		have = "pending: " + strings.Join(list, ", ")
	}
	return nil, nil, fmt.Errorf("%w: the certificate %s was issued for public key %s, which no pending request holds (%s) — the CA signed a different request: send it the CSR written by mailflow cert request, or import the certificate together with its own key (--key-file)",
		ErrNoPendingRequest, WindowsName(leaf.RawSubject), id, have)
}

// Complete builds the certificate from the CA's reply and the pending key:
// chain in order (leaf, then issuers), key attached. Source is left empty;
// the caller writes it and sets it.
func (s PendingStore) Complete(chain []*x509.Certificate) (*Certificate, *PendingRequest, error) {
	p, _, err := s.Match(chain)
	if err != nil {
		return nil, nil, err
	}
	ordered, err := orderChain(chain, p.Key)
	if err != nil {
		return nil, nil, err
	}
	c, err := New(ordered, p.Key, "")
	if err != nil {
		return nil, nil, err
	}
	return c, p, nil
}

// Remove deletes a pending request (after its certificate was imported, or
// to cancel it).
func (s PendingStore) Remove(id string) error {
	if strings.ContainsAny(id, `/\.`) || id == "" {
		return fmt.Errorf("pending request %q: not a request id", id)
	}
	err := os.Remove(filepath.Join(s.Dir, id+".key"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no pending request %s; list them with mailflow cert list --config FILE", id)
	}
	if err != nil {
		return err
	}
	os.Remove(filepath.Join(s.Dir, id+".csr"))
	return nil
}
