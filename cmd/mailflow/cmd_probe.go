package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/dnsres"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// probeFlags are the flags shared by probe and connector validate.
type probeFlags struct {
	policy, expect, source, ehlo, sni string
	caFiles                           []string
	noSystemRoots                     bool
	clientCert, clientCertPassword    string
	certPaths                         []string
	certsPassword                     string
	connector                         string
	asJSON                            bool
	connectTimeout, commandTimeout    time.Duration
	resolver, config                  string
}

func init() {
	var (
		f        probeFlags
		mx       string
		targets  string
		parallel int
		mxPort   int
	)
	cmd := &cobra.Command{
		Use:   "probe HOST[:PORT] | --mx DOMAIN | --targets FILE",
		Short: "Connect to an SMTP server as a validating sender would and judge its STARTTLS certificate",
		Long: `Connect to an SMTP server (port 25 by default) exactly as a mailflow send connector
does — same code — and report the banner, the EHLO extensions, whether STARTTLS is
offered, the TLS protocol and cipher, every certificate presented (Windows-form
subject and issuer, thumbprint, serial, SANs, validity) and the verdict of a sender
with --policy expecting --expect, with the status it records:

  450 4.7.320 Certificate validation failed   [Message=SubjectMismatch …]
  451 5.7.3 STARTTLS is required to send mail (STARTTLS not offered)
  450 4.4.312/315/316/317/318                  (DNS, timeout, refused, …)

and the fix: the name the certificate needs and, with --certs (the server's
certificates as PEM or PFX files), which one to pin with the exact
Set-ReceiveConnector and mailflow connector set commands.

The probe accepts TLS 1.0/1.1 and legacy cipher suites so an old server is judged
rather than unreachable, and reports such a protocol as a warning. --source
connects from a given local address, to land on a receive connector scoped by
RemoteIPRanges as the real sender does.

With --resolver HOST:PORT (a validating resolver such as a local unbound; or --config
FILE for the dns section of a mailflow configuration) the probe resolves as a DANE
sender does: it reports the DNSSEC status of the MX and address records, the TLSA
records at _<port>._tcp.<host> and whether the presented chain matches them, and judges
the host with DANE when the records are authentic (450 4.7.323 tlsa-invalid,
4.7.324 dnssec-invalid, 4.7.325 certificate-host-mismatch, 4.7.321, 4.7.322).

--mx DOMAIN probes every MX host in preference order; --targets FILE probes one
"HOST[:PORT] [EXPECTED-NAME]" per line (# comments), --parallel at a time.
With --mx the probe also fetches the domain's MTA-STS policy (_mta-sts TXT and
https://mta-sts.DOMAIN/.well-known/mta-sts.txt, certificate checked against --ca and
the system roots) and shows its id, mode and mx patterns, judges every MX host as a
sender applying it does (the MX must match an mx pattern and present a certificate
valid for its own name), says which mx line to add, and shows the TLS-RPT record
(_smtp._tls.DOMAIN). An MX host an enforce-mode policy refuses counts as a failure.

Exit status: 0 pass, 1 fail, 2 could not test (DNS, connection, no answer).
For several endpoints: 1 if any failed, else 2 if any could not be tested.`,
		Example: `  mailflow probe mail.contoso.com --expect mail.contoso.com
  mailflow probe 203.0.113.10:25 --policy DomainValidation --expect mail.contoso.com --certs ./exported-certs --connector "Default Frontend SERVER1"
  mailflow probe mail.contoso.com:25 --source 10.0.0.5 --client-cert tenant.pfx --client-cert-password-file pw.txt
  mailflow probe --mx contoso.com --policy CertificateValidation
  mailflow probe --mx contoso.com --resolver 127.0.0.1:53 --policy EncryptionOnly
  mailflow probe --targets partners.txt --parallel 16 --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			modes := 0
			for _, set := range []bool{len(args) == 1, mx != "", targets != ""} {
				if set {
					modes++
				}
			}
			if modes != 1 {
				return &exitError{code: 2, err: fmt.Errorf("give exactly one of HOST[:PORT], --mx DOMAIN or --targets FILE")}
			}
			opts, err := f.options(cmd)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			ctx, stop := probeContext(cmd)
			defer stop()
			out := cmd.OutOrStdout()
			progress := newProbeProgress(cmd.ErrOrStderr())

			switch {
			case len(args) == 1:
				opts.Target = args[0]
				r := probe.Run(ctx, opts)
				if err := writeProbe(out, f.asJSON, r, r.WriteText); err != nil {
					return err
				}
				return exitCode(r.ExitCode())
			case mx != "":
				b := probe.MX(ctx, mx, mxPort, opts, parallel, progress.update)
				progress.clear()
				if err := writeProbe(out, f.asJSON, b, b.WriteText); err != nil {
					return err
				}
				return exitCode(b.ExitCode())
			}
			list, err := readProbeTargets(targets)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			all := make([]probe.Options, len(list))
			for i, t := range list {
				o := opts
				o.Target = t.Target
				if t.Expect != "" {
					o.Expect = t.Expect
				}
				all[i] = o
			}
			b := probe.Many(ctx, all, parallel, progress.update)
			progress.clear()
			if err := writeProbe(out, f.asJSON, b, b.WriteText); err != nil {
				return err
			}
			return exitCode(b.ExitCode())
		},
	}
	f.register(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&mx, "mx", "", "probe every MX host of DOMAIN, in preference order")
	fl.IntVar(&mxPort, "port", 25, "port for --mx hosts")
	fl.StringVar(&targets, "targets", "", `probe every "HOST[:PORT] [EXPECTED-NAME]" line of FILE ("-" = standard input)`)
	fl.IntVar(&parallel, "parallel", probe.DefaultParallel, "endpoints probed at the same time with --mx or --targets")
	rootCmd.AddCommand(cmd)
}

// register adds the flags; withConnection (the probe command) adds the
// connection flags that a connector's own configuration supplies in
// connector validate.
func (f *probeFlags) register(cmd *cobra.Command, withConnection bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.policy, "policy", "DomainValidation", "TLS level of the sender: EncryptionOnly, CertificateValidation or DomainValidation")
	fl.StringVar(&f.expect, "expect", "", "name the sender expects in the certificate (default: the host name)")
	fl.StringArrayVar(&f.caFiles, "ca", nil, "trust this CA certificate file (PEM or DER) besides the system roots; repeatable")
	fl.BoolVar(&f.noSystemRoots, "no-system-roots", false, "trust only the --ca files, not the system roots")
	fl.StringArrayVar(&f.certPaths, "certs", nil, "the server's certificates (PEM/PFX file or directory): the fix names the one to pin; repeatable")
	fl.StringVar(&f.certsPassword, "certs-password-file", "", "file holding the password of the PFX files given with --certs")
	fl.StringVar(&f.connector, "connector", "", `receive connector named in the fix commands (default "`+probe.DefaultConnector+`")`)
	fl.BoolVar(&f.asJSON, "json", false, "write the report as JSON")
	if !withConnection {
		return
	}
	fl.StringVar(&f.source, "source", "", "local IP address to connect from (to land on an IP-scoped receive connector)")
	fl.StringVar(&f.ehlo, "ehlo", "", "EHLO name (default: this machine's FQDN, never localhost)")
	fl.StringVar(&f.sni, "sni", "", `server name to send in the TLS handshake (default: the host name, none for an address; "none" sends none)`)
	fl.StringVar(&f.clientCert, "client-cert", "", "client certificate to present when asked: PEM with chain and key, or PFX")
	fl.StringVar(&f.clientCertPassword, "client-cert-password-file", "", "file holding the --client-cert PFX password")
	fl.StringVar(&f.resolver, "resolver", "", "resolve through this validating resolver HOST:PORT (implies dnssec trust_ad): DNSSEC status, TLSA records and DANE verdict")
	fl.StringVar(&f.config, "config", "", "use the dns section (resolvers, dnssec) of this mailflow configuration")
	fl.DurationVar(&f.connectTimeout, "timeout", probe.DefaultConnectTimeout, "TCP connect timeout")
	fl.DurationVar(&f.commandTimeout, "command-timeout", probe.DefaultCommandTimeout, "timeout of each wait for the server")
}

// options turns the flags into probe options.
func (f *probeFlags) options(cmd *cobra.Command) (probe.Options, error) {
	level, err := tlscheck.ParseLevel(f.policy)
	if err != nil {
		return probe.Options{}, fmt.Errorf("--policy: %w", err)
	}
	roots, err := certs.TrustPool(f.caFiles, !f.noSystemRoots)
	if err != nil {
		return probe.Options{}, fmt.Errorf("--ca: %w", err)
	}
	opts := probe.Options{
		Source: f.source, EHLO: f.ehlo, Level: level, Expect: f.expect, Roots: roots,
		Connector: f.connector, ConnectTimeout: f.connectTimeout, CommandTimeout: f.commandTimeout,
	}
	switch {
	case f.resolver != "":
		r, err := dnsres.New(dnsres.Config{Servers: []string{f.resolver}, Mode: dnsres.TrustAD})
		if err != nil {
			return opts, fmt.Errorf("--resolver: %w", err)
		}
		opts.DNS = r
	case f.config != "":
		cfg, err := config.Load(f.config)
		if err != nil {
			return opts, err
		}
		r, err := dnsres.New(cfg.DNS.ResolverConfig())
		if err != nil {
			return opts, fmt.Errorf("--config %s: dns: %w", f.config, err)
		}
		opts.DNS = r
	}
	if f.source != "" && net.ParseIP(f.source) == nil {
		return opts, fmt.Errorf("--source %q: give a local IP address (the source of the connection), not a name", f.source)
	}
	if f.ehlo != "" && strings.EqualFold(f.ehlo, "localhost") {
		return opts, fmt.Errorf("--ehlo localhost: give a real FQDN, receivers log and may check it")
	}
	if cmd.Flags().Changed("sni") {
		sni := f.sni
		if strings.EqualFold(sni, "none") {
			sni = ""
		}
		opts.SNI = &sni
	}
	if f.clientCert != "" {
		c, err := certs.LoadFile(f.clientCert, "", f.clientCertPassword)
		if err != nil {
			return opts, fmt.Errorf("--client-cert: %w", err)
		}
		if err := c.RequireKey(); err != nil {
			return opts, fmt.Errorf("--client-cert: %w", err)
		}
		opts.ClientCertificate = c
	}
	if len(f.certPaths) > 0 {
		store, warnings, err := probe.LoadCertificateStore(f.certPaths, f.certsPassword)
		for _, w := range warnings {
			fmt.Fprintln(cmd.ErrOrStderr(), "mailflow: --certs:", w)
		}
		if err != nil {
			return opts, fmt.Errorf("--certs: %w", err)
		}
		opts.Certificates = store
	}
	return opts, nil
}

// writeProbe writes v as JSON or through its text renderer.
func writeProbe(w io.Writer, asJSON bool, v any, text func(io.Writer) error) error {
	if asJSON {
		return printJSON(w, v)
	}
	return text(w)
}

// exitCode turns a report's status into the command's result.
func exitCode(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

func readProbeTargets(path string) ([]probe.Target, error) {
	var in io.Reader = os.Stdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--targets: %w", err)
		}
		defer fh.Close()
		in = fh
	}
	list, err := probe.ParseTargets(in)
	if err != nil {
		return nil, fmt.Errorf("--targets %s: %w", path, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("--targets %s: no targets (one HOST[:PORT] [EXPECTED-NAME] per line)", path)
	}
	return list, nil
}

// probeProgress draws "[=====     ] 3/10 host" on standard error when it is
// a terminal; otherwise it stays silent.
type probeProgress struct {
	w     io.Writer
	on    bool
	drawn bool
}

func newProbeProgress(w io.Writer) *probeProgress {
	p := &probeProgress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.on = true
		}
	}
	return p
}

func (p *probeProgress) update(done, total int, last *probe.Report) {
	if !p.on || total == 0 {
		return
	}
	const width = 30
	fill := done * width / total
	name := last.Target
	if len(name) > 40 {
		name = "…" + name[len(name)-39:]
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d %s\033[K", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, total, name)
	p.drawn = true
}

func (p *probeProgress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// probeContext is the context of a command, cancelled by Ctrl-C.
func probeContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt)
}
