package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/loopguard"
	"github.com/mailflowhq/mailflow/internal/send"
)

// Batch limits.
const (
	// DefaultParallel bounds concurrent probes of a batch.
	DefaultParallel = 8
	// MaxProbeTargets bounds a targets file, so a wrong file (a log, a
	// dump) cannot start a scan of thousands of hosts.
	MaxProbeTargets = 10000
	// maxMXProbes bounds the MX hosts probed for one domain.
	maxMXProbes = 50
	// maxTargetLine bounds one line of a targets file.
	maxTargetLine = 4096
)

// Batch is the result of probing several endpoints (every MX of a
// domain, or a targets file). Its JSON form is stable.
type Batch struct {
	Domain string `json:"domain,omitempty"` // the domain whose MX were probed
	// Policies are the domain's MTA-STS policy and TLS-RPT record (--mx).
	Policies *DomainPolicies `json:"policies,omitempty"`
	Reports  []*Report       `json:"reports"`
	Summary  Summary         `json:"summary"`
}

// Summary counts the results of a batch.
type Summary struct {
	Total int `json:"total"`
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Error int `json:"error"`
}

// ExitCode is 1 when any endpoint failed, else 2 when any could not be
// tested, else 0: a definite failure is the stronger signal for scripts.
func (b *Batch) ExitCode() int {
	switch {
	case b.Summary.Fail > 0 || b.enforceFailures() > 0:
		return 1
	case b.Summary.Error > 0:
		return 2
	}
	return 0
}

func newProbeBatch(domain string, reports []*Report) *Batch {
	b := &Batch{Domain: domain, Reports: reports}
	for _, r := range reports {
		b.Summary.Total++
		switch r.Verdict.Result {
		case Pass:
			b.Summary.Pass++
		case Fail:
			b.Summary.Fail++
		default:
			b.Summary.Error++
		}
	}
	return b
}

// Progress observes a batch: done of total endpoints finished, last
// the one that just did. It is called from one goroutine at a time.
type Progress func(done, total int, last *Report)

// Many probes every endpoint, at most parallel at a time (default
// DefaultParallel), and returns the reports in the order given.
func Many(ctx context.Context, list []Options, parallel int, progress Progress) *Batch {
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	reports := make([]*Report, len(list))
	sem := make(chan struct{}, parallel)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	for i := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := Run(ctx, list[i])
			reports[i] = r
			mu.Lock()
			done++
			if progress != nil {
				progress(done, len(list), r)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return newProbeBatch("", reports)
}

// MX probes every MX host of domain in preference order, each as
// opts describes (opts.Target is ignored; opts.Expect "" = each MX host's
// own name). A domain without MX records is probed itself (RFC 5321
// §5.1), as senders do; a null MX or a DNS failure is one report that
// could not test.
func MX(ctx context.Context, domain string, port int, opts Options, parallel int, progress Progress) *Batch {
	b, resolved := mxHosts(ctx, domain, port, opts, parallel, progress)
	if resolved {
		b.Policies = domainPolicies(ctx, b.Domain, opts)
		b.judgeMTASTS(opts)
	}
	return b
}

// mxHosts probes the MX hosts of domain (see MX); resolved is false when
// the MX lookup failed or found a null MX.
func mxHosts(ctx context.Context, domain string, port int, opts Options, parallel int, progress Progress) (b *Batch, resolved bool) {
	if port == 0 {
		port = send.DefaultPort
	}
	var resolver send.Resolver = loopguard.System()
	if opts.Resolver != nil {
		resolver = opts.Resolver
	}
	domain = strings.TrimSuffix(strings.TrimSpace(domain), ".")
	mxSec := dnsres.Insecure
	var mxs []*net.MX
	var err error
	if opts.DNS != nil {
		var a dnsres.MXAnswer
		a, err = opts.DNS.MX(ctx, domain)
		mxs, mxSec = a.MX, a.Security
		var de *dnsres.Error
		if errors.As(err, &de) && de.NotFound {
			mxSec = de.Security
			err = &net.DNSError{Err: de.Error(), Name: domain, IsNotFound: true}
		}
	} else {
		mxs, err = resolver.LookupMX(ctx, domain)
	}
	opts.MX = &MXContext{Domain: domain, Security: mxSec}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, dnsres.ErrBogus):
		r := mxFailure(opts, domain, port, send.StatusDNSSECInvalid, send.ReasonDNSSECInvalid, err.Error(),
			"Repair the DNSSEC of "+domain+": re-sign the zone and make the DS at the parent match its key (or remove the DS while fixing it); DANE senders deliver nothing while the MX lookup is bogus.")
		r.Verdict.Result = Fail
		return newProbeBatch(domain, []*Report{r}), false
	case err == nil && len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
		return newProbeBatch(domain, []*Report{mxFailure(opts, domain, port, send.StatusNullMX, send.ReasonNullMX,
			domain+" publishes a null MX (RFC 7505): it accepts no mail", "The domain says it receives no mail; if it should, publish MX records for its mail servers.")}), false
	case err == nil && len(mxs) > 0:
	case err == nil || errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		o := opts
		o.Target = net.JoinHostPort(domain, strconv.Itoa(port))
		b := Many(ctx, []Options{o}, 1, progress)
		b.Domain = domain
		b.Reports[0].Findings = append(b.Reports[0].Findings, Finding{Severity: "warning",
			Text: domain + " has no MX records: senders fall back to the domain's own address (RFC 5321 §5.1). Publish an MX record for the mail server."})
		return b, true
	default:
		return newProbeBatch(domain, []*Report{mxFailure(opts, domain, port, send.StatusDNSFailed, send.ReasonDNS,
			"The error was: "+err.Error(), "Check the domain's DNS: the MX lookup for "+domain+" failed.")}), false
	}
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
	if len(mxs) > maxMXProbes {
		mxs = mxs[:maxMXProbes]
	}
	list := make([]Options, len(mxs))
	for i, mx := range mxs {
		o := opts
		o.Target = net.JoinHostPort(strings.TrimSuffix(mx.Host, "."), strconv.Itoa(port))
		list[i] = o
	}
	b = Many(ctx, list, parallel, progress)
	b.Domain = domain
	for i, r := range b.Reports {
		pref := mxs[i].Pref
		r.MXPreference = &pref
	}
	return b, true
}

