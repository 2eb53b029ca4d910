package send

import (
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/protolog"
	"github.com/mailflowhq/mailflow/internal/smtp/smtptest"
)

// pki is a small lab PKI: a root, an intermediate, server and client
// certificates.
type pki struct {
	root, inter *certs.Certificate
	server      *certs.Certificate // CN=mail.contoso.com issued by root
	client      *certs.Certificate // CN=mail.fabrikam.com issued by root
	roots       *x509.CertPool
}

var (
	pkiOnce sync.Once
	pkiVal  *pki
	pkiErr  error
)

// testPKI is built once per test binary: key generation is the slow part.
func testPKI(t *testing.T) *pki {
	t.Helper()
	pkiOnce.Do(func() {
		p := &pki{}
		now := time.Now()
		gen := func(tmpl certs.Template) *certs.Certificate {
			if pkiErr != nil {
				return nil
			}
			if tmpl.KeyType == "" {
				tmpl.KeyType = "ecdsa-p256"
			}
			if tmpl.NotBefore.IsZero() {
				tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(365*24*time.Hour)
			}
			c, err := certs.Generate(tmpl)
			if err != nil {
				pkiErr = err
			}
			return c
		}
		p.root = gen(certs.Template{Subject: "CN=Lab Root CA, O=Lab, C=US", IsCA: true})
		p.inter = gen(certs.Template{Subject: "CN=Lab Issuing CA, O=Lab, C=US", IsCA: true, Issuer: p.root})
		p.server = gen(certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com"}, Issuer: p.root})
		p.client = gen(certs.Template{Subject: "CN=mail.fabrikam.com", SANs: []string{"mail.fabrikam.com"}, Issuer: p.root})
		if pkiErr == nil {
			p.roots = x509.NewCertPool()
			p.roots.AddCert(p.root.Leaf)
		}
		pkiVal = p
	})
	if pkiErr != nil {
		t.Fatalf("test PKI: %v", pkiErr)
	}
	return pkiVal
}

func startServer(t *testing.T, srv *smtptest.Server) *smtptest.Server {
	t.Helper()
	srv.Start(t)
	return srv
}

func waitSession(t *testing.T, srv *smtptest.Server) *smtptest.Session {
	t.Helper()
	select {
	case s := <-srv.Sessions():
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the test server reported no session")
		return nil
	}
}

func message(rcpts ...string) Message {
	return Message{
		ID:    "test-1",
		From:  "sender@fabrikam.com",
		Rcpts: rcpts,
		Body:  BytesBody([]byte("From: sender@fabrikam.com\r\nSubject: test\r\n\r\nHello.\r\n")),
	}
}

// sendLog starts an SmtpSend protocol log in a temporary directory and
// returns a function that flushes it and returns its records.
func sendLog(t *testing.T) (*protolog.Writer, func() []protolog.Record) {
	t.Helper()
	dir := t.TempDir()
	w, err := protolog.NewWriter(protolog.Options{Dir: dir, Kind: protolog.Send, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, func() []protolog.Record {
		t.Helper()
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "SEND*.LOG"))
		var out []protolog.Record
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			r := protolog.NewReader(fh)
			for {
				rec, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, rec.Clone())
			}
			fh.Close()
		}
		return out
	}
}

// hasRecord reports whether a record has the event and contains want in its
// data or context.
func hasRecord(recs []protolog.Record, event byte, want string) bool {
	for _, r := range recs {
		if r.Event == event && (strings.Contains(r.Data, want) || strings.Contains(r.Context, want)) {
			return true
		}
	}
	return false
}
