package queue

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

type parsedDSN struct {
	header     mail.Header
	human      string
	perMessage map[string]string
	recipients []map[string]string
	original   mail.Header
}

func dsnBody(t *testing.T, q *Queue, id string) []byte {
	t.Helper()
	rc, err := q.store.Body(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseDSN reads a DSN with the standard library only, as an independent
// mail client would.
func parseDSN(t *testing.T, raw []byte) parsedDSN {
	t.Helper()
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line %d is %d octets long", i, len(line))
		}
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d holds a bare CR or LF", i)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("DSN is not a message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q (%v), want multipart/report; report-type=delivery-status", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []*multipart.Part
	var bodies [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts, bodies = append(parts, p), append(bodies, b)
	}
	if len(parts) != 3 {
		t.Fatalf("DSN has %d parts, want 3", len(parts))
	}
	wantTypes := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}
	for i, p := range parts {
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if mt != wantTypes[i] {
			t.Fatalf("part %d is %q, want %q", i, mt, wantTypes[i])
		}
	}
	out := parsedDSN{header: msg.Header, human: string(bodies[0])}

	// message/delivery-status: per-message fields, blank line, one block
	// per recipient (RFC 3464 §2.1).
	blocks := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(bodies[1]), "\r\n", "\n")), "\n\n")
	for i, blk := range blocks {
		h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(blk + "\n\n"))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("delivery-status block %d: %v\n%s", i, err, blk)
		}
		fields := map[string]string{}
		for k := range h {
			fields[k] = h.Get(k)
		}
		if i == 0 {
			out.perMessage = fields
		} else {
			out.recipients = append(out.recipients, fields)
		}
	}
	orig, err := mail.ReadMessage(bytes.NewReader(append(bodies[2], "\r\n"...)))
	if err != nil {
		t.Fatalf("text/rfc822-headers: %v", err)
	}
	out.original = orig.Header
	return out
}

func TestExpiryProducesDSN(t *testing.T) {
	clock := testkit.NewClock(t0)
	rec := &recorder{}
	d := newScript(deferAll)
	q := mustOpen(t, testOptions(t.TempDir(), clock, d, rec))
	env := sampleEnv("bob@fabrikam.com", "eve@fabrikam.com")
	id := mustPut(t, q, env, sampleBody("Quarterly report"))

	// Defer for a day, stepping from one due time to the next.
	attempts := 0
	for range 100 {
		m, ok := q.Get(id)
		if !ok {
			break
		}
		attempts += q.ProcessDue(context.Background())
		if m, ok = q.Get(id); !ok {
			break
		}
		next := m.Expires
		for _, r := range m.Recipients {
			if r.State.Pending() && r.NextAttempt.Before(next) {
				next = r.NextAttempt
			}
		}
		clock.Advance(next.Sub(clock.Now()))
	}
	if _, ok := q.Get(id); ok {
		t.Fatal("message did not expire")
	}
	// 1m+5m+15m+30m = 51m, then hourly: attempts at 0, 1m, 6m, 21m, 51m,
	// 1h51m, … 23h51m = 5 + 23 = 28.
	if attempts != 28 {
		t.Fatalf("%d attempts before expiry, want 28", attempts)
	}
	exp := rec.Of(EventExpire)
	if len(exp) != 2 || exp[0].Result.LastError.Class() != "4.4.7" || !strings.HasPrefix(exp[0].Result.LastError.String(), "550 4.4.7 QUEUE.Expired; message expired") {
		t.Fatalf("EXPIRE events %+v", exp)
	}
	if !exp[0].Time.Equal(t0.Add(24 * time.Hour)) {
		t.Fatalf("expired at %v, want %v", exp[0].Time, t0.Add(24*time.Hour))
	}

	list := q.List()
	if len(list) != 1 || !list[0].Env.IsDSN() {
		t.Fatalf("queue after expiry: %+v, want just the DSN", list)
	}
	dm := list[0]
	if !strings.EqualFold(strings.Join(dm.Env.To, ","), "alice@contoso.com") || dm.Env.From != "" {
		t.Fatalf("DSN envelope %+v", dm.Env)
	}
	r := parseDSN(t, dsnBody(t, q, dm.ID))

	if from, _ := mail.ParseAddress(r.header.Get("From")); from == nil || from.Address != "postmaster@mail.contoso.com" {
		t.Errorf("From %q", r.header.Get("From"))
	}
	if to, _ := mail.ParseAddress(r.header.Get("To")); to == nil || to.Address != "alice@contoso.com" {
		t.Errorf("To %q", r.header.Get("To"))
	}
	if s := r.header.Get("Subject"); s != "Undeliverable: Quarterly report" {
		t.Errorf("Subject %q", s)
	}
	if r.header.Get("Auto-Submitted") != "auto-replied" || r.header.Get("In-Reply-To") != "<orig-1@contoso.com>" {
		t.Errorf("header %v", r.header)
	}
	if date, err := r.header.Date(); err != nil || !date.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("Date %v %v", date, err)
	}

	if r.perMessage["Reporting-Mta"] != "dns; mail.contoso.com" {
		t.Errorf("Reporting-MTA %q", r.perMessage["Reporting-Mta"])
	}
	if ad, err := mail.ParseDate(r.perMessage["Arrival-Date"]); err != nil || !ad.Equal(env.ReceivedAt) {
		t.Errorf("Arrival-Date %q (%v), want %v", r.perMessage["Arrival-Date"], err, env.ReceivedAt)
	}
	if len(r.recipients) != 2 {
		t.Fatalf("%d recipient blocks, want 2", len(r.recipients))
	}
	for i, rcpt := range []string{"bob@fabrikam.com", "eve@fabrikam.com"} {
		f := r.recipients[i]
		if f["Final-Recipient"] != "rfc822; "+rcpt || f["Action"] != "failed" || f["Status"] != "4.4.7" {
			t.Errorf("recipient block %d: %v", i, f)
		}
		diag := f["Diagnostic-Code"]
		if !strings.HasPrefix(diag, "smtp; 550 4.4.7 QUEUE.Expired; message expired") ||
			!strings.Contains(diag, "450 4.7.320 Certificate validation failed [Message=SubjectMismatch]") {
			t.Errorf("Diagnostic-Code %q does not carry the expiry and the last error", diag)
		}
		last, err := mail.ParseDate(f["Last-Attempt-Date"])
		if err != nil || !last.Equal(t0.Add(23*time.Hour+51*time.Minute)) {
			t.Errorf("Last-Attempt-Date %q (%v)", f["Last-Attempt-Date"], err)
		}
	}
	for _, want := range []string{"bob@fabrikam.com", "eve@fabrikam.com", "expired", "450 4.7.320 Certificate validation failed", "mail.contoso.com", "Quarterly report"} {
		if !strings.Contains(r.human, want) {
			t.Errorf("human-readable part lacks %q:\n%s", want, r.human)
		}
	}
	if r.original.Get("Subject") != "Quarterly report" || r.original.Get("Message-Id") != "<orig-1@contoso.com>" {
		t.Errorf("original headers %v", r.original)
	}
	if strings.Contains(string(dsnBody(t, q, dm.ID)), "Hello Bob") {
		t.Error("the DSN carries the original body, not just its header")
	}

	// The DSN itself is delivered by the normal path.
	q.ProcessDue(context.Background())
	if got := d.Calls()[len(d.Calls())-1]; len(got) != 1 || got[0] != "alice@contoso.com" {
		t.Fatalf("DSN delivered to %v", got)
	}
}

