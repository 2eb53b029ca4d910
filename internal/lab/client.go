package lab

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/smtp"
)

// The lab talks SMTP to its servers like any outside client: over TCP
// from a chosen loopback address, with mailflow's own SMTP client. Nothing
// is put into a queue behind the server's back.

const (
	clientEHLO    = "client.lab.example"
	clientTimeout = 10 * time.Second
)

// submission is one message handed to a server.
type submission struct {
	MessageID  string   // the Message-ID header, without angle brackets
	QueueID    string   // the server's internal id from its 250 reply
	Reply      string   // the final reply to DATA
	Transcript []string // "C: …" and "S: …" lines, bodies excluded
}

// dialFrom connects to addr from the loopback address source, so the
// server's connector selection sees that remote address.
func dialFrom(ctx context.Context, source, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: clientTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s from %s: %w", addr, source, err)
	}
	return conn, nil
}

var internalID = regexp.MustCompile(`InternalId=([0-9A-Fa-f]+)`)

// submit sends one message from source to addr and returns once the server
// has answered DATA. subject names the step, so the message is easy to find
// in the logs.
func submit(ctx context.Context, source, addr, from, to, subject string) (submission, error) {
	var sub submission
	sub.MessageID = newMessageID()
	conn, err := dialFrom(ctx, source, addr)
	if err != nil {
		return sub, err
	}
	c := smtp.NewClient(conn, smtp.ClientOptions{
		Timeout: clientTimeout,
		OnSend:  func(l string) { sub.Transcript = append(sub.Transcript, "C: "+l) },
		OnRecv:  func(l string) { sub.Transcript = append(sub.Transcript, "S: "+l) },
	})
	defer c.Close()
	if _, err := c.Greeting(); err != nil {
		return sub, fmt.Errorf("submit to %s: greeting: %w", addr, err)
	}
	if _, err := c.Hello(clientEHLO); err != nil {
		return sub, fmt.Errorf("submit to %s: EHLO: %w", addr, err)
	}
	if err := sendMessage(c, &sub, addr, from, to, subject); err != nil {
		return sub, err
	}
	c.Quit()
	return sub, nil
}

// sendMessage runs the envelope and DATA of one lab message on c.
func sendMessage(c *smtp.Client, sub *submission, addr, from, to, subject string) error {
	_, rcpts, err := c.SendEnvelope(from, nil, []string{to})
	if err != nil {
		return fmt.Errorf("submit to %s: %w", addr, err)
	}
	if len(rcpts) != 1 || !rcpts[0].Positive() {
		return fmt.Errorf("submit to %s: recipient %s refused: %v", addr, to, rcpts)
	}
	body := strings.Join([]string{
		"From: <" + from + ">",
		"To: <" + to + ">",
		"Subject: " + subject,
		"Message-ID: <" + sub.MessageID + ">",
		"Date: " + time.Now().Format(time.RFC1123Z),
		"",
		"Sent by mailflow lab: " + subject,
		"",
	}, "\r\n")
	r, err := c.Data(strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("submit to %s: DATA: %w", addr, err)
	}
	sub.Reply = r.String()
	if m := internalID.FindStringSubmatch(sub.Reply); m != nil {
		sub.QueueID = strings.ToUpper(m[1])
	}
	return nil
}

// submitAuth is a device submitting like a scanner does: EHLO, an AUTH
// attempt before STARTTLS (which Client Frontend must refuse: the reply is
// returned as clearAuth), STARTTLS, EHLO, AUTH PLAIN, then the message.
// The transcript shows AUTH commands without their credentials.
func submitAuth(ctx context.Context, source, addr, user, password, from, to, subject string) (sub submission, clearAuth string, err error) {
	sub.MessageID = newMessageID()
	conn, err := dialFrom(ctx, source, addr)
	if err != nil {
		return sub, "", err
	}
	c := smtp.NewClient(conn, smtp.ClientOptions{
		Timeout: clientTimeout,
		OnSend:  func(l string) { sub.Transcript = append(sub.Transcript, "C: "+l) },
		OnRecv:  func(l string) { sub.Transcript = append(sub.Transcript, "S: "+l) },
	})
	defer c.Close()
	if _, err := c.Greeting(); err != nil {
		return sub, "", fmt.Errorf("submit to %s: greeting: %w", addr, err)
	}
	if _, err := c.Hello(clientEHLO); err != nil {
		return sub, "", fmt.Errorf("submit to %s: EHLO: %w", addr, err)
	}
	r, _ := c.Auth(sasl.NewPlainClient("", user, password))
	clearAuth = r.String()
	// A device on the local network rarely validates the server's
	// certificate; the lab does not either (scenarios 1 and 2 judge
	// certificates).
	if _, err := c.StartTLS(&tls.Config{InsecureSkipVerify: true, ServerName: onpremFQDN}); err != nil {
		return sub, clearAuth, fmt.Errorf("submit to %s: STARTTLS: %w", addr, err)
	}
	if _, err := c.Hello(clientEHLO); err != nil {
		return sub, clearAuth, fmt.Errorf("submit to %s: EHLO after STARTTLS: %w", addr, err)
	}
	if _, err := c.Auth(sasl.NewPlainClient("", user, password)); err != nil {
		return sub, clearAuth, fmt.Errorf("submit to %s: %w", addr, err)
	}
	if err := sendMessage(c, &sub, addr, from, to, subject); err != nil {
		return sub, clearAuth, err
	}
	c.Quit()
	return sub, clearAuth, nil
}

func newMessageID() string {
	tag := make([]byte, 6)
	rand.Read(tag)
	return "lab-" + hex.EncodeToString(tag) + "@lab.mailflow.example"
}

// presented is what a receive connector showed a client.
type presented struct {
	Banner string             // the 220 greeting, with the connector FQDN
	Cert   *certs.Certificate // the certificate sent on STARTTLS
}

// probeCertificate connects from source, starts TLS without judging the
// certificate (that is the point: see what is presented) and quits.
func probeCertificate(ctx context.Context, source, addr string) (presented, error) {
	var p presented
	conn, err := dialFrom(ctx, source, addr)
	if err != nil {
		return p, err
	}
	c := smtp.NewClient(conn, smtp.ClientOptions{Timeout: clientTimeout})
	defer c.Close()
	g, err := c.Greeting()
	if err != nil {
		return p, fmt.Errorf("probe %s from %s: greeting: %w", addr, source, err)
	}
	p.Banner = g.String()
	if _, err := c.Hello(clientEHLO); err != nil {
		return p, fmt.Errorf("probe %s from %s: EHLO: %w", addr, source, err)
	}
	if !c.HasExtension("STARTTLS") {
		return p, fmt.Errorf("probe %s from %s: STARTTLS is not offered", addr, source)
	}
	// Looking, not judging: the lab compares the thumbprint itself.
	cs, err := c.StartTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		return p, fmt.Errorf("probe %s from %s: %w", addr, source, err)
	}
	if len(cs.PeerCertificates) == 0 {
		return p, fmt.Errorf("probe %s from %s: no certificate presented", addr, source)
	}
	p.Cert = certs.FromX509(cs.PeerCertificates[0])
	c.Quit()
	return p, nil
}

// describe is a one-line description of a certificate for evidence.
func describe(c *certs.Certificate) string {
	if c == nil {
		return "(none)"
	}
	kind := "CA-issued"
	if c.SelfSigned {
		kind = "self-signed"
	}
	return fmt.Sprintf("%s (%s, thumbprint %s, SANs %s)", c.Subject, kind, c.Thumbprint, strings.Join(c.SANs, ";"))
}
