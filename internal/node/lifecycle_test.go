package node_test

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/acmelab"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// trackingText is the message tracking log written so far.
func trackingText(t *testing.T, srv *node.Node) string {
	t.Helper()
	srv.FlushLogs()
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(srv.TrackingDir(), "*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

// The expiry monitor, driven by an injected clock: at start-up a warning
// like event 12017 for the pinned certificate ten days before it expires,
// again a day later, and once it has expired an error like event 12018
// saying that validating senders refuse it although the pin keeps it
// presented.
func TestExpiryMonitorWithInjectedClock(t *testing.T) {
	f := newFixture(t)
	f.write(t, onprem(f.port, f.pki.Contoso.Name()))
	notAfter := f.pki.Contoso.Leaf.NotAfter
	clock := testkit.NewClock(notAfter.Add(-10 * 24 * time.Hour))
	logger, logs := testkit.RecordLogs(t)
	srv := startWith(t, f.cfg, node.Options{Logger: logger, Clock: clock})

	testkit.Eventually(t, time.Minute, "the start-up expiry warning", func() bool {
		return logs.Count("event=12017", "will expire in 10 day(s)", "Default Frontend SERVER1", f.pki.Contoso.Thumbprint) == 1
	})
	clock.Advance(24 * time.Hour)
	testkit.Eventually(t, time.Minute, "the daily expiry warning", func() bool {
		return logs.Count("event=12017", "will expire in 9 day(s)") == 1
	})
	clock.Advance(10 * 24 * time.Hour)
	testkit.Eventually(t, time.Minute, "the expired error", func() bool {
		return logs.Count("level=ERROR", "event=12018", "has expired", "pin it with tls_certificate_name", "validating senders refuse") == 1
	})
	if tr := trackingText(t, srv); !strings.Contains(tr, "S:Certificate=expiring") || !strings.Contains(tr, "S:Certificate=expired") {
		t.Fatalf("the tracking log lacks the expiry records:\n%s", tr)
	}
}

// An ACME certificate from Pebble, validated over a real tls-alpn-01
// challenge on loopback: obtained at start-up and presented by
// the connector whose FQDN it holds; renewed live (reuse_key keeps the
// key) when the injected clock reaches its renewal time, with a session in
// flight finishing on the old certificate and mail flowing on the new.
func TestACMECertificateLive(t *testing.T) {
	// A real tls-alpn-01 validation: the CA resolves mail.contoso.com to
	// 127.0.0.1 and connects to the challenge listener's port.
	challengePort := testkit.FreePort(t)
	p := testkit.StartACME(t, acmelab.Options{Validity: 3600, TLSPort: challengePort})
	f := newFixture(t)
	testkit.WriteFile(t, filepath.Join(f.dir, "certs", "pebble.pem"), string(p.TrustPEM()))
	f.write(t, fmt.Sprintf(`server:
  name: SERVER1
  fqdn: server1.contoso.local
  data_dir: ./data
accepted_domains: [contoso.com]
trust:
  ca_files: [certs/lab-ca.pem, certs/pebble.pem]
  system_roots: false
certificates:
  - file: certs/server1-selfsigned.pem
  - acme:
      domains: [mail.contoso.com]
      directory: %s
      email: postmaster@contoso.com
      challenge: tls-alpn-01
      challenge_listen: 127.0.0.1:%d
      reuse_key: true
admin:
  listen: off
receive_connectors:
  - name: Default Frontend SERVER1
    bindings: ["127.0.0.1:%d"]
    remote_ip_ranges: ["127.0.0.0/8"]
    fqdn: mail.contoso.com
    auth_mechanism: [Tls]
    permission_groups: [AnonymousUsers]
`, p.Directory, challengePort, f.port))
	// Pebble does not backdate (public CAs do): a clock a minute ahead
	// keeps the fresh certificate from being "not yet valid".
	clock := testkit.NewClock(time.Now().Add(time.Minute))
	logger, logs := testkit.RecordLogs(t)
	srv := startWith(t, f.cfg, node.Options{Logger: logger, Clock: clock})
	addr := srv.Receiver().Addrs()[0].String()
	ms := srv.ACMEManagers()
	if len(ms) != 1 {
		t.Fatalf("%d ACME managers", len(ms))
	}
	m := ms[0]
	testkit.Poll(t, time.Minute, "the ACME certificate presented", func() (bool, string) {
		cur := m.Current()
		tp, err := testkit.PresentedThumbprint(addr)
		return cur != nil && err == nil && tp == cur.Thumbprint, fmt.Sprintf("presented %s %v, last ACME error %v", tp, err, m.LastError())
	})
	first := m.Current()
	if !strings.HasPrefix(first.Issuer, "CN=Pebble Intermediate CA") {
		t.Fatalf("issued by %s", first.Issuer)
	}

	held := dialPlain(t, addr)
	if err := held.Secure(); err != nil {
		t.Fatal(err)
	}
	if _, err := held.Mail("sender@tenant.example", nil); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Minute, "the renewal scheduled", func() bool { return m.NextStep().After(clock.Now()) })
	clock.Advance(m.NextStep().Sub(clock.Now()) + time.Second)
	testkit.Poll(t, time.Minute, "the renewed certificate presented", func() (bool, string) {
		cur := m.Current()
		tp, err := testkit.PresentedThumbprint(addr)
		return cur != nil && cur.Thumbprint != first.Thumbprint && tp == cur.Thumbprint, fmt.Sprintf("presented %s %v, last ACME error %v", tp, err, m.LastError())
	})
	renewed := m.Current()
	if k, ok := first.Leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(renewed.Leaf.PublicKey) {
		t.Fatal("reuse_key: the renewal has another key")
	}
	if code, err := held.Finish("user@contoso.com", body("across the ACME renewal")); code != 250 || held.Thumbprint != first.Thumbprint {
		t.Fatalf("session in flight: %d %v on %s", code, err, held.Thumbprint)
	}
	held.Quit()
	s := dialPlain(t, addr)
	if err := s.Secure(); err != nil {
		t.Fatal(err)
	}
	if code, err := s.Send("sender@tenant.example", "user@contoso.com", body("after the renewal")); code != 250 || s.Thumbprint != renewed.Thumbprint {
		t.Fatalf("mail after the renewal: %d %v on %s", code, err, s.Thumbprint)
	}
	s.Quit()
	if logs.Count("ACME certificate obtained and applied live") != 1 || logs.Count("ACME certificate renewed and applied live", "key_reused=true") != 1 {
		t.Fatalf("the log lacks the ACME steps:\n%s", logs)
	}
	tr := trackingText(t, srv)
	if !strings.Contains(tr, "S:Certificate=obtained") || !strings.Contains(tr, "S:Certificate=renewed;Where=certificates[1];Thumbprint="+renewed.Thumbprint) {
		t.Fatalf("the tracking log lacks the ACME steps:\n%s", tr)
	}
}

// trackingProbe is a log handler that, on each expiry event, reads the
// tracking log at that very moment: whoever reacts to the log line (a test
// moving the clock on, an operator's tail) must find the record written.
type trackingProbe struct {
	slog.Handler
	srv     *atomic.Pointer[node.Node]
	mu      *sync.Mutex
	missing *[]string
}

func (h trackingProbe) Handle(ctx context.Context, r slog.Record) error {
	srv := h.srv.Load()
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "event" && srv != nil && (a.Value.String() == "12017" || a.Value.String() == "12018") {
			want := "S:Certificate=expiring"
			if a.Value.String() == "12018" {
				want = "S:Certificate=expired"
			}
			srv.FlushLogs()
			var b strings.Builder
			files, _ := filepath.Glob(filepath.Join(srv.TrackingDir(), "*"))
			for _, f := range files {
				data, _ := os.ReadFile(f)
				b.Write(data)
			}
			if !strings.Contains(b.String(), want) {
				h.mu.Lock()
				*h.missing = append(*h.missing, r.Message)
				h.mu.Unlock()
			}
		}
		return true
	})
	return h.Handler.Handle(ctx, r)
}

func (h trackingProbe) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func (h trackingProbe) WithGroup(name string) slog.Handler {
	h.Handler = h.Handler.WithGroup(name)
	return h
}

// The expiry record is in the tracking log before the expiry event is
// logged (the monitor test waits for the log line and then reads the
// tracking log; the other order failed it under load).
func TestExpiryRecordedBeforeLogged(t *testing.T) {
	f := newFixture(t)
	f.write(t, onprem(f.port, f.pki.Contoso.Name()))
	clock := testkit.NewClock(f.pki.Contoso.Leaf.NotAfter.Add(time.Hour))
	var (
		ptr     atomic.Pointer[node.Node]
		mu      sync.Mutex
		missing []string
	)
	logger := slog.New(trackingProbe{Handler: testkit.Logger(t).Handler(), srv: &ptr, mu: &mu, missing: &missing})
	srv := startWith(t, f.cfg, node.Options{Logger: logger, Clock: clock})
	ptr.Store(srv)
	if fs := srv.CheckExpiry(); len(fs) == 0 {
		t.Fatal("no expiry finding for the expired certificate")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(missing) > 0 {
		t.Fatalf("logged before the tracking record was written: %q", missing)
	}
}
