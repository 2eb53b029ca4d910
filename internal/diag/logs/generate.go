package logs

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/mailflowhq/mailflow/internal/logfile"
)

// GenerateProtocolLog writes about size bytes of a realistic SmtpReceive
// protocol log to w, for benchmarks and load tests: two Exchange servers
// (one writing the older per-field certificate lines, one the Exchange 2019
// one-line form), sessions interleaved as on a busy server, most of them
// Exchange Online delivering over STARTTLS, some plain-text senders, some
// scanners that hang up, and a few failed handshakes. Quoted fields (banners
// and TLS lines hold commas) appear as in real logs. The output is the same
// for the same size; it ends after the session in flight when size is
// reached.
func GenerateProtocolLog(w io.Writer, size int64) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	g := &logGenerator{
		w:   bw,
		rnd: rand.New(rand.NewPCG(1, 2)),
		t:   time.Date(2025, 5, 2, 9, 0, 0, 0, time.UTC),
		id:  0x08DD896A00000000,
	}
	g.header()
	const inFlight = 6
	var live [inFlight]*genSession
	for g.n < size {
		// Interleave: each step advances one of the sessions in flight.
		i := g.rnd.IntN(inFlight)
		if live[i] == nil {
			live[i] = g.newSession()
		}
		if !g.step(live[i]) {
			live[i] = nil
		}
	}
	for i := range live {
		for live[i] != nil && g.step(live[i]) {
		}
	}
	if g.err != nil {
		return fmt.Errorf("generate protocol log: %w", g.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("generate protocol log: %w", err)
	}
	return nil
}

type logGenerator struct {
	w   *bufio.Writer
	rnd *rand.Rand
	t   time.Time
	id  uint64
	n   int64
	err error
	buf []byte
}

type genLine struct {
	event       byte
	data, ctx   string
	afterMillis int
}

type genSession struct {
	connector string
	local     string
	remote    string
	id        string
	seq       int
	lines     []genLine
}

const (
	genTLSLine = "TLS protocol SP_PROT_TLS1_2_SERVER negotiation succeeded using bulk encryption algorithm CALG_AES_256 with strength 256 bits, " +
		"MAC hash algorithm CALG_SHA_384 with strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 384 bits"
	genOneLineCert = " CN=mail.contoso.com, O=Contoso Ltd, L=Redmond, S=Washington, C=US CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US " +
		"0A1B2C3D4E5F60718293A4B5C6D7E8F9 4C0FA622D0D66E777AA123B1AF123456F001AE23 2025-01-10T00:00:00.000Z 2026-01-10T23:59:59.000Z mail.contoso.com;autodiscover.contoso.com"
	genOneLineContext = "Sending certificate Subject Issuer name Serial number Thumbprint Not before Not after Subject alternate names"
)

func (g *logGenerator) header() {
	g.write([]byte("#Software: Microsoft Exchange Server\r\n#Version: 15.0.0.0\r\n#Log-type: SMTP Receive Protocol Log\r\n#Date: "))
	g.write(logfile.AppendTime(nil, g.t))
	g.write([]byte("\r\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n"))
}

func (g *logGenerator) write(b []byte) {
	if g.err != nil {
		return
	}
	n, err := g.w.Write(b)
	g.n += int64(n)
	g.err = err
}