func TestDSNSanitisesHostileText(t *testing.T) {
	clock := testkit.NewClock(t0)
	d := newScript(func(string, int) Result {
		return Result{Outcome: outcome.Failed, LastError: lasterror.New("550 5.7.1 rejected\r\nBcc: victim@example.org\r\n" + strings.Repeat("x", 3000))}
	})
	q := mustOpen(t, testOptions(t.TempDir(), clock, d, nil))
	env := sampleEnv("bob@fabrikam.com")
	env.Subject = "Hi\r\nBcc: victim@example.org — ünïcode"
	mustPut(t, q, env, sampleBody("x"))
	q.ProcessDue(context.Background())
	list := q.List()
	if len(list) != 1 {
		t.Fatalf("queue %v", list)
	}
	raw := dsnBody(t, q, list[0].ID)
	r := parseDSN(t, raw)
	if r.header.Get("Bcc") != "" {
		t.Fatal("header injection through the subject or the error text")
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(r.header.Get("Subject"))
	if err != nil || subj != "Undeliverable: Hi Bcc: victim@example.org — ünïcode" {
		t.Fatalf("Subject %q (%v)", subj, err)
	}
	if got := r.recipients[0]["Status"]; got != "5.7.1" {
		t.Fatalf("Status %q", got)
	}
	if !strings.Contains(r.human, "security or policy") {
		t.Fatalf("human part does not explain a 5.7.x failure:\n%s", r.human)
	}
}

func FuzzFoldHeader(f *testing.F) {
	for _, s := range []string{"smtp; 550 5.7.1 rejected", strings.Repeat("a ", 600), strings.Repeat("b", 2000), "x\r\ny: z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		out := foldHeader("Diagnostic-Code", value)
		if !strings.HasSuffix(out, "\r\n") {
			t.Fatal("no final CRLF")
		}
		lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
		for i, l := range lines {
			if len(l) > 998 || strings.ContainsAny(l, "\r\n") {
				t.Fatalf("line %d bad: %q", i, l)
			}
			if i > 0 && !strings.HasPrefix(l, " ") {
				t.Fatalf("continuation line %d does not start with a space: %q", i, l)
			}
		}
		h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(out + "\r\n"))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("folded header does not parse: %v", err)
		}
		if len(h) != 1 {
			t.Fatalf("one field became %d: %v", len(h), h)
		}
	})
}
