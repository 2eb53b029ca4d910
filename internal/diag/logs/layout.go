package logs

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// Exchange 2010 writes one protocol log per day, RECVyyyymmdd-n.LOG;
// Exchange 2013 and later one per hour, RECVyyyymmddhh-n.LOG (Microsoft,
// "Protocol logging"). Copies are often renamed with a prefix
// (SERVER1_RECV…) or gzipped, so the pattern is searched in the base name.
var (
	dailyLogName  = regexp.MustCompile(`(?i)(RECV|SEND)\d{8}-\d+\.LOG(\.GZ)?$`)
	hourlyLogName = regexp.MustCompile(`(?i)(RECV|SEND)\d{10}-\d+\.LOG(\.GZ)?$`)
)

// Layouts as reported in File.Layout.
const (
	LayoutDaily  = "daily (Exchange 2010)"
	LayoutHourly = "hourly (Exchange 2013 and later)"
)

// noteLayout tells a protocol log's layout from its name and counts what
// the name or the "#Version:" header says about the Exchange version.
func (a *Analyzer) noteLayout(name string, head []byte) string {
	base := filepath.Base(name)
	layout := ""
	switch {
	case dailyLogName.MatchString(base):
		layout = LayoutDaily
		a.seen2010++
	case hourlyLogName.MatchString(base):
		layout = LayoutHourly
		a.seenModern++
	}
	if layout == "" {
		switch headerVersion(head) {
		case "14":
			a.seen2010++
		case "15":
			a.seenModern++
		}
	}
	return layout
}

// headerVersion returns the major version of a "#Version: 14.3.…" header
// ("14" is Exchange 2010, "15" 2013 and later), "" without one.
func headerVersion(head []byte) string {
	for _, line := range bytes.Split(head, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if v, ok := bytes.CutPrefix(line, []byte("#Version:")); ok {
			major, _, _ := strings.Cut(strings.TrimSpace(string(v)), ".")
			return major
		}
	}
	return ""
}

// version is the Exchange version whose rules the fixes follow: the one
// given, else Exchange 2010 when the logs are in its layout (and none in
// the later one), else mailflow's own (as 2013 and later).
func (a *Analyzer) version() certs.Version {
	switch {
	case a.opts.Version != certs.VersionMailflow:
		return a.opts.Version
	case a.seen2010 > 0 && a.seenModern == 0:
		return certs.Exchange2010
	}
	return certs.VersionMailflow
}
