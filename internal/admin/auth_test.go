package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/queue"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// endpoint is one API route with a body that would change something.
type endpoint struct {
	method, path, body string
	mutating           bool
}

// Every request without the right bearer token is refused with 401 and
// changes nothing: the configuration file, the live runtime, the
// certificate store and the queue all stay as they were. The same requests
// with the token do take effect, so the test can tell the difference.
func TestAPIRefusesRequestsWithoutTheToken(t *testing.T) {
	e := newEnv(t)
	id := queuedMessage(t, e)
	renewed := e.pki.Renewed
	endpoints := []endpoint{
		{"GET", "/api/v1/status", "", false},
		{"GET", "/api/v1/connectors", "", false},
		{"GET", "/api/v1/certificates", "", false},
		{"GET", "/api/v1/queue", "", false},
		{"GET", "/api/v1/trace?sender=sender@tenant.example", "", false},
		{"PATCH", "/api/v1/connectors/receive/Default%20Frontend%20SERVER1", `{"fields":{"tls_certificate_name":"` + e.pki.Contoso.Name() + `"}}`, true},
		{"POST", "/api/v1/certificates", `{"file":"` + e.pki.RenewedFile + `"}`, true},
		{"DELETE", "/api/v1/certificates/" + e.pki.Server1.Thumbprint, "", true},
		{"POST", "/api/v1/queue/retry?id=" + id, "", true},
		{"DELETE", "/api/v1/queue/" + id, "", true},
		{"POST", "/api/v1/reload", "", true},
	}
	tok := e.client.Token
	headers := map[string][]string{
		"no header":             nil,
		"empty":                 {""},
		"wrong token":           {"Bearer 0000000000000000000000000000000000000000000000000000000000000000"},
		`"Bearer " only`:        {"Bearer "},
		`"Bearer" only`:         {"Bearer"},
		"token without scheme":  {tok},
		"Basic scheme":          {"Basic " + tok},
		"token with a suffix":   {"Bearer " + tok + "0"},
		"token prefix":          {"Bearer " + tok[:len(tok)-1]},
		"token twice":           {"Bearer " + tok + " " + tok},
		"two headers, first ok": {"Bearer " + tok, "Bearer wrong"},
		"two headers, last ok":  {"Bearer wrong", "Bearer " + tok},
	}

	cfgBefore := testkit.ReadFile(t, e.cfg)
	rtBefore := e.srv.Runtime()
	qBefore := snapshotQueue(t, e, id)
	for _, ep := range endpoints {
		for name, values := range headers {
			t.Run(ep.method+" "+ep.path+"/"+name, func(t *testing.T) {
				code, body := request(t, e, ep, values)
				if code != http.StatusUnauthorized {
					t.Fatalf("status %d (%s), want 401", code, body)
				}
				if !strings.Contains(body, e.api.TokenFile()) {
					t.Errorf("401 body does not say where the token is: %s", body)
				}
			})
		}
		// The query-string is no place for a token either.
		epq := ep
		epq.path += map[bool]string{true: "&", false: "?"}[strings.Contains(ep.path, "?")] + "token=" + tok
		if code, body := request(t, e, epq, nil); code != http.StatusUnauthorized {
			t.Errorf("%s with the token in the query: %d %s", epq.path, code, body)
		}
	}

	if !bytes.Equal(testkit.ReadFile(t, e.cfg), cfgBefore) {
		t.Fatal("refused requests changed the configuration file")
	}
	if e.srv.Runtime() != rtBefore {
		t.Fatal("refused requests swapped the live runtime (change or reload)")
	}
	if got := snapshotQueue(t, e, id); got != qBefore {
		t.Fatalf("refused requests changed the queue:\nbefore %s\nafter  %s", qBefore, got)
	}
	if got := testkit.Presented(t, e.smtpAddr); got != e.pki.Server1.Thumbprint {
		t.Fatalf("after refused requests the connector presents %s", got)
	}

	// With the token the same requests take effect.
	good := []string{"Bearer " + tok}
	do := func(ep endpoint) {
		t.Helper()
		if code, body := request(t, e, ep, good); code != http.StatusOK {
			t.Fatalf("%s %s with the token: %d %s", ep.method, ep.path, code, body)
		}
	}
	for _, ep := range endpoints {
		if !ep.mutating {
			do(ep)
		}
	}
	do(endpoints[5]) // pin mail.contoso.com
	do(endpoints[6]) // import its renewal
	if bytes.Equal(testkit.ReadFile(t, e.cfg), cfgBefore) {
		t.Fatal("authorised change did not reach the file")
	}
	if got := testkit.Presented(t, e.smtpAddr); got != renewed.Thumbprint {
		t.Fatalf("after the authorised pin and import new sessions get %s, want the renewal %s", got, renewed.Thumbprint)
	}
	do(endpoints[7]) // remove SERVER1, no longer pinned
	if e.srv.Runtime().Store.FindThumbprint(e.pki.Server1.Thumbprint) != nil {
		t.Fatal("authorised removal left the certificate in the store")
	}
	do(endpoints[8]) // retry now
	testkit.Eventually(t, 15*time.Second, "the retried attempt", func() bool {
		m, ok := e.srv.Queue().Get(id)
		return ok && m.Recipients[0].Attempts == 2 && m.Recipients[0].State == queue.StateRetry
	})
	do(endpoints[9]) // remove the message
	if _, ok := e.srv.Queue().Get(id); ok {
		t.Fatal("authorised DELETE left the message queued")
	}
	rt := e.srv.Runtime()
	do(endpoints[10]) // reload
	if e.srv.Runtime() == rt {
		t.Fatal("authorised reload did not swap the runtime")
	}
}

// request sends one API request with the given Authorization header
// values and returns the status and body.
func request(t *testing.T, e *env, ep endpoint, auth []string) (int, string) {
	t.Helper()
	var body io.Reader
	if ep.body != "" {
		body = strings.NewReader(ep.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, ep.method, e.client.Base+ep.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range auth {
		req.Header.Add("Authorization", v)
	}
	if ep.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// queuedMessage queues a message for partner.example, whose smart host
// refuses connections, and waits for its first (deferred) attempt so the
// scheduler leaves it alone for a minute.
func queuedMessage(t *testing.T, e *env) string {
	t.Helper()
	env := queue.Envelope{From: "sender@contoso.com", To: []string{"user@partner.example"}, ReceivedAt: time.Now(), Subject: "held"}
	id, err := e.srv.Queue().Put(context.Background(), env, []byte("Subject: held\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "the first deferred attempt", func() bool {
		m, ok := e.srv.Queue().Get(id)
		return ok && m.Recipients[0].Attempts == 1 && m.Recipients[0].State == queue.StateRetry
	})
	return id
}

func snapshotQueue(t *testing.T, e *env, id string) string {
	t.Helper()
	m, ok := e.srv.Queue().Get(id)
	if !ok {
		return "(gone)"
	}
	b, err := json.Marshal(m.Recipients)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
