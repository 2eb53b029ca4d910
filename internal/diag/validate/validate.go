package validate

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/node"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/send"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

// Connector validation (files validate*.go) is mailflow's "Validate this
// connector". A send connector is tested live, host by host, through the
// sender's own connection stage with the connector's own policy, expected
// name, source address and client certificate, and optionally by sending a
// test message through send.Sender. A receive connector is judged offline:
// which certificate it presents (the selection the server made) to which
// remote addresses, and whether a sender with a given policy accepts it.

// Options tune a connector validation.
type Options struct {
	// Domain is the recipient domain: the MX lookup for a send connector
	// without smart hosts, and the name DomainValidation expects when the
	// connector has no tls_domain.
	Domain string
	// SendTest, when set, sends a test message to this address through the
	// send connector after the hosts were tested; From is its sender ("" =
	// postmaster@ the server's FQDN).
	SendTest, From string
	// Level and Expect describe the sender that connects to a receive
	// connector; Expect "" = the connector's FQDN, else the server's.
	Level  tlscheck.Level
	Expect string
	// Roots are the sender's trusted roots for a receive connector's
	// verdict; nil = the configuration's trust (system roots plus
	// trust.ca_files). Send connectors always use the configuration's.
	Roots *x509.CertPool
	// Certificates are the candidates for a receive connector's fix; nil =
	// the configuration's certificates.
	Certificates *certs.Store
	// Version predicts a receive connector's certificate by the rules of
	// an Exchange release (certs.Version) instead of this server's own
	// choice, and names the fix that release needs (Exchange 2010: the
	// connector FQDN, as it has no TlsCertificateName).
	Version certs.Version
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Resolver and Dialer replace the network for tests; nil = the
	// system's.
	Resolver send.Resolver
	Dialer   func(ctx context.Context, network, laddr, raddr string) (net.Conn, error)
}

// Report is the result of validating one connector. Its JSON
// form is stable.
type Report struct {
	Connector string         `json:"connector"`
	Kind      string         `json:"kind"` // send or receive
	Time      time.Time      `json:"time"`
	Result    string         `json:"result"` // pass, fail or error
	Send      *SendReport    `json:"send,omitempty"`
	Receive   *ReceiveReport `json:"receive,omitempty"`
}

// ExitCode is 0 pass, 1 fail, 2 could not test.
func (v *Report) ExitCode() int {
	switch v.Result {
	case probe.Pass:
		return 0
	case probe.Fail:
		return 1
	}
	return 2
}

// SendReport is the send side of a validation.
type SendReport struct {
	SmartHosts []string       `json:"smart_hosts,omitempty"` // empty = MX of Domain
	Domain     string         `json:"domain,omitempty"`
	Policy     tlscheck.Level `json:"policy"`
	RequireTLS bool           `json:"require_tls"`
	Expect     string         `json:"expect,omitempty"`
	SourceIP   string         `json:"source_ip,omitempty"`
	FQDN       string         `json:"fqdn"`
	// ClientCertificate is what the connector presents when asked (the
	// sender's own selection); ClientCertificateNote explains a missing one.
	ClientCertificate     *certs.Info `json:"client_certificate,omitempty"`
	ClientCertificateNote string      `json:"client_certificate_note,omitempty"`
	// Hosts holds one report per address the sender would try.
	Hosts []*probe.Report `json:"hosts"`
	// Test is the test message's outcome, when one was sent.
	Test *SendTest `json:"test,omitempty"`
}

// SendTest is the outcome of the test message.
type SendTest struct {
	From       string         `json:"from"`
	To         string         `json:"to"`
	Outcome    string         `json:"outcome"` // Delivered, Deferred, Failed
	Status     string         `json:"status"`
	Detail     string         `json:"detail,omitempty"`
	RemoteHost string         `json:"remote_host,omitempty"`
	RemoteIP   string         `json:"remote_ip,omitempty"`
	Attempts   []send.Attempt `json:"attempts,omitempty"`
}

// ValidateConnector validates the connector called name (send connectors
// are looked up first when a receive connector has the same name, unless
// kind says "receive"). kind is "send", "receive" or "" for either.
func Connector(ctx context.Context, rt *node.Runtime, name, kind string, opts Options) (*Report, error) {
	now := nowOr(opts.Now)
	sc, hasSend := rt.Send[strings.ToLower(name)]
	var rc = findReceive(rt, name)
	switch {
	case kind == "send" && !hasSend, kind == "receive" && rc == nil, !hasSend && rc == nil:
		return nil, fmt.Errorf("no %sconnector named %q: %s", kindWord(kind), name, connectorNames(rt))
	case kind != "receive" && hasSend:
		return validateSend(ctx, rt, sc, opts, now), nil
	}
	return validateReceive(rt, rc, opts, now), nil
}

func kindWord(kind string) string {
	if kind == "" {
		return ""
	}
	return kind + " "
}

// connectorNames lists the connectors for an error message.
func connectorNames(rt *node.Runtime) string {
	var names []string
	if rt.Recv != nil {
		for _, c := range rt.Recv.Connectors {
			names = append(names, fmt.Sprintf("%q (receive)", c.Name()))
		}
	}
	if rt.Cfg != nil {
		for _, sc := range rt.Cfg.SendConnectors {
			names = append(names, fmt.Sprintf("%q (send)", sc.Name))
		}
	}
	if len(names) == 0 {
		return "the configuration has no enabled connectors"
	}
	return "the configuration has " + strings.Join(names, ", ")
}

