package admin_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/testkit"
	"github.com/mailflowhq/mailflow/internal/tracking"
)

const frontend = "Default Frontend SERVER1"

// streamResult is one session of the steady stream of new sessions.
type streamResult struct {
	afterChange bool // the change had been applied before it connected
	thumbprint  string
	code        int
	err         error
}

// The done-when of live changes: with 30 sessions held open
// mid-transaction and a steady stream of new STARTTLS sessions, the
// connector's certificate is changed through the admin API. No session is
// dropped; every session in flight completes with 250 and still holds the
// certificate it negotiated (A); every session begun after the change
// gets B.
func TestLiveCertificateChangeUnderLoad(t *testing.T) {
	const inFlight, streams, maxPerStream = 30, 4, 500
	e := newEnv(t)
	a, b := e.pki.Server1, e.pki.Contoso

	// Sessions in flight: STARTTLS and MAIL done, RCPT and DATA held back
	// until after the change.
	release := make(chan struct{})
	ready := make(chan error, inFlight)
	type held struct {
		thumbprint string
		code       int
		err        error
	}
	heldResults := make(chan held, inFlight)
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := testkit.DialTLS(e.smtpAddr)
			if err == nil {
				_, err = s.Mail("sender@tenant.example", nil)
			}
			ready <- err
			if err != nil {
				return
			}
			defer s.Quit()
			<-release
			code, err := s.Finish("user@contoso.com", message("held across the change"))
			heldResults <- held{s.Thumbprint, code, err}
		}()
	}
	// A failure below must not leave the held sessions waiting.
	released := false
	defer func() {
		if !released {
			close(release)
		}
		wg.Wait()
	}()
	for range inFlight {
		select {
		case err := <-ready:
			if err != nil {
				t.Fatalf("opening a session to hold: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("held sessions not ready within 30s")
		}
	}

	// The stream of new sessions, until told to stop.
	var changed atomic.Bool
	stop := make(chan struct{})
	results := make(chan streamResult, streams*maxPerStream)
	var afterCount, beforeCount atomic.Int32
	var swg sync.WaitGroup
	for range streams {
		swg.Add(1)
		go func() {
			defer swg.Done()
			for range maxPerStream {
				select {
				case <-stop:
					return
				default:
				}
				r := streamResult{afterChange: changed.Load()}
				s, err := testkit.DialTLS(e.smtpAddr)
				if err == nil {
					r.thumbprint = s.Thumbprint
					r.code, err = deliver(s, "stream")
					s.Quit()
				}
				r.err = err
				results <- r
				if r.afterChange {
					afterCount.Add(1)
				} else {
					beforeCount.Add(1)
				}
			}
		}()
	}
	stopped := false
	stopStream := func() {
		if !stopped {
			stopped = true
			close(stop)
			swg.Wait()
			close(results)
		}
	}
	defer stopStream()
	testkit.Eventually(t, 30*time.Second, "new sessions completing before the change", func() bool { return beforeCount.Load() >= 5 })

	list, err := e.client.SetConnector("receive", frontend, map[string]any{"tls_certificate_name": b.Name()})
	if err != nil {
		t.Fatalf("live change through the admin API: %v", err)
	}
	changed.Store(true)
	if c := find(list, frontend); c == nil || c.Pinned != b.Name() || c.Certificate == nil || c.Certificate.Thumbprint != b.Thumbprint {
		t.Fatalf("the API's answer does not show the new certificate: %+v", c)
	}
	close(release)
	released = true
	testkit.Eventually(t, 30*time.Second, "new sessions completing after the change", func() bool { return afterCount.Load() >= 10 })
	stopStream()
	wg.Wait()
	close(heldResults)

	n := 0
	for h := range heldResults {
		n++
		if h.err != nil || h.code != 250 {
			t.Errorf("held session: %d %v", h.code, h.err)
		}
		if h.thumbprint != a.Thumbprint {
			t.Errorf("held session negotiated %s, want A %s", h.thumbprint, a.Thumbprint)
		}
	}
	if n != inFlight {
		t.Fatalf("%d of %d held sessions completed", n, inFlight)
	}
	var before, after int
	for r := range results {
		if r.err != nil || r.code != 250 {
			t.Errorf("stream session (after change %v): %d %v", r.afterChange, r.code, r.err)
			continue
		}
		switch {
		case r.afterChange && r.thumbprint != b.Thumbprint:
			t.Errorf("session begun after the change got %s, want B %s", r.thumbprint, b.Thumbprint)
		case !r.afterChange && r.thumbprint != a.Thumbprint && r.thumbprint != b.Thumbprint:
			t.Errorf("session begun before the change got %s, neither A nor B", r.thumbprint)
		}
		if r.afterChange {
			after++
		} else {
			before++
		}
	}
	t.Logf("%d held sessions, %d stream sessions before and %d after the change", n, before, after)
	testkit.Eventually(t, 10*time.Second, "every session closed", func() bool {
		st, err := e.client.Status()
		return err == nil && st.Connections == 0
	})
}

func find(list []admin.ConnectorInfo, name string) *admin.ConnectorInfo {
	for i := range list {
		if strings.EqualFold(list[i].Name, name) {
			return &list[i]
		}
	}
	return nil
}

// An invalid change through the API is refused (422) with the start-up
// error (file, line, key, fix) and changes nothing: the file stays
// byte-identical and the live certificate stays.
func TestInvalidChangeThroughAPI(t *testing.T) {
	e := newEnv(t)
	good := testkit.ReadFile(t, e.cfg)
	for _, tt := range []struct {
		name   string
		fields map[string]any
		key    string
		fix    string
	}{
		{"pin matching nothing", map[string]any{"tls_certificate_name": "<I>CN=Nobody CA<S>CN=nobody.contoso.com"}, "receive_connectors[0].tls_certificate_name", "pin one of"},
		{"bad range", map[string]any{"remote_ip_ranges": "10.0.0.0/33"}, "receive_connectors[0].remote_ip_ranges[0]", "CIDR"},
		{"unknown key", map[string]any{"tls_certificate_nam": "x"}, "receive_connectors[0].tls_certificate_nam", "did you mean tls_certificate_name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.SetConnector("receive", frontend, tt.fields)
			var apiErr *admin.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != 422 {
				t.Fatalf("invalid change: %v, want a 422 API error", err)
			}
			// file:line: key: message. Fix: fix
			prefix := fmt.Sprintf("%s:", e.cfg)
			if !strings.Contains(apiErr.Msg, prefix) || !strings.Contains(apiErr.Msg, ": "+tt.key+": ") ||
				!strings.Contains(apiErr.Msg, "Fix: ") || !strings.Contains(apiErr.Msg, tt.fix) {
				t.Fatalf("refusal does not name file, line, key %s and fix %q:\n%s", tt.key, tt.fix, apiErr.Msg)
			}
			if !hasLine(apiErr.Msg, e.cfg) {
				t.Fatalf("refusal has no line number: %s", apiErr.Msg)
			}
			if !bytes.Equal(testkit.ReadFile(t, e.cfg), good) {
				t.Fatal("refused change modified the file")
			}
			if got := testkit.Presented(t, e.smtpAddr); got != e.pki.Server1.Thumbprint {
				t.Fatalf("refused change altered the live certificate: %s", got)
			}
			list, err := e.client.Connectors()
			if err != nil {
				t.Fatal(err)
			}
			if c := find(list, frontend); c == nil || c.Pinned != e.pki.Server1.Name() {
				t.Fatalf("connector list after a refused change: %+v", c)
			}
		})
	}

	// A malformed body is a 400, not a change.
	err := e.client.Do("PATCH", "/api/v1/connectors/receive/"+strings.ReplaceAll(frontend, " ", "%20"), map[string]any{"nofields": 1}, nil)
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 400 {
		t.Fatalf("body without fields: %v, want 400", err)
	}
	if !bytes.Equal(testkit.ReadFile(t, e.cfg), good) {
		t.Fatal("malformed request modified the file")
	}
}

