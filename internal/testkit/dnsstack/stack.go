// Package dnsstack runs a real DNSSEC stack on loopback for tests: nsd
// serving zones signed with ldns-signzone, and unbound validating them
// with the zones' DS records as trust anchors. Tests of the DNSSEC-aware
// resolver, of outbound DANE and of Postfix as a DANE sender resolve
// through it, so "authentic", "insecure" and "bogus" are what a real
// validating resolver says, not what a test double claims.
//
// Tests skip (with the reason) when nsd, unbound or ldns-signzone are
// missing, and fail in CI (CI set), where .ci/run installs them.
package dnsstack

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailflowhq/mailflow/internal/testkit"
)

// Zone is one zone served by nsd.
type Zone struct {
	// Name is the zone apex without the trailing dot: "dane.test".
	Name string
	// Records are zone-file lines relative to nothing (fully qualified
	// names), e.g. "mx.dane.test. 2 IN A 127.0.0.1". SOA and NS are added.
	Records []string
	// Signed signs the zone and anchors it in unbound; unsigned zones are
	// declared insecure.
	Signed bool
	// Tamper edits the signed data after signing (the first TLSA record's
	// data, else the first A record's), so validation fails: bogus.
	Tamper bool
}

// Options place the resolver.
type Options struct {
	// ResolverIP and ResolverPort are where unbound listens (default
	// 127.0.0.1 and a free port). Postfix, which resolves through libc,
	// needs port 53.
	ResolverIP   string
	ResolverPort int
}

// Stack is a running nsd + unbound pair.
type Stack struct {
	// Resolver is unbound's "ip:port".
	Resolver string

	t        testing.TB
	dir      string
	nsdPort  int
	opts     Options
	zones    map[string]Zone
	keys     map[string]string // zone → key base name
	mu       sync.Mutex
	nsd, unb *proc
	serial   int
}

// Require skips the test when a program of the stack is missing.
func Require(t testing.TB) {
	t.Helper()
	for _, p := range []string{"nsd", "unbound", "ldns-signzone", "ldns-keygen"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI (.ci/run installs nsd, unbound and ldnsutils): %v", p, err)
			}
			t.Skipf("%s is not installed (apt-get install nsd unbound ldnsutils; .ci/run installs them): %v", p, err)
		}
	}
}

// Start signs the zones, starts nsd and unbound, waits until unbound
// answers, and stops both when the test ends.
func Start(t testing.TB, opts Options, zones ...Zone) *Stack {
	t.Helper()
	Require(t)
	s := &Stack{t: t, dir: t.TempDir(), opts: opts, zones: map[string]Zone{}, keys: map[string]string{}, serial: int(time.Now().Unix() % 1000000000)}
	if s.opts.ResolverIP == "" {
		s.opts.ResolverIP = "127.0.0.1"
	}
	if s.opts.ResolverPort == 0 {
		s.opts.ResolverPort = freePort(t, s.opts.ResolverIP)
	}
	s.nsdPort = freePort(t, "127.0.0.1")
	s.Resolver = net.JoinHostPort(s.opts.ResolverIP, strconv.Itoa(s.opts.ResolverPort))
	for _, z := range zones {
		s.zones[z.Name] = z
		s.writeZone(z)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Log(s.logs())
		}
	})
	s.start()
	return s
}

// Update replaces a zone (re-signed with the same key, so the trust anchor
// holds) and restarts the servers, so no cache hides the change.
func (s *Stack) Update(z Zone) {
	s.t.Helper()
	s.mu.Lock()
	s.zones[z.Name] = z
	s.mu.Unlock()
	s.writeZone(z)
	s.stop()
	s.start()
}

