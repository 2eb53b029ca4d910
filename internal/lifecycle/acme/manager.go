package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mholt/acmez/v3"
	protocol "github.com/mholt/acmez/v3/acme"

	"github.com/mailflowhq/mailflow/internal/atomicfile"
	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/clock"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/loopguard"
)

// Steps recorded through Options.Record.
const (
	StepObtained = "obtained" // first certificate for the entry
	StepRenewed  = "renewed"
	StepFailed   = "failed"  // obtain or renewal failed; retry scheduled
	StepRefused  = "refused" // the renewal guard (or the live swap) refused it
)

// DefaultBackoff is the retry schedule after a failed attempt; the last
// value repeats.
var DefaultBackoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour}

// RateLimitBackoff is the least wait after the CA answered rateLimited:
// asking again sooner only extends the limit.
const RateLimitBackoff = time.Hour

// Options configure a Manager for one certificate entry.
type Options struct {
	Entry    string      // "certificates[2]", for logs
	ACME     config.ACME // domains, directory, challenge …
	File     string      // where certificate, chain and key are kept (PEM, 0600)
	StateDir string      // account keys (mode 0600)
	// Roots validate the ACME directory's HTTPS certificate: the system
	// roots plus trust.ca_files, so a private ACME CA works.
	Roots  *x509.CertPool
	Clock  clock.Clock // nil = system clock
	Logger *slog.Logger
	// Install makes a new certificate live. It runs the renewal guard,
	// writes File and swaps it in; an error keeps the old certificate.
	Install func(c *certs.Certificate) error
	// Record, when set, is told every step (tracking log).
	Record  func(step, entry string, c *certs.Certificate, detail string)
	Backoff []time.Duration // nil = DefaultBackoff
}

// Manager obtains and renews one ACME certificate.
type Manager struct {
	o      Options
	client *acmez.Client

	op       sync.Mutex // one obtain at a time (Run and RenewNow)
	mu       sync.Mutex
	account  *protocol.Account
	failures int
	ari      map[string]time.Time // thumbprint → renewal time chosen (CA's window, at least Backoff[0] after issuance)
	last     error
	next     time.Time // when Run steps next
}

// New prepares a manager; nothing is contacted until Step.
func New(o Options) (*Manager, error) {
	if len(o.ACME.Domains) == 0 {
		return nil, fmt.Errorf("%s: acme.domains is empty", o.Entry)
	}
	if o.Clock == nil {
		o.Clock = clock.System()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.Install == nil {
		return nil, errors.New("acme: Install is required")
	}
	httpClient := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: o.Roots, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 10 * time.Second,
			DialContext:         dialDirectory,
		},
	}
	var solver acmez.Solver
	switch o.ACME.Challenge {
	case "", config.ChallengeTLSALPN:
		solver = &listenSolver{addr: listenAddr(o.ACME.ChallengeListen, ":443"), alpn: true}
	case config.ChallengeHTTP:
		solver = &listenSolver{addr: listenAddr(o.ACME.ChallengeListen, ":80")}
	case config.ChallengeDNS:
		solver = hookSolver{hook: o.ACME.DNSHook}
	default:
		return nil, fmt.Errorf("%s: unknown challenge %q", o.Entry, o.ACME.Challenge)
	}
	challenge := o.ACME.Challenge
	if challenge == "" {
		challenge = config.ChallengeTLSALPN
	}
	m := &Manager{o: o, ari: map[string]time.Time{}}
	m.client = &acmez.Client{
		Client: &protocol.Client{
			Directory:  o.ACME.Directory,
			HTTPClient: httpClient,
			UserAgent:  "mailflow",
			Logger:     o.Logger.With("acme", o.Entry),
		},
		ChallengeSolvers: map[string]acmez.Solver{challenge: solver},
	}
	return m, nil
}

func listenAddr(set, def string) string {
	if set != "" {
		return set
	}
	return def
}

// Current is the certificate kept in File, or nil when there is none (or
// it does not load).
func (m *Manager) Current() *certs.Certificate {
	if _, err := os.Stat(m.o.File); err != nil {
		return nil
	}
	c, err := certs.LoadFile(m.o.File, "", "")
	if err != nil || !c.HasPrivateKey() {
		return nil
	}
	return c
}