// mxFailure is the report for a domain whose MX lookup failed.
func mxFailure(opts Options, domain string, port int, status, reason, message, fix string) *Report {
	now := probeNow(opts.Now)
	r := &Report{
		Target: domain, Host: domain, Port: port, Policy: opts.Level, Expect: opts.Expect, Time: now,
		Extensions: []string{}, Findings: []Finding{},
	}
	r.Verdict = Verdict{Result: Error, Status: status, Reason: reason, Message: message,
		Summary: "Could not test the MX hosts of " + domain + ": " + message + ".",
		Detail:  send.LastError(status, reason, message, send.Target{Host: domain}, now).String()}
	r.Fix = &Fix{Steps: []string{fix}}
	return r
}

// Target is one line of a targets file.
type Target struct {
	Line   int
	Target string // HOST[:PORT]
	Expect string // "" = the host name
}

// ParseTargets reads a targets file: one "HOST[:PORT] [EXPECT]" per
// line; blank lines and everything after "#" are ignored. Errors name the
// line.
func ParseTargets(r io.Reader) ([]Target, error) {
	var out []Target
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxTargetLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 2 {
			return nil, fmt.Errorf("line %d: %q has %d fields; write HOST[:PORT] [EXPECTED-NAME]", n, strings.TrimSpace(line), len(fields))
		}
		if _, _, err := SplitTarget(fields[0], send.DefaultPort); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		t := Target{Line: n, Target: fields[0]}
		if len(fields) == 2 {
			t.Expect = fields[1]
		}
		if len(out) == MaxProbeTargets {
			return nil, fmt.Errorf("line %d: more than %d targets; split the file", n, MaxProbeTargets)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes", n+1, maxTargetLine)
		}
		return nil, fmt.Errorf("read targets: %w", err)
	}
	return out, nil
}

// WriteText renders every report, then the summary.
func (b *Batch) WriteText(w io.Writer) error {
	pw := &TextWriter{w: w}
	b.renderPolicies(pw)
	for i, r := range b.Reports {
		if i > 0 {
			pw.Printf("\n%s\n\n", strings.Repeat("─", 72))
		}
		if r.MXPreference != nil {
			pw.Printf("MX %d: %s\n", *r.MXPreference, r.Host)
		}
		r.Render(pw)
	}
	pw.Printf("\n%s\n", strings.Repeat("═", 72))
	what := "endpoints"
	if b.Domain != "" {
		what = "MX hosts of " + b.Domain
	}
	pw.Printf("%d %s: %d pass, %d fail, %d could not be tested\n", b.Summary.Total, what, b.Summary.Pass, b.Summary.Fail, b.Summary.Error)
	for _, r := range b.Reports {
		mark := MarkOK
		if r.Verdict.Result != Pass {
			mark = MarkBad
		}
		name := probeEndpoint(r)
		if r.Expect != "" && r.Expect != r.Host {
			name += " as " + r.Expect
		}
		pw.Printf("  %s %-48s %s\n", mark, name, probeOr(r.Verdict.Status, r.Verdict.Result))
	}
	if pw.err != nil {
		return fmt.Errorf("write probe report: %w", pw.err)
	}
	return nil
}