// validateSend tests every host of a send connector as the sender would.
func validateSend(ctx context.Context, rt *node.Runtime, c send.Connector, opts Options, now time.Time) *Report {
	c.Log = false // diagnostics leave the protocol log to real traffic
	v := &Report{Connector: c.Name, Kind: "send", Time: now}
	s := &send.Sender{
		Store: rt.Store, Roots: rt.Roots, ServerFQDN: rt.Cfg.Server.FQDN,
		Resolver: opts.Resolver, Dialer: opts.Dialer, Now: func() time.Time { return now },
	}
	if opts.Resolver == nil {
		// The configuration's resolver, as deliveries use it: DANE applies
		// to the connector's hosts as it would to a delivery.
		s.DNS = rt.SenderDNS()
	}
	fqdn := or(c.FQDN, s.ServerFQDN)
	expect := c.TLSDomain
	if expect == "" {
		expect = opts.Domain
	}
	sv := &SendReport{
		SmartHosts: c.Hosts, Domain: opts.Domain, Policy: c.Level, RequireTLS: c.RequireTLS || c.Level > tlscheck.EncryptionOnly,
		SourceIP: c.SourceIP, FQDN: fqdn, Hosts: []*probe.Report{},
	}
	if c.Level == tlscheck.DomainValidation {
		sv.Expect = expect
	}
	if rt.Store != nil {
		sel := rt.Store.SelectClient(certs.Request{CertificateName: c.CertificateName, ConnectorFQDN: c.FQDN, ServerFQDN: s.ServerFQDN, Connector: c.Name, Now: now})
		if sel.Cert != nil {
			ci := sel.Cert.Describe(now)
			sv.ClientCertificate = &ci
		}
		sv.ClientCertificateNote = sel.Warning
	}
	v.Send = sv

	if len(c.Hosts) == 0 && opts.Domain == "" {
		r := &probe.Report{Target: "(MX)", Policy: c.Level, Time: now, EHLO: fqdn, Extensions: []string{}, Findings: []probe.Finding{}}
		r.Verdict = probe.Verdict{Result: probe.Error, Summary: "The connector has no smart hosts, so it delivers to the MX of each recipient domain: give --domain DOMAIN to test those."}
		sv.Hosts = append(sv.Hosts, r)
		v.Result = probe.Error
		return v
	}
	run := probe.Runner{
		Sender: s, Connector: c, Now: now, Domain: opts.Domain,
		Connect: send.ConnectOptions{FinishHandshake: true, Now: now},
		Verify:  validateCommand(rt, c.Name, opts.Domain),
	}
	targets, f := s.Targets(ctx, c, opts.Domain)
	if f != nil {
		host := opts.Domain
		if len(c.Hosts) > 0 {
			host = c.Hosts[0]
		}
		r := &probe.Report{Target: host, Host: host, Policy: c.Level, Expect: sv.Expect, EHLO: fqdn, Time: now, Extensions: []string{}, Findings: []probe.Finding{}, Stage: send.StageResolve}
		run.Failed(r, f, send.Target{Host: host})
		run.Finish(r)
		sv.Hosts = append(sv.Hosts, r)
	}
	for _, t := range targets {
		r := run.Resolved(ctx, t, expect)
		sv.Hosts = append(sv.Hosts, r)
	}
	v.Result = worstResult(sv.Hosts)

	if opts.SendTest != "" {
		sv.Test = sendTest(ctx, s, c, opts, fqdn, now)
		switch {
		case sv.Test.Outcome == outcome.Delivered.String():
		case v.Result == probe.Pass:
			v.Result = probe.Fail
		}
	}
	return v
}

// validateCommand repeats a send connector's validation.
func validateCommand(rt *node.Runtime, name, domain string) string {
	cmd := "mailflow connector validate " + probe.ShellQuote(name)
	if rt.Cfg != nil && rt.Cfg.Path != "" {
		cmd += " --config " + probe.ShellQuote(rt.Cfg.Path)
	}
	if domain != "" {
		cmd += " --domain " + domain
	}
	return cmd
}

// worstResult folds host results: any fail, else any error, else pass.
func worstResult(rs []*probe.Report) string {
	res := probe.Pass
	for _, r := range rs {
		switch r.Verdict.Result {
		case probe.Fail:
			return probe.Fail
		case probe.Error:
			res = probe.Error
		}
	}
	return res
}

// sendTest sends one test message through the connector with send.Sender.
func sendTest(ctx context.Context, s *send.Sender, c send.Connector, opts Options, fqdn string, now time.Time) *SendTest {
	from := opts.From
	if from == "" {
		from = "postmaster@" + fqdn
	}
	id := make([]byte, 8)
	rand.Read(id)
	msgID := "<" + hex.EncodeToString(id) + ".validate@" + fqdn + ">"
	body := "From: " + from + "\r\n" +
		"To: " + opts.SendTest + "\r\n" +
		"Subject: mailflow connector validation: " + c.Name + "\r\n" +
		"Date: " + now.Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: " + msgID + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"This is a test message sent by mailflow connector validate through the send connector \"" + c.Name + "\".\r\n" +
		"It needs no action.\r\n"
	domain := opts.Domain
	m := send.Message{ID: "validate", From: from, Rcpts: []string{opts.SendTest}, Body: send.BytesBody([]byte(body)), Size: int64(len(body)), RecipientDomain: domain}
	res := s.Send(ctx, c, m)[0]
	return &SendTest{
		From: from, To: opts.SendTest, Outcome: res.Outcome.String(), Status: res.Status, Detail: res.LastError.String(),
		RemoteHost: res.RemoteHost, RemoteIP: res.RemoteIP, Attempts: res.Attempts,
	}
}

// or is s, or def when s is empty.
func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// nowOr is now() when set, else the wall clock.
func nowOr(now func() time.Time) time.Time {
	if now != nil {
		return now()
	}
	return time.Now()
}
