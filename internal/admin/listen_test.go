package admin_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/labpki"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// adminConfig is a minimal configuration with the given admin section.
func adminConfig(admin string) string {
	return testkit.LabOnPrem + `receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:2525"]
    remote_ip_ranges: ["127.0.0.0/8"]
` + admin
}

const contosoPin = "<I>CN=Contoso Lab CA, O=Contoso Lab, C=US<S>CN=mail.contoso.com"

// The configuration refuses an admin API beyond loopback unless it is
// explicitly allowed and has a certificate; loopback in any spelling is
// fine. Nothing is bound: this is validation only.
func TestAdminListenValidation(t *testing.T) {
	tests := []struct {
		name  string
		admin string
		keys  []string // keys of the expected errors; none = valid
	}{
		{"default", "", nil},
		{"off", "admin:\n  listen: off\n", nil},
		{"127.0.0.1", "admin:\n  listen: 127.0.0.1:8025\n", nil},
		{"other 127/8 address", "admin:\n  listen: 127.0.0.42:8025\n", nil},
		{"IPv6 loopback", "admin:\n  listen: \"[::1]:8025\"\n", nil},
		{"IPv4-mapped loopback", "admin:\n  listen: \"[::ffff:127.0.0.1]:8025\"\n", nil},
		{"localhost", "admin:\n  listen: localhost:8025\n", nil},
		{"all IPv4 alone", "admin:\n  listen: 0.0.0.0:8025\n", []string{"admin.listen", "admin.tls_certificate_name"}},
		{"all IPv4, allowed, no certificate", "admin:\n  listen: 0.0.0.0:8025\n  allow_non_loopback: true\n", []string{"admin.tls_certificate_name"}},
		{"all IPv4, certificate, not allowed", "admin:\n  listen: 0.0.0.0:8025\n  tls_certificate_name: \"" + contosoPin + "\"\n", []string{"admin.listen"}},
		{"all IPv4, allowed, certificate", "admin:\n  listen: 0.0.0.0:8025\n  allow_non_loopback: true\n  tls_certificate_name: \"" + contosoPin + "\"\n", nil},
		{"all IPv4, allowed, host name", "admin:\n  listen: 0.0.0.0:8025\n  allow_non_loopback: true\n  tls_certificate_name: mail.contoso.com\n", nil},
		{"all IPv4, allowed, bad name", "admin:\n  listen: 0.0.0.0:8025\n  allow_non_loopback: true\n  tls_certificate_name: \"<I>CN=x\"\n", []string{"admin.tls_certificate_name"}},
		{"every interface", "admin:\n  listen: \":8025\"\n", []string{"admin.listen", "admin.tls_certificate_name"}},
		{"all IPv6", "admin:\n  listen: \"[::]:8025\"\n", []string{"admin.listen", "admin.tls_certificate_name"}},
		{"a LAN address", "admin:\n  listen: 192.0.2.10:8025\n", []string{"admin.listen", "admin.tls_certificate_name"}},
		{"host name", "admin:\n  listen: admin.contoso.com:8025\n", []string{"admin.listen"}},
		{"no port", "admin:\n  listen: 127.0.0.1\n", []string{"admin.listen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mailflow.yaml")
			_, err := config.Parse(path, []byte(adminConfig(tt.admin)))
			es := config.AsErrors(err)
			if err != nil && es == nil {
				t.Fatalf("not a configuration error: %v", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Key)
				if e.File != path || e.Line == 0 || e.Fix == "" {
					t.Errorf("error without file, line or fix: %v", e)
				}
			}
			// Errors come in line order; compare the keys as a set.
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tt.keys, ",") {
				t.Fatalf("errors on %v, want %v:\n%v", got, tt.keys, err)
			}
		})
	}
}