// newSession scripts one session.
func (g *logGenerator) newSession() *genSession {
	g.id++
	server, local := "EX1", "172.20.102.10:25"
	if g.rnd.IntN(2) == 1 {
		server, local = "EX2", "172.20.102.11:25"
	}
	s := &genSession{
		connector: server + `\Default Frontend ` + server,
		local:     local,
		id:        fmt.Sprintf("%016X", g.id),
	}
	var ip string
	kind := g.rnd.IntN(100)
	switch {
	case kind < 70: // Exchange Online
		ip = fmt.Sprintf("%s.%d.%d", []string{"40.107", "52.100", "104.47"}[g.rnd.IntN(3)], g.rnd.IntN(256), 1+g.rnd.IntN(254))
	default:
		ip = fmt.Sprintf("%d.%d.%d.%d", 11+g.rnd.IntN(200), g.rnd.IntN(256), g.rnd.IntN(256), 1+g.rnd.IntN(254))
	}
	s.remote = ip + ":" + strconv.Itoa(1024+g.rnd.IntN(60000))
	add := func(ev byte, data, ctx string, ms int) {
		s.lines = append(s.lines, genLine{event: ev, data: data, ctx: ctx, afterMillis: ms})
	}
	fqdn := server + ".contoso.com"
	add('+', "", "", 0)
	add('*', "SMTPSubmit SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender AcceptRoutingHeaders", "Set Session Permissions", 0)
	add('>', "220 "+fqdn+" Microsoft ESMTP MAIL Service ready at Fri, 2 May 2025 09:00:00 +0000", "", 1)
	ehloName := "mail" + strconv.Itoa(g.rnd.IntN(50)) + ".fabrikam.example"
	if kind < 70 {
		ehloName = "AM4PEPF000" + strconv.Itoa(10000+g.rnd.IntN(90000)) + ".eurprd04.prod.outlook.com"
	}
	ehloReply := "250  " + fqdn + " Hello [" + ip + "] SIZE 37748736 PIPELINING DSN ENHANCEDSTATUSCODES STARTTLS X-ANONYMOUSTLS AUTH NTLM X-EXPS GSSAPI NTLM 8BITMIME BINARYMIME CHUNKING XRDST"
	if kind >= 85 && kind < 95 { // a scanner
		add('<', "EHLO "+ehloName, "", 30)
		add('>', ehloReply, "", 1)
		add('<', "QUIT", "", 20)
		add('>', "221 2.0.0 Service closing transmission channel", "", 0)
		add('-', "", "Local", 0)
		return s
	}
	add('<', "EHLO "+ehloName, "", 30)
	add('>', ehloReply, "", 1)
	if kind < 70 || kind >= 95 {
		add('<', "STARTTLS", "", 20)
		add('>', "220 2.0.0 SMTP server ready", "", 0)
		if server == "EX2" {
			add('*', genOneLineCert, genOneLineContext, 1)
		} else {
			add('*', "", "Sending certificate", 1)
			add('*', "CN=mail.contoso.com, O=Contoso Ltd, L=Redmond, S=Washington, C=US", "Certificate subject", 0)
			add('*', "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US", "Certificate issuer name", 0)
			add('*', "0A1B2C3D4E5F60718293A4B5C6D7E8F9", "Certificate serial number", 0)
			add('*', "4C0FA622D0D66E777AA123B1AF123456F001AE23", "Certificate thumbprint", 0)
			add('*', "mail.contoso.com;autodiscover.contoso.com;", "Certificate alternate names", 0)
		}
		if kind >= 95 {
			add('*', "", "TLS negotiation failed with error SocketError", 15)
			add('-', "", "Remote(SocketError)", 0)
			return s
		}
		add('*', "", genTLSLine, 15)
		add('<', "EHLO "+ehloName, "", 10)
		add('>', "250  "+fqdn+" Hello ["+ip+"] SIZE 37748736 PIPELINING DSN ENHANCEDSTATUSCODES AUTH NTLM LOGIN X-EXPS GSSAPI NTLM 8BITMIME BINARYMIME CHUNKING XRDST", "", 0)
		add('*', "SMTPSubmit SMTPAcceptAnySender SMTPAcceptAuthoritativeDomainSender AcceptRoutingHeaders", "Set Session Permissions", 0)
	}
	for m := 1 + g.rnd.IntN(3); m > 0; m-- {
		size := strconv.Itoa(2000 + g.rnd.IntN(200000))
		add('<', "MAIL FROM:<user"+strconv.Itoa(g.rnd.IntN(1000))+"@fabrikam.example> SIZE="+size, "", 10)
		add('>', "250 2.1.0 Sender OK", "", 0)
		for r := 1 + g.rnd.IntN(3); r > 0; r-- {
			add('<', "RCPT TO:<user"+strconv.Itoa(g.rnd.IntN(5000))+"@contoso.com>", "", 5)
			add('>', "250 2.1.5 Recipient OK", "", 0)
		}
		add('<', "BDAT "+size+" LAST", "", 40)
		add('>', "250 2.6.0 <"+strconv.FormatUint(g.rnd.Uint64(), 36)+"@fabrikam.example> [InternalId="+strconv.Itoa(g.rnd.IntN(1<<30))+", Hostname="+fqdn+"] "+size+" bytes in 0.012, 556 KB/sec Queued mail for delivery", "", 12)
	}
	add('<', "QUIT", "", 5)
	add('>', "221 2.0.0 Service closing transmission channel", "", 0)
	add('-', "", "Local", 0)
	return s
}

// step writes the session's next line; false when the session is done.
func (g *logGenerator) step(s *genSession) bool {
	if s.seq >= len(s.lines) {
		return false
	}
	l := s.lines[s.seq]
	g.t = g.t.Add(time.Duration(l.afterMillis) * time.Millisecond)
	b := logfile.AppendTime(g.buf[:0], g.t)
	b = append(b, ',')
	b = append(b, s.connector...)
	b = append(b, ',')
	b = append(b, s.id...)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(s.seq), 10)
	b = append(b, ',')
	b = append(b, s.local...)
	b = append(b, ',')
	b = append(b, s.remote...)
	b = append(b, ',', l.event, ',')
	b = logfile.AppendField(b, l.data)
	b = append(b, ',')
	b = logfile.AppendField(b, l.ctx)
	b = append(b, '\r', '\n')
	g.buf = b
	g.write(b)
	s.seq++
	return s.seq < len(s.lines)
}
