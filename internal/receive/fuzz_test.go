package receive

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
)

// scriptConn is a connection whose client side is a fixed script: reads
// return the script and then io.EOF, writes are collected. It stands in
// for net.Pipe in FuzzSession because net.Pipe has no half-close: a client
// cannot say "no more input" without also closing the server's way back,
// which would cut the session short before it answers (or reads the DATA
// of) the last commands. Deadlines are accepted and ignored: the script
// never blocks.
type scriptConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if c.in.Len() == 0 {
		return 0, io.EOF
	}
	return c.in.Read(p)
}
func (c *scriptConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return net.TCPAddrFromAddrPort(fuzzLocal) }
func (c *scriptConn) RemoteAddr() net.Addr             { return net.TCPAddrFromAddrPort(fuzzRemote) }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

var (
	fuzzLocal  = netip.MustParseAddrPort("127.0.0.1:25")
	fuzzRemote = netip.MustParseAddrPort("127.0.0.2:40000")

	fuzzOnce     sync.Once
	fuzzSettings *Settings
	fuzzErr      error
)

// fuzzSetup compiles one configuration for every fuzz input: the default
// connector with STARTTLS, small limits so they are reachable.
func fuzzSetup(t testing.TB) *Settings {
	pki := sharedPKI(t)
	fuzzOnce.Do(func() {
		text := strings.ReplaceAll(harnessConfig("  max_protocol_errors: 20\n", defaultConnector), "{port}", "25")
		text = strings.Replace(text, "max_message_size: 64KB", "max_message_size: 2KB", 1)
		var cfg *config.Config
		cfg, fuzzErr = config.Parse(filepath.Join(os.TempDir(), "fuzz.yaml"), []byte(text))
		if fuzzErr != nil {
			return
		}
		fuzzSettings, _, fuzzErr = Compile(cfg, certs.NewStore(pki.Server), pki.Roots, time.Now())
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzSettings
}

// FuzzSession feeds arbitrary client bytes to one session. It must not
// panic or hang; every reply must be a well-formed SMTP reply line; a
// message is stored exactly when a 250 2.6.0 is sent; and no stored
// message holds a bare CR or LF (the SMTP smuggling defence).
func FuzzSession(f *testing.F) {
	seeds := []string{
		"EHLO a.example\r\nMAIL FROM:<a@fabrikam.example>\r\nRCPT TO:<b@contoso.com>\r\nDATA\r\nSubject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n",
		"EHLO a.example\r\nMAIL FROM:<a@fabrikam.example>\r\nRCPT TO:<b@contoso.com>\r\nDATA\r\nbody\n.\r\nMAIL FROM:<c@contoso.com>\r\nRCPT TO:<v@contoso.com>\r\nDATA\r\nsmuggled\r\n.\r\n",
		"EHLO a.example\r\nMAIL FROM:<a@fabrikam.example>\r\nRCPT TO:<b@contoso.com>\r\nDATA\r\nbody\n.\nMAIL FROM:<c@contoso.com>\n",
		"EHLO a.example\r\nMAIL FROM:<a@fabrikam.example>\r\nRCPT TO:<b@contoso.com>\r\nDATA\r\nbody\r.\rx\r\n.\r\n",
		"EHLO a.example\r\nMAIL FROM:<a@fabrikam.example>\r\nRCPT TO:<b@contoso.com>\r\nDATA\r\n..leading dot\r\n.\r\n",
		"EHLO a.example\r\nSTARTTLS\r\nNOOP\r\n",
		"HELO a\r\nMAIL FROM:<> SIZE=10\r\nRCPT TO:<postmaster>\r\nDATA\r\n.\r\nRSET\r\n",
		"EHLO a\r\nMAIL FROM:<a@b.example> SIZE=999999999\r\nBDAT 10 LAST\r\n0123456789",
		"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<@contoso.com:u@foreign.example>\r\nRCPT TO:<\"u@f\"@contoso.com>\r\nDATA\r\n.\r\n",
		strings.Repeat("x", 600) + "\r\nNOOP\nNOOP\r\n\x00\r\n",
		"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<b@contoso.com>\r\nDATA\r\n" + strings.Repeat("y", 1200) + "\r\n.\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		st := fuzzSetup(t)
		sub := &fakeSubmitter{}
		srv := NewService(Options{Submitter: sub, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		conn := &scriptConn{in: bytes.NewReader(input)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			newSession(srv, st, st.Connectors[0], conn, fuzzLocal, fuzzRemote).run()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("session did not end on EOF for input %q", input)
		}

		queued := 0
		out := conn.out.String()
		for len(out) > 0 {
			line, rest, ok := strings.Cut(out, "\r\n")
			if !ok {
				t.Fatalf("reply output does not end in CRLF: %q", out)
			}
			out = rest
			if len(line) < 4 || line[0] < '2' || line[0] > '5' || (line[3] != ' ' && line[3] != '-') ||
				strings.ContainsAny(line, "\r\n\x00") {
				t.Fatalf("malformed reply line %q", line)
			}
			if strings.HasPrefix(line, "250 2.6.0 ") {
				queued++
			}
		}
		msgs := sub.messages()
		if len(msgs) != queued {
			t.Fatalf("%d messages stored, %d acknowledged with 250 2.6.0", len(msgs), queued)
		}
		for _, m := range msgs {
			if i := bareLineEnding(m.Body); i >= 0 {
				t.Fatalf("stored body has a bare CR or LF at %d: %q", i, m.Body)
			}
			if len(m.Env.To) == 0 || len(m.Env.To) > st.Connectors[0].MaxRcpts {
				t.Fatalf("stored message with %d recipients", len(m.Env.To))
			}
			for _, to := range m.Env.To {
				at := strings.LastIndexByte(to, '@')
				if at < 0 || !st.IsAccepted(to[at+1:]) {
					t.Fatalf("anonymous session relayed to %q", to)
				}
			}
		}
	})
}

// bareLineEnding returns the index of the first CR not followed by LF or
// LF not preceded by CR, or -1.
func bareLineEnding(b []byte) int {
	for i, c := range b {
		switch {
		case c == '\r' && (i+1 >= len(b) || b[i+1] != '\n'):
			return i
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return i
		}
	}
	return -1
}

func TestBareLineEnding(t *testing.T) {
	for in, want := range map[string]int{"a\r\nb\r\n": -1, "a\nb": 1, "a\rb": 1, "\r\n\r": 2, "\n": 0, "": -1} {
		if got := bareLineEnding([]byte(in)); got != want {
			t.Errorf("bareLineEnding(%q) = %d, want %d", in, got, want)
		}
	}
}