func TestIsLoopbackAndDialAddress(t *testing.T) {
	for _, tt := range []struct {
		listen   string
		loopback bool
		dial     string
	}{
		{"127.0.0.1:8025", true, "127.0.0.1:8025"},
		{"127.3.2.1:8025", true, "127.3.2.1:8025"},
		{"[::1]:8025", true, "[::1]:8025"},
		{"[::ffff:127.0.0.1]:8025", true, "[::ffff:127.0.0.1]:8025"},
		{"localhost:8025", true, "localhost:8025"},
		{"LOCALHOST:8025", true, "LOCALHOST:8025"},
		{"0.0.0.0:8025", false, "127.0.0.1:8025"},
		{":8025", false, "127.0.0.1:8025"},
		{"[::]:8025", false, "[::1]:8025"},
		{"192.0.2.10:8025", false, "192.0.2.10:8025"},
		{"[2001:db8::1]:8025", false, "[2001:db8::1]:8025"},
		{"127.0.0.1", false, "127.0.0.1"},
		{"not an address", false, "not an address"},
	} {
		if got := admin.IsLoopback(tt.listen); got != tt.loopback {
			t.Errorf("isLoopback(%q) = %v, want %v", tt.listen, got, tt.loopback)
		}
		if got := admin.DialAddress(tt.listen); got != tt.dial {
			t.Errorf("dialAddress(%q) = %q, want %q", tt.listen, got, tt.dial)
		}
	}
}