// hasLine reports whether msg holds "file:<digits>:".
func hasLine(msg, file string) bool {
	i := strings.Index(msg, file+":")
	if i < 0 {
		return false
	}
	rest := msg[i+len(file)+1:]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	return j > 0 && j < len(rest) && rest[j] == ':'
}

// Certificates through the API: removing the pinned certificate is
// refused; after pinning mail.contoso.com, importing its renewal moves new
// sessions to the renewal without re-pinning.
func TestCertificatesThroughAPI(t *testing.T) {
	e := newEnv(t)
	good := testkit.ReadFile(t, e.cfg)
	err := e.client.RemoveCertificate(e.pki.Server1.Thumbprint)
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 422 || !strings.Contains(apiErr.Msg, "receive_connectors[0].tls_certificate_name") {
		t.Fatalf("removing the pinned certificate: %v, want 422 naming the pin", err)
	}
	if !bytes.Equal(testkit.ReadFile(t, e.cfg), good) {
		t.Fatal("refused removal modified the file")
	}
	certs, err := e.client.Certificates()
	if err != nil || len(certs) != 2 {
		t.Fatalf("certificates after the refused removal: %v %v", certs, err)
	}

	if _, err := e.client.SetConnector("receive", frontend, map[string]any{"tls_certificate_name": e.pki.Contoso.Name()}); err != nil {
		t.Fatal(err)
	}
	info, err := e.client.ImportCertificate(admin.ImportRequest{File: e.pki.RenewedFile})
	if err != nil {
		t.Fatalf("import renewal: %v", err)
	}
	if info.Thumbprint != e.pki.Renewed.Thumbprint {
		t.Fatalf("import answered %s, want %s", info.Thumbprint, e.pki.Renewed.Thumbprint)
	}
	if got := testkit.Presented(t, e.smtpAddr); got != e.pki.Renewed.Thumbprint {
		t.Fatalf("after the import new sessions get %s, want the renewal", got)
	}
	list, err := e.client.Connectors()
	if err != nil {
		t.Fatal(err)
	}
	if c := find(list, frontend); c == nil || c.Pinned != e.pki.Contoso.Name() || c.Certificate == nil || c.Certificate.Thumbprint != e.pki.Renewed.Thumbprint {
		t.Fatalf("connector list after the import: %+v", c)
	}
	// Unknown thumbprint.
	if err := e.client.RemoveCertificate("00112233445566778899AABBCCDDEEFF00112233"); !errors.As(err, &apiErr) || apiErr.Code != 422 {
		t.Fatalf("removing an unknown thumbprint: %v", err)
	}
}

