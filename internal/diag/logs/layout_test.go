package logs

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// TestLogLayoutNamesTheVersionsFix reads the first field report's session
// as Exchange 2010 wrote it (daily RECVyyyymmdd-n.LOG, #Version: 14) and as
// Exchange 2013 did (hourly): the same mismatch, each with its version's fix.
func TestLogLayoutNamesTheVersionsFix(t *testing.T) {
	daily := filepath.Join("testdata", "exchange2010_RECV20170414-1.LOG")
	hourly := filepath.Join("testdata", "subjectmismatch_RECV2017041417-1.LOG")
	for _, tt := range []struct {
		name    string
		path    string
		version certs.Version
		layout  string
		want    string // in the report's exchange_version
		fix     string
		notFix  string
	}{
		{name: "2010 daily file", path: daily, layout: LayoutDaily, want: "2010",
			fix: `Set-ReceiveConnector "SERVER1\Default Frontend SERVER1" -Fqdn mail.contoso.com`, notFix: "-TlsCertificateName"},
		{name: "2013 hourly file", path: hourly, layout: LayoutHourly, want: "",
			fix: "-TlsCertificateName", notFix: "-Fqdn mail.contoso.com"},
		{name: "hourly file read with --exchange-version 2010", path: hourly, version: certs.Exchange2010, layout: LayoutHourly, want: "2010",
			fix: "-Fqdn mail.contoso.com", notFix: "-TlsCertificateName \""},
		{name: "daily file read with --exchange-version 2016", path: daily, version: certs.Exchange2016, layout: LayoutDaily, want: "2016",
			fix: "-TlsCertificateName", notFix: "-Fqdn mail.contoso.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Analyze([]string{tt.path}, Options{Expect: []string{"mail.contoso.com"}, Version: tt.version, Now: fixedNow("2017-04-15T00:00:00Z")})
			if len(r.Files) != 1 || r.Files[0].Layout != tt.layout {
				t.Fatalf("files %+v, want layout %q", r.Files, tt.layout)
			}
			if r.ExchangeVersion != tt.want {
				t.Errorf("exchange_version %q, want %q", r.ExchangeVersion, tt.want)
			}
			var fix string
			for _, f := range r.Findings {
				if f.Kind == "certificate-name-mismatch" {
					fix = strings.Join(f.Fix, " ")
				}
			}
			if !strings.Contains(fix, tt.fix) || strings.Contains(fix, tt.notFix) {
				t.Errorf("fix %q: want %q, not %q", fix, tt.fix, tt.notFix)
			}
		})
	}
}

func TestLayoutPatterns(t *testing.T) {
	for name, want := range map[string]string{
		"RECV20170414-1.LOG":            LayoutDaily,
		"SEND20100301-12.LOG":           LayoutDaily,
		"SERVER1_RECV20170414-1.LOG.gz": LayoutDaily,
		"RECV2017041417-1.LOG":          LayoutHourly,
		"recv2023011115-3.log":          LayoutHourly,
		"MSGTRK20170414-1.LOG":          "",
		"RECV201704141-1.LOG":           "",
		"notes.log":                     "",
	} {
		a := NewAnalyzer(Options{})
		if got := a.noteLayout(name, nil); got != want {
			t.Errorf("%s: layout %q, want %q", name, got, want)
		}
	}
}
