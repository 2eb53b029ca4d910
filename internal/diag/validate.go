package diag

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/node"
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

// ValidateOptions tune a connector validation.
type ValidateOptions struct {
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
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Resolver and Dialer replace the network for tests; nil = the
	// system's.
	Resolver send.Resolver
	Dialer   func(ctx context.Context, network, laddr, raddr string) (net.Conn, error)
}

// ConnectorValidation is the result of validating one connector. Its JSON
// form is stable.
type ConnectorValidation struct {
	Connector string             `json:"connector"`
	Kind      string             `json:"kind"` // send or receive
	Time      time.Time          `json:"time"`
	Result    string             `json:"result"` // pass, fail or error
	Send      *SendValidation    `json:"send,omitempty"`
	Receive   *ReceiveValidation `json:"receive,omitempty"`
}

// ExitCode is 0 pass, 1 fail, 2 could not test.
func (v *ConnectorValidation) ExitCode() int {
	switch v.Result {
	case ProbePass:
		return 0
	case ProbeFail:
		return 1
	}
	return 2
}

// SendValidation is the send side of a validation.
type SendValidation struct {
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
	Hosts []*ProbeReport `json:"hosts"`
	// Test is the test message's outcome, when one was sent.
	Test *SendTestResult `json:"test,omitempty"`
}

// SendTestResult is the outcome of the test message.
type SendTestResult struct {
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
func ValidateConnector(ctx context.Context, rt *node.Runtime, name, kind string, opts ValidateOptions) (*ConnectorValidation, error) {
	now := probeNow(opts.Now)
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
func validateSend(ctx context.Context, rt *node.Runtime, c send.Connector, opts ValidateOptions, now time.Time) *ConnectorValidation {
	c.Log = false // diagnostics leave the protocol log to real traffic
	v := &ConnectorValidation{Connector: c.Name, Kind: "send", Time: now}
	s := &send.Sender{
		Store: rt.Store, Roots: rt.Roots, ServerFQDN: rt.Cfg.Server.FQDN,
		Resolver: opts.Resolver, Dialer: opts.Dialer, Now: func() time.Time { return now },
	}
	fqdn := probeOr(c.FQDN, s.ServerFQDN)
	expect := c.TLSDomain
	if expect == "" {
		expect = opts.Domain
	}
	sv := &SendValidation{
		SmartHosts: c.Hosts, Domain: opts.Domain, Policy: c.Level, RequireTLS: c.RequireTLS || c.Level > tlscheck.EncryptionOnly,
		SourceIP: c.SourceIP, FQDN: fqdn, Hosts: []*ProbeReport{},
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
		r := &ProbeReport{Target: "(MX)", Policy: c.Level, Time: now, EHLO: fqdn, Extensions: []string{}, Findings: []ProbeFinding{}}
		r.Verdict = ProbeVerdict{Result: ProbeError, Summary: "The connector has no smart hosts, so it delivers to the MX of each recipient domain: give --domain DOMAIN to test those."}
		sv.Hosts = append(sv.Hosts, r)
		v.Result = ProbeError
		return v
	}
	run := probeRun{
		sender: s, connector: c, now: now, domain: opts.Domain,
		connect: send.ConnectOptions{FinishHandshake: true, Now: now},
		verify:  validateCommand(rt, c.Name, opts.Domain),
	}
	targets, f := s.Targets(ctx, c, opts.Domain)
	if f != nil {
		host := opts.Domain
		if len(c.Hosts) > 0 {
			host = c.Hosts[0]
		}
		r := &ProbeReport{Target: host, Host: host, Policy: c.Level, Expect: sv.Expect, EHLO: fqdn, Time: now, Extensions: []string{}, Findings: []ProbeFinding{}, Stage: send.StageResolve}
		run.failed(r, f, send.Target{Host: host})
		run.finish(r)
		sv.Hosts = append(sv.Hosts, r)
	}
	for _, t := range targets {
		r := run.probeTarget(ctx, t, expect)
		sv.Hosts = append(sv.Hosts, r)
	}
	v.Result = worstResult(sv.Hosts)

	if opts.SendTest != "" {
		sv.Test = sendTest(ctx, s, c, opts, fqdn, now)
		switch {
		case sv.Test.Outcome == send.Delivered.String():
		case v.Result == ProbePass:
			v.Result = ProbeFail
		}
	}
	return v
}

// validateCommand repeats a send connector's validation.
func validateCommand(rt *node.Runtime, name, domain string) string {
	cmd := "mailflow connector validate " + probeShQuote(name)
	if rt.Cfg != nil && rt.Cfg.Path != "" {
		cmd += " --config " + probeShQuote(rt.Cfg.Path)
	}
	if domain != "" {
		cmd += " --domain " + domain
	}
	return cmd
}

// probeTarget probes one resolved address of a send connector.
func (p probeRun) probeTarget(ctx context.Context, t send.Target, expect string) *ProbeReport {
	c := p.connector
	r := &ProbeReport{
		Target: net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), Host: t.Host, Port: t.Port, IP: t.IP,
		Source: c.SourceIP, Policy: c.Level, EHLO: probeOr(c.FQDN, p.sender.ServerFQDN), Time: p.now,
		Extensions: []string{}, Findings: []ProbeFinding{}, Addresses: []string{t.IP},
		sourceAsked: c.SourceIP != "",
	}
	if c.Level == tlscheck.DomainValidation {
		r.Expect = expect
	}
	cn := p.sender.Connect(ctx, c, t, p.domain, p.connect)
	p.observe(r, cn)
	if cn.Failure != nil {
		p.failed(r, cn.Failure, t)
	} else {
		cn.Close()
		p.passed(r, cn)
	}
	p.finish(r)
	return r
}

// worstResult folds host results: any fail, else any error, else pass.
func worstResult(rs []*ProbeReport) string {
	res := ProbePass
	for _, r := range rs {
		switch r.Verdict.Result {
		case ProbeFail:
			return ProbeFail
		case ProbeError:
			res = ProbeError
		}
	}
	return res
}

// sendTest sends one test message through the connector with send.Sender.
func sendTest(ctx context.Context, s *send.Sender, c send.Connector, opts ValidateOptions, fqdn string, now time.Time) *SendTestResult {
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
	return &SendTestResult{
		From: from, To: opts.SendTest, Outcome: res.Outcome.String(), Status: res.Status, Detail: res.Detail,
		RemoteHost: res.RemoteHost, RemoteIP: res.RemoteIP, Attempts: res.Attempts,
	}
}