// LastError is the error of the last attempt, nil after a success.
func (m *Manager) LastError() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// RenewalTime is when c is due for renewal: the time chosen inside the
// CA's ARI window when it offers one, otherwise two thirds into the
// certificate's lifetime.
func (m *Manager) RenewalTime(ctx context.Context, c *certs.Certificate) time.Time {
	l := c.Leaf
	twoThirds := l.NotBefore.Add(l.NotAfter.Sub(l.NotBefore) * 2 / 3)
	m.mu.Lock()
	at, ok := m.ari[c.Thumbprint]
	m.mu.Unlock()
	if ok {
		return at
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ri, err := m.client.GetRenewalInfo(ctx, l)
	if err != nil || !ri.HasWindow() {
		return twoThirds
	}
	at = ri.SelectedTime
	if at.IsZero() {
		at = ri.SuggestedWindow.Start
	}
	if at.After(l.NotAfter) {
		return twoThirds
	}
	m.mu.Lock()
	m.ari[c.Thumbprint] = at
	m.mu.Unlock()
	return at
}

// Step does what is due now — obtain when there is no certificate, renew
// when the current one is due — and returns when to look again. Failures
// keep the current certificate, are logged (a warning while it is still
// valid, an error otherwise) and are retried with backoff.
func (m *Manager) Step(ctx context.Context) time.Time {
	m.op.Lock()
	defer m.op.Unlock()
	cur := m.Current()
	now := m.o.Clock.Now()
	if cur != nil {
		if at := m.RenewalTime(ctx, cur); now.Before(at) {
			return at
		}
	}
	return m.attempt(ctx, cur, now)
}

// RenewNow renews at once, whatever the renewal time (an administrator's
// "renew now"); the result is logged and recorded like a scheduled
// renewal, and a failure keeps the current certificate.
func (m *Manager) RenewNow(ctx context.Context) error {
	m.op.Lock()
	defer m.op.Unlock()
	m.attempt(ctx, m.Current(), m.o.Clock.Now())
	return m.LastError()
}

// attempt obtains a certificate and installs it; it returns when to look
// again.
func (m *Manager) attempt(ctx context.Context, cur *certs.Certificate, now time.Time) time.Time {
	c, err := m.obtain(ctx, cur)
	step := StepFailed
	if err == nil {
		if err = m.o.Install(c); err != nil {
			step = StepRefused
		}
	}
	m.mu.Lock()
	m.last = err
	m.mu.Unlock()
	if err != nil {
		return m.failed(ctx, step, cur, now, err)
	}
	m.mu.Lock()
	m.failures = 0
	m.mu.Unlock()
	step = StepRenewed
	if cur == nil {
		step = StepObtained
	}
	next := m.RenewalTime(ctx, c)
	if floor := now.Add(m.o.Backoff[0]); next.Before(floor) {
		next = floor // a CA window already open must not make a renewal loop
		m.mu.Lock()
		m.ari[c.Thumbprint] = next
		m.mu.Unlock()
	}
	m.o.Logger.Info("ACME certificate "+step+" and applied live", "entry", m.o.Entry, "domains", strings.Join(m.o.ACME.Domains, ","),
		"thumbprint", c.Thumbprint, "issuer", c.Issuer, "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339),
		"renew_at", next.UTC().Format(time.RFC3339), "key_reused", cur != nil && m.o.ACME.ReuseKey)
	m.record(step, c, fmt.Sprintf("renew at %s", next.UTC().Format(time.RFC3339)))
	return next
}

func (m *Manager) failed(ctx context.Context, step string, cur *certs.Certificate, now time.Time, err error) time.Time {
	m.mu.Lock()
	delay := m.o.Backoff[min(m.failures, len(m.o.Backoff)-1)]
	m.failures++
	attempt := m.failures
	m.mu.Unlock()
	var p protocol.Problem
	if errors.As(err, &p) && p.Type == protocol.ProblemTypeRateLimited {
		delay = max(delay, RateLimitBackoff)
		err = fmt.Errorf("the CA rate-limits this account or these names (%s): %w — wait, or use its staging directory for tests", p.Detail, err)
	}
	m.mu.Lock()
	m.last = err
	m.mu.Unlock()
	next := now.Add(delay)
	attrs := []any{"entry", m.o.Entry, "domains", strings.Join(m.o.ACME.Domains, ","), "directory", m.o.ACME.Directory,
		"attempt", attempt, "retry_at", next.UTC().Format(time.RFC3339), "error", err.Error()}
	if cur != nil && !cur.Expired(now) {
		m.o.Logger.Warn(fmt.Sprintf("ACME renewal %s: keeping the current certificate %s (expires %s); retrying in %s",
			step, cur.Thumbprint, cur.Leaf.NotAfter.UTC().Format(time.RFC3339), delay), attrs...)
	} else {
		m.o.Logger.Error(fmt.Sprintf("ACME certificate could not be obtained (%s); connectors that need it select another certificate or offer no STARTTLS; retrying in %s", step, delay), attrs...)
	}
	m.record(step, cur, err.Error())
	return next
}

func (m *Manager) record(step string, c *certs.Certificate, detail string) {
	if m.o.Record != nil {
		m.o.Record(step, m.o.Entry, c, detail)
	}
}

// obtain runs one ACME order for the configured domains.
func (m *Manager) obtain(ctx context.Context, cur *certs.Certificate) (*certs.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	acct, err := m.ensureAccount(ctx)
	if err != nil {
		return nil, err
	}
	var key crypto.Signer
	if m.o.ACME.ReuseKey && cur != nil {
		key, _ = cur.PrivateKey.(crypto.Signer)
	}
	if key == nil {
		if key, err = certs.GenerateKey(m.o.ACME.KeyType); err != nil {
			return nil, err
		}
	}
	csr, err := acmez.NewCSR(key, m.o.ACME.Domains)
	if err != nil {
		return nil, err
	}
	params, err := acmez.OrderParametersFromCSR(*acct, csr)
	if err != nil {
		return nil, err
	}
	if cur != nil {
		params.Replaces = cur.Leaf // ARI: tells the CA which certificate this renews
	}
	got, err := m.client.ObtainCertificate(ctx, params)
	if err != nil {
		var p protocol.Problem
		if errors.As(err, &p) && p.Type == protocol.ProblemTypeAccountDoesNotExist {
			m.mu.Lock()
			m.account = nil
			m.mu.Unlock()
		}
		return nil, m.explain(err)
	}
	if len(got) == 0 {
		return nil, errors.New("the CA returned no certificate")
	}
	chain, err := certs.ParseCertificates(got[0].ChainPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate from the CA: %w", err)
	}
	c, err := certs.New(chain, key, m.o.File)
	if err != nil {
		return nil, fmt.Errorf("certificate from the CA: %w", err)
	}
	return c, nil
}

// explain adds the fix to errors an administrator can act on.
func (m *Manager) explain(err error) error {
	var uerr x509.UnknownAuthorityError
	var verr *tls.CertificateVerificationError
	if errors.As(err, &uerr) || errors.As(err, &verr) {
		return fmt.Errorf("the ACME directory %s presents an HTTPS certificate mailflow does not trust: %w — add the CA that issued it to trust.ca_files", m.o.ACME.Directory, err)
	}
	return err
}

// ensureAccount registers (or finds, with the same key) the ACME account.
func (m *Manager) ensureAccount(ctx context.Context) (*protocol.Account, error) {
	m.mu.Lock()
	if m.account != nil {
		a := m.account
		m.mu.Unlock()
		return a, nil
	}
	m.mu.Unlock()
	key, err := m.accountKey()
	if err != nil {
		return nil, err
	}
	acct := protocol.Account{TermsOfServiceAgreed: true, PrivateKey: key}
	if m.o.ACME.Email != "" {
		acct.Contact = []string{"mailto:" + m.o.ACME.Email}
	}
	acct, err = m.client.NewAccount(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("ACME account at %s: %w", m.o.ACME.Directory, m.explain(err))
	}
	m.mu.Lock()
	m.account = &acct
	m.mu.Unlock()
	return &acct, nil
}

// accountKey loads or creates the account key for this directory and
// e-mail address (StateDir/account-HASH.key, mode 0600).
func (m *Manager) accountKey() (crypto.Signer, error) {
	sum := sha256.Sum256([]byte(m.o.ACME.Directory + "\x00" + m.o.ACME.Email))
	path := filepath.Join(m.o.StateDir, "account-"+hex.EncodeToString(sum[:8])+".key")
	if data, err := os.ReadFile(path); err == nil {
		if b, _ := pem.Decode(data); b != nil {
			if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
				return k, nil
			}
		}
		return nil, fmt.Errorf("ACME account key %s does not parse: remove it to register a new account", path)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(m.o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("ACME state %s: %w", m.o.StateDir, err)
	}
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("ACME account key %s: %w", path, err)
	}
	return k, nil
}

// NextStep is when Run looks again (zero before the first step).
func (m *Manager) NextStep() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next
}

// Run calls Step whenever it is due until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	for {
		next := m.Step(ctx)
		m.mu.Lock()
		m.next = next
		m.mu.Unlock()
		t := m.o.Clock.NewTimer(next.Sub(m.o.Clock.Now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// dialDirectory connects to the ACME directory; a test binary reaches
// loopback only.
func dialDirectory(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := loopguard.Check(addr); err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