// The trace through the API sees a message from RECEIVE to DELIVER, and
// the client passes the event filter on.
func TestTraceThroughAPI(t *testing.T) {
	e := newEnv(t)
	s, err := testkit.DialTLS(e.smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := deliver(s, "traced"); code != 250 {
		t.Fatalf("DATA: %d %v", code, err)
	}
	s.Quit()
	var delivered []tracking.Event
	testkit.Eventually(t, 15*time.Second, "the DELIVER event in the trace", func() bool {
		delivered, err = e.client.Trace(tracking.Filter{Recipient: "user@contoso.com", EventIDs: []string{"DELIVER"}})
		return err == nil && len(delivered) == 1
	})
	all, err := e.client.Trace(tracking.Filter{Recipient: "@contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ev := range all {
		ids = append(ids, ev.EventID)
	}
	if strings.Join(ids, ",") != "RECEIVE,DELIVER" {
		t.Fatalf("trace events %v, want RECEIVE then DELIVER", ids)
	}
	if delivered[0].InternalMessageID != all[0].InternalMessageID || delivered[0].Subject != "traced" {
		t.Fatalf("DELIVER event %+v does not belong to the message received", delivered[0])
	}
	if none, err := e.client.Trace(tracking.Filter{Sender: "nobody@fabrikam.com"}); err != nil || len(none) != 0 {
		t.Fatalf("trace for another sender: %v %v", none, err)
	}
}
