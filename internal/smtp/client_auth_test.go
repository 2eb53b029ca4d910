package smtp_test

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/mailflowhq/mailflow/internal/smtp"
)

// TestClientAuth runs PLAIN and LOGIN against a scripted server and checks
// that OnSend never sees the credentials.
func TestClientAuth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client sasl.Client
		script []string // server replies after the greeting and EHLO
		want   int
	}{
		{"PLAIN", sasl.NewPlainClient("", "scanner", "pw-Secret-1"), []string{"235 2.7.0 Authentication successful"}, 235},
		{"LOGIN", sasl.NewLoginClient("scanner", "pw-Secret-1"), []string{"334 UGFzc3dvcmQ6", "235 2.7.0 Authentication successful"}, 235},
		{"PLAIN refused", sasl.NewPlainClient("", "scanner", "pw-Secret-1"), []string{"535 5.7.8 Authentication unsuccessful"}, 535},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := net.Pipe()
			defer srv.Close()
			var got []string
			go func() {
				br := bufio.NewReader(srv)
				io.WriteString(srv, "220 test\r\n")
				br.ReadString('\n')
				io.WriteString(srv, "250-test\r\n250 AUTH LOGIN PLAIN\r\n")
				for _, r := range tc.script {
					l, _ := br.ReadString('\n')
					got = append(got, l)
					io.WriteString(srv, r+"\r\n")
				}
			}()
			var sent []string
			c := smtp.NewClient(cli, smtp.ClientOptions{OnSend: func(l string) { sent = append(sent, l) }})
			c.Greeting()
			c.Hello("client.test")
			r, err := c.Auth(tc.client)
			if r.Code != tc.want || (tc.want == 235) != (err == nil) {
				t.Fatalf("Auth: %v %v", r, err)
			}
			joined := strings.Join(sent, "\n")
			if strings.Contains(joined, "pw-Secret-1") || strings.Contains(joined, base64.StdEncoding.EncodeToString([]byte("pw-Secret-1"))) ||
				strings.Contains(joined, base64.StdEncoding.EncodeToString([]byte("\x00scanner\x00pw-Secret-1"))) {
				t.Fatalf("OnSend saw credentials: %q", sent)
			}
			if !strings.Contains(joined, "AUTH "+strings.Fields(tc.name)[0]) {
				t.Fatalf("OnSend: %q", sent)
			}
		})
	}
}