// labConfig writes a lab PKI and a configuration with the admin section,
// and loads it with its certificates.
func labConfig(t *testing.T, adminSection string) (*config.Config, *certs.Store, *labpki.PKI) {
	t.Helper()
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mailflow.yaml")
	testkit.WriteFile(t, path, adminConfig(adminSection))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	store, errs := node.LoadCertificates(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return cfg, store, pki
}

// How the API listens: plain on loopback, TLS with the named certificate
// beyond it, refused when not allowed or when no certificate fits.
func TestListenTLSDecision(t *testing.T) {
	cfg, store, pki := labConfig(t, "admin:\n  listen: 127.0.0.1:8025\n")
	now := time.Now()
	for _, listen := range []string{"127.0.0.1:8025", "127.9.9.9:1", "[::1]:8025", "localhost:8025", "[::ffff:127.0.0.1]:8025"} {
		cfg.Admin.Listen, cfg.Admin.AllowNonLoopback, cfg.Admin.TLSCertificateName = listen, false, ""
		if tc, err := admin.ListenTLS(cfg, store, now); tc != nil || err != nil {
			t.Errorf("%s: %v %v, want plain HTTP", listen, tc, err)
		}
	}
	for _, tt := range []struct {
		name, listen, certName string
		allow                  bool
		want                   *certs.Certificate // nil = refused
		errHas                 string
	}{
		{"allowed, pinned", "0.0.0.0:8025", pki.Contoso.Name(), true, pki.Contoso, ""},
		{"allowed, host name", "[::]:8025", "mail.contoso.com", true, pki.Contoso, ""},
		{"allowed, self-signed by host name", "192.0.2.10:8025", "server1.contoso.local", true, pki.Server1, ""},
		{"not allowed", "0.0.0.0:8025", pki.Contoso.Name(), false, nil, "allow_non_loopback"},
		{"no certificate", "0.0.0.0:8025", "", true, nil, "tls_certificate_name"},
		{"pin matching nothing", "0.0.0.0:8025", "<I>CN=Nobody<S>CN=admin.contoso.com", true, nil, "matches no certificate"},
		{"host name nothing holds", "0.0.0.0:8025", "admin.fabrikam.com", true, nil, "matches no certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg.Admin.Listen, cfg.Admin.AllowNonLoopback, cfg.Admin.TLSCertificateName = tt.listen, tt.allow, tt.certName
			tc, err := admin.ListenTLS(cfg, store, now)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("got %v, %v; want an error with %q", tc, err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc == nil || len(tc.Certificates) != 1 || tc.Certificates[0].Leaf == nil {
				t.Fatalf("TLS configuration %+v", tc)
			}
			if got := certs.Thumbprint(tc.Certificates[0].Leaf.Raw); got != tt.want.Thumbprint {
				t.Fatalf("presents %s, want %s", got, tt.want.Thumbprint)
			}
			if tc.MinVersion < tls.VersionTLS12 {
				t.Fatalf("MinVersion %x", tc.MinVersion)
			}
		})
	}
}

// Start-up refuses an admin certificate that matches nothing, with the
// file and line, before anything listens.
func TestAdminCertificateCheckedAtStartup(t *testing.T) {
	for _, name := range []string{"<I>CN=Nobody<S>CN=admin.contoso.com", "admin.fabrikam.com"} {
		cfg, _, _ := labConfig(t, fmt.Sprintf("admin:\n  listen: 0.0.0.0:8025\n  allow_non_loopback: true\n  tls_certificate_name: %q\n", name))
		_, err := node.BuildFrom(cfg, time.Now())
		es := config.AsErrors(err)
		if len(es) != 1 || es[0].Key != "admin.tls_certificate_name" || es[0].Line == 0 || es[0].Fix == "" {
			t.Fatalf("%s: %v, want one error on admin.tls_certificate_name with line and fix", name, err)
		}
	}
}

// The TLS path end to end, without ever binding or dialling beyond
// loopback: a configuration listening on 0.0.0.0 is served on 127.0.0.1
// through the injected listener. Plain HTTP gets nowhere; HTTPS with the
// lab CA works and still needs the token; the CLI's client (ClientFor)
// reaches it over TLS, pinned to the configured certificate.
func TestAPIServedOverTLSBeyondLoopback(t *testing.T) {
	port := testkit.FreePort(t)
	dir := t.TempDir()
	pki, err := labpki.New(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "onprem.yaml")
	listen := fmt.Sprintf("0.0.0.0:%d", port)
	body := strings.Replace(onprem(testkit.FreePort(t), testkit.FreePort(t), pki.Server1.Name()),
		"admin:\n  listen: 127.0.0.1:0\n",
		fmt.Sprintf("admin:\n  listen: %s\n  allow_non_loopback: true\n  tls_certificate_name: mail.contoso.com\n", listen), 1)
	testkit.WriteFile(t, cfgPath, body)
	var asked string
	srv, api := startAPI(t, cfgPath, func(network, address string) (net.Listener, error) {
		asked = address
		return net.Listen(network, fmt.Sprintf("127.0.0.1:%d", port))
	})
	t.Cleanup(func() { closeServer(t, srv, api) })
	if asked != listen {
		t.Fatalf("the API asked to listen on %s, want %s", asked, listen)
	}
	token, err := admin.ReadToken(api.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("127.0.0.1:%d/api/v1/status", port)

	// Plain HTTP: the TLS server answers 400 and nothing else.
	code, text := get(t, &http.Client{Timeout: 10 * time.Second}, "http://"+url, token)
	if code != http.StatusBadRequest || strings.Contains(text, "SERVER1") {
		t.Fatalf("plain HTTP to the TLS API: %d %s", code, text)
	}

	roots := x509.NewCertPool()
	roots.AddCert(pki.CA.Leaf)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "mail.contoso.com"}}}
	if code, text := get(t, hc, "https://"+url, ""); code != http.StatusUnauthorized {
		t.Fatalf("HTTPS without the token: %d %s", code, text)
	}
	if code, text := get(t, hc, "https://"+url, token); code != http.StatusOK || !strings.Contains(text, "SERVER1") {
		t.Fatalf("HTTPS with the token: %d %s", code, text)
	}

	c, err := admin.ClientFor(cfgPath)
	if err != nil {
		t.Fatalf("ClientFor over TLS: %v", err)
	}
	if !strings.HasPrefix(c.Base, fmt.Sprintf("https://127.0.0.1:%d", port)) {
		t.Fatalf("client base %s, want https on loopback", c.Base)
	}
	if st, err := c.Status(); err != nil || st.Server != "SERVER1" {
		t.Fatalf("status through ClientFor: %+v %v", st, err)
	}
}

func get(t *testing.T, hc *http.Client, url, token string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
