package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/mailflowhq/mailflow/internal/loopguard"
)

// Limits of a policy fetch.
const (
	DefaultFetchTimeout = 30 * time.Second
	// MaxPolicySize bounds the policy body: real policies are a few
	// hundred bytes; 64 KiB is the limit large providers document.
	MaxPolicySize = 64 << 10
)

// Resolver is the DNS the package uses; *net.Resolver satisfies it, and so
// does the sender's resolver.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// TLS-RPT result types (RFC 8460 §4.3) for failures to obtain a policy.
const (
	ResultFetchError = "sts-policy-fetch-error"
	ResultInvalid    = "sts-policy-invalid"
	ResultWebPKI     = "sts-webpki-invalid"
)

// FetchError is a failure to obtain a policy, with the TLS-RPT result type
// that reports it.
type FetchError struct {
	Domain string
	Type   string // ResultFetchError, ResultInvalid or ResultWebPKI
	Err    error
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("MTA-STS policy of %s (%s): %v", e.Domain, e.Type, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// Fetcher downloads policies.
type Fetcher struct {
	// Resolver resolves mta-sts.<domain>; nil = the system resolver
	// (loopguard.System: in a test binary one that refuses every name).
	Resolver Resolver
	// Roots validate the policy server's certificate; nil = system roots.
	Roots *x509.CertPool
	// Port is the HTTPS port (443; tests use another).
	Port int
	// Timeout bounds the whole fetch (DefaultFetchTimeout).
	Timeout time.Duration
	// Now is the time certificates are checked at; nil = time.Now.
	Now func() time.Time
}

func (f *Fetcher) resolver() Resolver {
	if f.Resolver != nil {
		return f.Resolver
	}
	return loopguard.System()
}

// URL is where domain's policy lives.
func (f *Fetcher) URL(domain string) string {
	host := "mta-sts." + domain
	if f.Port != 0 && f.Port != 443 {
		host += ":" + strconv.Itoa(f.Port)
	}
	return "https://" + host + "/.well-known/mta-sts.txt"
}

// Fetch downloads and parses domain's policy. Every failure is a
// *FetchError.
func (f *Fetcher) Fetch(ctx context.Context, domain string) (*Policy, error) {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(typ string, err error) (*Policy, error) {
		return nil, &FetchError{Domain: domain, Type: typ, Err: err}
	}
	tr := &http.Transport{
		Proxy:             nil, // the policy comes from the domain itself, never a proxy
		DialContext:       f.dial,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: f.Roots, MinVersion: tls.VersionTLS12, Time: f.Now},
		ForceAttemptHTTP2: false,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		// RFC 8461 §3.3: redirects are not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL(domain), nil)
	if err != nil {
		return fail(ResultFetchError, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if isCertError(err) {
			return fail(ResultWebPKI, fmt.Errorf("the certificate of mta-sts.%s is not valid: %w", domain, err))
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fail(ResultFetchError, fmt.Errorf("no answer from %s within %v", f.URL(domain), timeout))
		}
		return fail(ResultFetchError, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return fail(ResultFetchError, fmt.Errorf("%s answered %s (redirect to %q): redirects are not followed; serve the policy at this URL", f.URL(domain), resp.Status, clip(resp.Header.Get("Location"))))
	}
	if resp.StatusCode != http.StatusOK {
		return fail(ResultFetchError, fmt.Errorf("%s answered %s", f.URL(domain), resp.Status))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return fail(ResultInvalid, fmt.Errorf("%s is served as %q; it must be text/plain", f.URL(domain), clip(resp.Header.Get("Content-Type"))))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fail(ResultFetchError, fmt.Errorf("the body of %s did not arrive within %v", f.URL(domain), timeout))
		}
		return fail(ResultFetchError, fmt.Errorf("read %s: %w", f.URL(domain), err))
	}
	if len(body) > MaxPolicySize {
		return fail(ResultInvalid, fmt.Errorf("%s is larger than %d bytes", f.URL(domain), MaxPolicySize))
	}
	p, err := ParsePolicy(body)
	if err != nil {
		return fail(ResultInvalid, err)
	}
	return p, nil
}

// dial resolves through the Resolver (so the configured DNS applies) and
// tries each address in turn.
func (f *Fetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := f.resolver().LookupHost(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	var d net.Dialer
	var firstErr error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip, port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

func isCertError(err error) bool {
	var (
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		ci  x509.CertificateInvalidError
		tve *tls.CertificateVerificationError
	)
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &tve)
}
