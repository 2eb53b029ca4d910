package hybrid

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/node"
)

var update = flag.Bool("update", false, "rewrite the golden files and the test PKI")

// testNow is the clock of every plan test: all test certificates are valid.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// testPKI writes the certificates the organisations in testdata name, once
// (-update rewrites them; they are committed so that goldens are stable).
func testPKI(t *testing.T) {
	t.Helper()
	pkiOnce.Do(func() { writePKI(t) })
}

var pkiOnce sync.Once

func writePKI(t *testing.T) {
	if _, err := os.Stat("testdata/contoso/server1.pem"); err == nil && !*update {
		return
	}
	gen := func(tmpl certs.Template) *certs.Certificate {
		if tmpl.KeyType == "" {
			tmpl.KeyType = "ecdsa-p256"
		}
		c, err := certs.Generate(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := gen(certs.Template{Subject: "CN=Test TLS RSA CA G1, O=Test Trust Services, C=US", IsCA: true, NotBefore: day(2024, 1, 1), NotAfter: day(2034, 1, 1)})
	files := map[string]*certs.Certificate{
		"contoso/server1.pem":      gen(certs.Template{Subject: "CN=SERVER1", SANs: []string{"SERVER1", "server1.contoso.local"}, NotBefore: day(2024, 1, 1), NotAfter: day(2029, 1, 1)}),
		"contoso/mail-contoso.pem": gen(certs.Template{Subject: "CN=mail.contoso.com", SANs: []string{"mail.contoso.com", "autodiscover.contoso.com"}, NotBefore: day(2025, 6, 1), NotAfter: day(2026, 7, 1), Issuer: ca}),
		"contoso/tenant.pem": gen(certs.Template{Subject: "CN=mail.protection.outlook.com", SANs: []string{"mail.protection.outlook.com", "*.mail.protection.outlook.com"},
			NotBefore: day(2025, 6, 1), NotAfter: day(2027, 6, 1), Issuer: ca}),
		"inframan/exch01.pem": gen(certs.Template{Subject: "CN=EXCH01", SANs: []string{"EXCH01", "exch01.inframan.local"}, NotBefore: day(2024, 1, 1), NotAfter: day(2029, 1, 1)}),
		"inframan/webmail-inframan.pem": gen(certs.Template{Subject: "CN=webmail.inframan.nl", SANs: []string{"webmail.inframan.nl", "mail.inframan.nl"},
			NotBefore: day(2025, 9, 1), NotAfter: day(2026, 9, 1), Issuer: ca}),
		"inframan/webmail-renewed.pem": gen(certs.Template{Subject: "CN=webmail.inframan.nl", SANs: []string{"webmail.inframan.nl", "mail.inframan.nl", "autodiscover.inframan.nl"},
			NotBefore: day(2025, 8, 1), NotAfter: day(2027, 8, 1), Issuer: ca}),
	}
	for name, c := range files {
		if err := certs.WritePEM(filepath.Join("testdata", name), c); err != nil {
			t.Fatal(err)
		}
	}
	for _, org := range []string{"contoso", "inframan"} {
		if err := certs.WriteCertPEM(filepath.Join("testdata", org, "ca.pem"), ca); err != nil {
			t.Fatal(err)
		}
	}
}

// loadOrg builds an organisation of testdata.
func loadOrg(t *testing.T, org string) *node.Runtime {
	t.Helper()
	testPKI(t)
	rt, err := node.Build(filepath.Join("testdata", org, "onprem.yaml"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// byCN finds the certificate of the store with that subject and NotAfter year.
func byCN(t *testing.T, rt *node.Runtime, subject string, notAfterYear int) *certs.Certificate {
	t.Helper()
	for _, c := range rt.Store.All() {
		if c.Subject == subject && c.Leaf.NotAfter.Year() == notAfterYear {
			return c
		}
	}
	t.Fatalf("no %s until %d in the store", subject, notAfterYear)
	return nil
}

// allowedParams reads testdata/cmdlet-parameters.txt: cmdlet → parameter →
// the versions spec.
func allowedParams(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := os.Open("testdata/cmdlet-parameters.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 {
			t.Fatalf("cmdlet-parameters.txt: bad line %q", line)
		}
		if out[fs[0]] == nil {
			out[fs[0]] = map[string]string{}
		}
		out[fs[0]][fs[1]] = fs[2]
	}
	return out
}

// availableIn reports whether a versions spec of the table covers v.
func availableIn(spec string, v certs.Version, shell string) bool {
	switch spec {
	case "online":
		return shell == ShellOnline
	case "2010+":
		return shell == ShellOnPrem
	case "2013+":
		return shell == ShellOnPrem && v != certs.Exchange2010
	case "2016+":
		return shell == ShellOnPrem && v != certs.Exchange2010 && v != certs.Exchange2013
	}
	return false
}
