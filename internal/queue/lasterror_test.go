package queue

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/lasterror"
	"github.com/mailflowhq/mailflow/internal/outcome"
	"github.com/mailflowhq/mailflow/internal/testkit"
)

// sentFailure is a failure as the send connector records it: fields, shown
// in Exchange's {LED=…};{MSG=…};… form with a .NET date.
func sentFailure(at time.Time) *lasterror.Record {
	f := lasterror.New("450 4.7.320 Certificate validation failed")
	f.Message, f.Reason, f.Ours, f.Attempt = "SubjectMismatch", "SubjectMismatch", true, true
	f.Host, f.IP, f.Port, f.Time = "mail.fabrikam.com", "127.0.0.2", 25, at
	return f
}

// An expired recipient keeps the last attempt's failure once, in the same
// form the sender wrote it (its LRT a .NET date), not wrapped in a second
// {LED=…} with an RFC 3339 time beside it.
func TestExpiryKeepsTheLastErrorOnce(t *testing.T) {
	clock := testkit.NewClock(t0)
	o := testOptions(t.TempDir(), clock, newScript(func(string, int) Result {
		return Result{Outcome: outcome.Deferred, LastError: sentFailure(clock.Now())}
	}), nil)
	o.Retry, o.Expiry = []time.Duration{time.Hour}, 90*time.Minute
	q := mustOpen(t, o)
	id := mustPut(t, q, sampleEnv("bob@fabrikam.com"), sampleBody("x"))
	q.ProcessDue(context.Background()) // attempt at t0, next at t0+1h
	clock.Advance(time.Hour)
	q.ProcessDue(context.Background()) // attempt at t0+1h
	clock.Advance(time.Hour)
	q.ProcessDue(context.Background()) // expired at t0+2h
	if _, ok := q.Get(id); ok {
		t.Fatal("message did not expire")
	}
	list := q.List()
	if len(list) != 1 || !list[0].Env.IsDSN() {
		t.Fatalf("queue %v, want just the DSN", list)
	}
	r := parseDSN(t, dsnBody(t, q, list[0].ID))
	want := "smtp; 550 4.4.7 QUEUE.Expired; message expired [{LED=450 4.7.320 Certificate validation failed [Message=SubjectMismatch] " +
		"[LastAttemptedServerName=mail.fabrikam.com] [LastAttemptedIP=127.0.0.2:25]};{MSG=SubjectMismatch};{FQDN=mail.fabrikam.com};{IP=127.0.0.2};{LRT=" +
		t0.Add(time.Hour).UTC().Format("1/2/2006 3:04:05 PM") + "}]"
	if got := strings.Join(strings.Fields(r.recipients[0]["Diagnostic-Code"]), " "); got != want {
		t.Errorf("Diagnostic-Code\n got %s\nwant %s", got, want)
	}
	if got := r.recipients[0]["Status"]; got != "4.4.7" {
		t.Errorf("Status %q, want 4.4.7", got)
	}
}

// The queue keeps a failure's own status even when its text quotes a
// status (it used to keep the text alone when it contained the status, and
// the DSN then fell back to 5.0.0 and a generic explanation).
func TestFailureQuotingItsStatusKeepsIt(t *testing.T) {
	clock := testkit.NewClock(t0)
	d := newScript(func(string, int) Result {
		return Result{Outcome: outcome.Failed, LastError: lasterror.New("550 5.7.1 Message rejected: the next hop said 550 5.7.1")}
	})
	q := mustOpen(t, testOptions(t.TempDir(), clock, d, nil))
	mustPut(t, q, sampleEnv("bob@fabrikam.com"), sampleBody("x"))
	q.ProcessDue(context.Background())
	list := q.List()
	if len(list) != 1 || !list[0].Env.IsDSN() {
		t.Fatalf("queue %v, want just the DSN", list)
	}
	r := parseDSN(t, dsnBody(t, q, list[0].ID))
	if got := r.recipients[0]["Status"]; got != "5.7.1" {
		t.Errorf("Status %q, want 5.7.1", got)
	}
	if got := r.recipients[0]["Diagnostic-Code"]; !strings.HasPrefix(got, "smtp; 550 5.7.1 Message rejected") {
		t.Errorf("Diagnostic-Code %q", got)
	}
	if !strings.Contains(r.human, "security or policy") {
		t.Errorf("human part does not explain a 5.7.x failure:\n%s", r.human)
	}
}

// A queue written by an older mailflow stored the last error as text: it
// still loads, shows as it was, and its codes drive the DSN.
func TestRecipientWithTextLastErrorLoads(t *testing.T) {
	old := `{"addr":"bob@fabrikam.com","state":"Retry","attempts":3,"last_error":"{LED=450 4.7.320 Certificate validation failed [Message=SubjectMismatch]};{MSG=SubjectMismatch};{FQDN=mx};{IP=127.0.0.2};{LRT=6/1/2025 12:00:00 PM}","route":"Internet"}`
	var r Recipient
	if err := json.Unmarshal([]byte(old), &r); err != nil {
		t.Fatal(err)
	}
	if r.LastError == nil || !strings.HasPrefix(r.LastError.String(), "{LED=450 4.7.320 Certificate validation failed") ||
		r.LastError.Code != 450 || r.LastError.Class() != "4.7.320" || r.Attempts != 3 || r.Route != "Internet" {
		t.Fatalf("loaded %+v (%s)", r, r.LastError)
	}
	// Written again, it keeps the text for people and older readers.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var again map[string]any
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if again["last_error"] != r.LastError.String() || again["failure"] == nil {
		t.Fatalf("written %s", b)
	}
}

// The JSON of a recipient (the queue record and the admin API) carries the
// failure as fields and as the text shown.
func TestRecipientJSONCarriesFieldsAndText(t *testing.T) {
	r := Recipient{Addr: "bob@fabrikam.com", State: StateRetry, Attempts: 1, LastError: sentFailure(t0), LastAttempt: t0}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		LastError string `json:"last_error"`
		Failure   struct {
			Code     int    `json:"code"`
			Enhanced string `json:"enhanced"`
			MSG      string `json:"msg"`
			FQDN     string `json:"fqdn"`
		} `json:"failure"`
	}
	if err := json.Unmarshal(b, &shown); err != nil {
		t.Fatal(err)
	}
	if shown.LastError != sentFailure(t0).String() || shown.Failure.Code != 450 || shown.Failure.Enhanced != "4.7.320" ||
		shown.Failure.MSG != "SubjectMismatch" || shown.Failure.FQDN != "mail.fabrikam.com" {
		t.Fatalf("JSON %s", b)
	}
	var back Recipient
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.LastError.String() != r.LastError.String() || back.LastError.Text != "" {
		t.Fatalf("read back %+v", back.LastError)
	}
}
