package lasterror

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestStringLastErrorForm(t *testing.T) {
	when := time.Date(2017, 11, 1, 12, 12, 45, 0, time.FixedZone("CET", 3600))
	f := New("450 4.7.320 Certificate validation failed")
	f.Message, f.Reason, f.Ours, f.Attempt = "SubjectMismatch", "SubjectMismatch", true, true
	f.Host, f.IP, f.Port, f.Time = "mail.contoso.com", "1.2.3.4", 25, when
	want := "{LED=450 4.7.320 Certificate validation failed [Message=SubjectMismatch] [LastAttemptedServerName=mail.contoso.com] [LastAttemptedIP=1.2.3.4:25]};{MSG=SubjectMismatch};{FQDN=mail.contoso.com};{IP=1.2.3.4};{LRT=11/1/2017 11:12:45 AM}"
	if got := f.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	reply := &Record{Code: 550, Enhanced: "5.1.1", Status: "550 5.1.1 User unknown", Host: "mx", IP: "::1", Port: 25, Time: when, Attempt: true}
	if got, want := reply.String(), "{LED=550 5.1.1 User unknown};{MSG=};{FQDN=mx};{IP=::1};{LRT=11/1/2017 11:12:45 AM}"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	v6 := &Record{Status: "450 4.4.316 Connection refused", IP: "::1", Port: 25, Ours: true, Attempt: true}
	if got := v6.String(); !strings.Contains(got, "[LastAttemptedIP=[::1]:25]") {
		t.Errorf("IPv6 endpoint: %s", got)
	}
	if got, want := Local(550, "5.4.4", "Unable to route").String(), "550 5.4.4 Unable to route"; got != want {
		t.Errorf("local: %q, want %q", got, want)
	}
	var none *Record
	if none.String() != "" || none.Class() != "5.0.0" {
		t.Errorf("nil failure: %q %q", none.String(), none.Class())
	}
}

// An expiry keeps the attempt before it once, in the LastError form with
// the .NET date the sender writes, never wrapped twice.
func TestCauseIsNotWrappedTwice(t *testing.T) {
	when := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	last := New("450 4.7.320 Certificate validation failed")
	last.Message, last.Reason, last.Ours, last.Attempt = "SubjectMismatch", "SubjectMismatch", true, true
	last.Host, last.IP, last.Port, last.Time = "mail.contoso.com", "127.0.0.1", 25, when
	exp := Local(550, "4.4.7", "QUEUE.Expired; message expired")
	exp.Cause = last
	want := "550 4.4.7 QUEUE.Expired; message expired [{LED=450 4.7.320 Certificate validation failed [Message=SubjectMismatch] [LastAttemptedServerName=mail.contoso.com] [LastAttemptedIP=127.0.0.1:25]};{MSG=SubjectMismatch};{FQDN=mail.contoso.com};{IP=127.0.0.1};{LRT=6/1/2025 12:00:00 PM}]"
	if got := exp.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if exp.Class() != "4.4.7" || exp.Code != 550 {
		t.Errorf("codes = %d %s", exp.Code, exp.Class())
	}
}

func TestCodes(t *testing.T) {
	tests := []struct {
		status   string
		code     int
		enhanced string
		class    string
	}{
		{"550 5.1.1 User unknown", 550, "5.1.1", "5.1.1"},
		{"450 4.7.320 Certificate validation failed", 450, "4.7.320", "4.7.320"},
		{"421 Service not available", 421, "", "4.0.0"},
		{"550 Requested action not taken", 550, "", "5.0.0"},
		// As the SMTP client reads a reply: an enhanced code of another
		// class is text (the queue builds its 550 4.4.7 with Local).
		{"550 4.4.7 QUEUE.Expired; message expired", 550, "", "5.0.0"},
		{"554 1.2.3 odd", 554, "", "5.0.0"},
		{"550 5.1.1.1 not a code", 550, "", "5.0.0"},
		{"mailbox unavailable (550 5.1.1)", 0, "", "5.0.0"},
		{"", 0, "", "5.0.0"},
	}
	for _, tt := range tests {
		f := New(tt.status)
		if f.Code != tt.code || f.Enhanced != tt.enhanced || f.Class() != tt.class {
			t.Errorf("New(%q) = %d %q class %q, want %d %q %q", tt.status, f.Code, f.Enhanced, f.Class(), tt.code, tt.enhanced, tt.class)
		}
	}
}

// A failure stored as text by an older mailflow loads: shown as it was,
// its codes read once.
func TestFromText(t *testing.T) {
	old := "{LED=450 4.7.320 Certificate validation failed [Message=SubjectMismatch]};{MSG=SubjectMismatch};{FQDN=mx};{IP=127.0.0.1};{LRT=6/1/2025 12:00:00 PM}"
	f := FromText(old)
	if f.String() != old || f.Code != 450 || f.Class() != "4.7.320" {
		t.Errorf("FromText = %+v (%s)", f, f.String())
	}
	for text, class := range map[string]string{
		"550 4.4.7 QUEUE.Expired; message expired [{LED=450 4.7.320 x}]": "4.4.7",
		"421 Service not available":                                      "4.0.0",
		"550 see 5.1.1 later in text 5.2.2":                              "5.1.1",
		"550 text text text 5.2.2":                                       "5.0.0",
	} {
		if got := FromText(text).Class(); got != class {
			t.Errorf("FromText(%q).Class() = %q, want %q (the older version's DSN status)", text, got, class)
		}
	}
	if FromText("") != nil {
		t.Error("FromText(\"\") is not nil")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	f := New("451 4.4.0 Delivery was interrupted")
	f.Reason, f.Host, f.Attempt, f.Time = "Cancelled", "mx", true, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.String() != f.String() || back.Code != 451 || back.Enhanced != "4.4.0" {
		t.Errorf("round trip: %s → %+v", b, back)
	}
}

func FuzzFromText(f *testing.F) {
	f.Add("{LED=450 4.7.320 x};{MSG=y}")
	f.Add("550 5.1.1 User unknown")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		e := FromText(s)
		if s == "" {
			return
		}
		if e.String() != s {
			t.Fatalf("FromText(%q).String() = %q", s, e.String())
		}
		if c := e.Class(); len(c) < 5 || (c[0] != '2' && c[0] != '4' && c[0] != '5') {
			t.Fatalf("class %q", c)
		}
	})
}
