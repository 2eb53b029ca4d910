package receive

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/users"
)

// authFuzzConnector offers AUTH without TLS on loopback only (allowed by
// the validator), so a script reaches the SASL exchange without a
// handshake; ExchangeUsers is its only permission group.
const authFuzzConnector = `  - name: Devices
    bindings: ["127.0.0.1:{port}"]
    remote_ip_ranges: ["127.0.0.0/8"]
    auth_mechanism: [BasicAuth]
    permission_groups: [ExchangeUsers]
`

var (
	authFuzzOnce     sync.Once
	authFuzzSettings *Settings
	authFuzzUsers    *users.Store
	authFuzzErr      error
)

func authFuzzSetup(t testing.TB) (*Settings, *users.Store) {
	pki := sharedPKI(t)
	authFuzzOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mailflow-authfuzz-")
		if err != nil {
			authFuzzErr = err
			return
		}
		text := strings.ReplaceAll(harnessConfig("  max_protocol_errors: 50\n", authFuzzConnector), "{port}", "25")
		var cfg *config.Config
		if cfg, authFuzzErr = config.Parse(filepath.Join(dir, "fuzz.yaml"), []byte(text)); authFuzzErr != nil {
			return
		}
		if authFuzzSettings, _, authFuzzErr = Compile(cfg, certs.NewStore(pki.Server), pki.Roots, time.Now()); authFuzzErr != nil {
			return
		}
		if authFuzzUsers, authFuzzErr = users.Open(filepath.Join(dir, users.FileName)); authFuzzErr != nil {
			return
		}
		authFuzzUsers.SetParams(users.Params{Memory: 64, Time: 1, Threads: 1})
		u, err := authFuzzUsers.NewUser("alice", alicePassword, []string{"alice@contoso.com"})
		if err == nil {
			err = authFuzzUsers.Add(u)
		}
		authFuzzErr = err
	})
	if authFuzzErr != nil {
		t.Fatal(authFuzzErr)
	}
	return authFuzzSettings, authFuzzUsers
}

// FuzzAuthExchange feeds arbitrary client bytes to a session that offers
// AUTH PLAIN and LOGIN. It must not panic or hang; every reply line is a
// well-formed reply or a "334 " continuation; and a message to a domain
// that is not accepted is stored only after 235 (nothing is granted
// before AUTH).
func FuzzAuthExchange(f *testing.F) {
	for _, s := range []string{
		"EHLO a\r\nAUTH PLAIN " + plain("", "alice", alicePassword) + "\r\nMAIL FROM:<alice@contoso.com>\r\nRCPT TO:<x@fabrikam.com>\r\nDATA\r\nFrom: alice@contoso.com\r\n\r\nhi\r\n.\r\n",
		"EHLO a\r\nAUTH LOGIN\r\n" + b64("alice") + "\r\n" + b64(alicePassword) + "\r\nAUTH LOGIN\r\n",
		"EHLO a\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN =\r\nAUTH PLAIN ====\r\nAUTH LOGIN\r\n\r\n\r\n",
		"EHLO a\r\nAUTH PLAIN " + plain("bob", "alice", alicePassword) + "\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@fabrikam.com>\r\n",
		"EHLO a\r\nAUTH LOGIN " + strings.Repeat("QUFB", 5000) + "\r\nAUTH X\x00\r\n",
		"EHLO a\r\nAUTH PLAIN AGFsaWNl\nAUTH\tPLAIN\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		st, store := authFuzzSetup(t)
		sub := &fakeSubmitter{}
		srv := NewService(Options{Submitter: sub, Users: store, Sleep: func(time.Duration) {},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
		out := conn.out.String()
		authenticated := false
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
			if strings.HasPrefix(line, "235 ") {
				authenticated = true
			}
		}
		for _, m := range sub.messages() {
			for _, to := range m.Env.To {
				if !strings.HasSuffix(to, "@contoso.com") && !authenticated {
					t.Fatalf("relayed to %q without AUTH", to)
				}
			}
			if !authenticated {
				t.Fatalf("stored a message without AUTH (ExchangeUsers only)")
			}
		}
	})
}