func (s *Stack) run(dir string, name string, args ...string) string {
	s.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("dnsstack: %s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return strings.TrimSpace(out.String())
}

func (s *Stack) writeZone(z Zone) {
	s.t.Helper()
	s.serial++
	apex := z.Name + "."
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 2\n", apex)
	fmt.Fprintf(&b, "%s 2 IN SOA ns.%s hostmaster.%s %d 2 2 60 2\n", apex, apex, apex, s.serial)
	fmt.Fprintf(&b, "%s 2 IN NS ns.%s\nns.%s 2 IN A 127.0.0.1\n", apex, apex, apex)
	for _, r := range z.Records {
		b.WriteString(r + "\n")
	}
	plain := filepath.Join(s.dir, z.Name+".zone")
	if err := os.WriteFile(plain, []byte(b.String()), 0o644); err != nil {
		s.t.Fatal(err)
	}
	served := filepath.Join(s.dir, z.Name+".served")
	if !z.Signed {
		if err := os.WriteFile(served, []byte(b.String()), 0o644); err != nil {
			s.t.Fatal(err)
		}
		return
	}
	key := s.keys[z.Name]
	if key == "" {
		key = s.run(s.dir, "ldns-keygen", "-a", "ECDSAP256SHA256", "-k", z.Name)
		s.keys[z.Name] = key
	}
	s.run(s.dir, "ldns-signzone", "-f", served, "-o", apex, plain, key)
	if z.Tamper {
		s.tamper(served)
	}
}

// tamper changes signed data without re-signing.
func (s *Stack) tamper(path string) {
	s.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for _, want := range []string{"TLSA", "A"} {
		for i, l := range lines {
			f := strings.Fields(l)
			if len(f) >= 5 && f[3] == want && !strings.HasPrefix(f[0], "ns.") {
				last := f[len(f)-1]
				if want == "A" {
					f[len(f)-1] = "127.0.0.254"
				} else {
					// flip the first hex digit of the data
					c := "0"
					if last[0] == '0' {
						c = "1"
					}
					f[len(f)-1] = c + last[1:]
				}
				lines[i] = strings.Join(f, "\t")
				if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
					s.t.Fatal(err)
				}
				return
			}
		}
	}
	s.t.Fatalf("dnsstack: nothing to tamper with in %s", path)
}

func (s *Stack) start() {
	s.t.Helper()
	var nsdConf, unbConf, anchors strings.Builder
	fmt.Fprintf(&nsdConf, `server:
	ip-address: 127.0.0.1@%d
	port: %d
	username: ""
	chroot: ""
	database: ""
	zonesdir: "%s"
	zonelistfile: "%s/zone.list"
	xfrdfile: "%s/xfrd.state"
	pidfile: "%s/nsd.pid"
	do-ip6: no
	verbosity: 1
remote-control:
	control-enable: no
`, s.nsdPort, s.nsdPort, s.dir, s.dir, s.dir, s.dir)
	fmt.Fprintf(&unbConf, `server:
	interface: %s
	port: %d
	username: ""
	chroot: ""
	directory: "%s"
	pidfile: "%s/unbound.pid"
	do-daemonize: no
	use-syslog: no
	logfile: ""
	verbosity: 1
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	do-ip6: no
	local-zone: "test." nodefault
	# Nothing but the test's own zones is resolved: every other name is
	# refused here, so the resolver never sends a query off this machine.
	local-zone: "." refuse
	outgoing-interface: 127.0.0.1
	cache-max-ttl: 1
	cache-max-negative-ttl: 1
	ede: yes
	val-log-level: 2
	module-config: "validator iterator"
`, s.opts.ResolverIP, s.opts.ResolverPort, s.dir, s.dir)
	s.mu.Lock()
	for name, z := range s.zones {
		fmt.Fprintf(&nsdConf, "zone:\n\tname: %s\n\tzonefile: %s.served\n", name, name)
		if z.Signed {
			ds, err := os.ReadFile(filepath.Join(s.dir, s.keys[name]+".ds"))
			if err != nil {
				s.mu.Unlock()
				s.t.Fatal(err)
			}
			anchors.Write(ds)
		} else {
			fmt.Fprintf(&unbConf, "\tdomain-insecure: %q\n", name)
		}
	}
	for name := range s.zones {
		fmt.Fprintf(&unbConf, "\tlocal-zone: %q transparent\n", name+".")
	}
	for name := range s.zones {
		fmt.Fprintf(&unbConf, "stub-zone:\n\tname: %q\n\tstub-addr: 127.0.0.1@%d\n", name, s.nsdPort)
	}
	s.mu.Unlock()
	conf := unbConf.String()
	if anchors.Len() > 0 {
		path := filepath.Join(s.dir, "anchors.ds")
		if err := os.WriteFile(path, []byte(anchors.String()), 0o644); err != nil {
			s.t.Fatal(err)
		}
		conf = strings.Replace(conf, "\tede: yes\n", "\tede: yes\n\ttrust-anchor-file: \""+path+"\"\n", 1)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "nsd.conf"), []byte(nsdConf.String()), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "unbound.conf"), []byte(conf), 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.nsd = s.spawn("nsd", "-d", "-c", filepath.Join(s.dir, "nsd.conf"))
	s.waitUp(fmt.Sprintf("127.0.0.1:%d", s.nsdPort), false)
	s.unb = s.spawn("unbound", "-d", "-c", filepath.Join(s.dir, "unbound.conf"))
	s.waitUp(s.Resolver, true)
}

// spawn starts a server in the foreground, its output in the test log
// when the test fails.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (s *Stack) spawn(name string, args ...string) *proc {
	s.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	logf, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: nsd forks server children that hold the
	// sockets, and stop must end all of them before a restart binds the
	// same ports again.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("dnsstack: start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	return p
}

// waitUp polls addr with an SOA query for a zone until it answers
// (NOERROR; with validate, also the AD bit for a signed zone).
func (s *Stack) waitUp(addr string, validate bool) {
	s.t.Helper()
	var zone Zone
	s.mu.Lock()
	for _, z := range s.zones {
		zone = z
		if z.Signed && !z.Tamper {
			break
		}
	}
	s.mu.Unlock()
	testkit.Poll(s.t, 20*time.Second, addr+" answering for "+zone.Name, func() (bool, string) {
		q := new(dns.Msg)
		q.SetQuestion(zone.Name+".", dns.TypeSOA)
		q.RecursionDesired = validate
		q.SetEdns0(1232, true)
		c := &dns.Client{Timeout: 500 * time.Millisecond}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r, _, err := c.ExchangeContext(ctx, q, addr)
		switch {
		case err != nil:
			return false, err.Error()
		case r.Rcode == dns.RcodeSuccess && (!validate || !zone.Signed || zone.Tamper || r.AuthenticatedData):
			return true, ""
		}
		return false, fmt.Sprintf("%s ad=%v", dns.RcodeToString[r.Rcode], r.AuthenticatedData)
	})
}

func (s *Stack) logs() string {
	var b strings.Builder
	for _, f := range []string{"nsd.log", "unbound.log"} {
		data, _ := os.ReadFile(filepath.Join(s.dir, f))
		fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
	}
	return b.String()
}

func (s *Stack) stop() {
	for _, p := range []*proc{s.unb, s.nsd} {
		if p == nil {
			continue
		}
		pgid := p.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
		// The leader is reaped; its children (nsd's servers) may still be
		// exiting and holding the ports. Wait until the group is empty.
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline) {
			syscall.Kill(-pgid, syscall.SIGKILL)
			time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation: the loop condition decides
		}
	}
	s.unb, s.nsd = nil, nil
}

// freePort finds a port free for both UDP and TCP on ip.
func freePort(t testing.TB, ip string) int {
	t.Helper()
	for range 50 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("dnsstack: %v", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("dnsstack: no free port")
	return 0
}

// Dir is the working directory (configurations, logs, zone files).
func (s *Stack) Dir() string { return s.dir }
