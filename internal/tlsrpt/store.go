package tlsrpt

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Limits that keep a hostile or enormous peer population from growing the
// counts without bound; what is beyond them is still counted in the
// summary.
const (
	maxFailureDetails = 100
	maxPoliciesPerDay = 20
	maxFieldLen       = 255
)

// Store keeps the counts per UTC day and policy domain, one JSON file per
// day and domain under Dir (days/<yyyy-mm-dd>/<domain>.json), rewritten
// on every outcome so a restart loses nothing.
type Store struct {
	dir    string
	logger *slog.Logger

	mu   sync.Mutex
	days map[string]map[string][]PolicyResult // day → domain → policies
}

// OpenStore loads what dir holds ("" keeps counts in memory only).
func OpenStore(dir string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Store{dir: dir, logger: logger, days: map[string]map[string][]PolicyResult{}}
	if dir == "" {
		return s, nil
	}
	dayDirs, err := os.ReadDir(filepath.Join(dir, "days"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read TLS-RPT data %s: %w", dir, err)
	}
	for _, dd := range dayDirs {
		if _, err := time.Parse(time.DateOnly, dd.Name()); err != nil || !dd.IsDir() {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(dir, "days", dd.Name()))
		for _, f := range files {
			domain, ok := strings.CutSuffix(f.Name(), ".json")
			if !ok {
				continue
			}
			path := filepath.Join(dir, "days", dd.Name(), f.Name())
			b, err := os.ReadFile(path)
			var pols []PolicyResult
			if err == nil {
				err = json.Unmarshal(b, &pols)
			}
			if err != nil {
				logger.Warn("TLS-RPT counts ignored", "file", path, "error", err)
				continue
			}
			if s.days[dd.Name()] == nil {
				s.days[dd.Name()] = map[string][]PolicyResult{}
			}
			s.days[dd.Name()][domain] = pols
		}
	}
	return s, nil
}

// Record counts one outcome.
func (s *Store) Record(o Outcome) {
	domain := strings.ToLower(strings.TrimSuffix(o.PolicyDomain, "."))
	if domain == "" || fileName(domain) == "" {
		return
	}
	day := o.Time.UTC().Format(time.DateOnly)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.days[day] == nil {
		s.days[day] = map[string][]PolicyResult{}
	}
	pols := s.days[day][domain]
	desc := PolicyDesc{Type: o.PolicyType, String: o.PolicyString, Domain: domain, MXHost: o.MXHost}
	i := slices.IndexFunc(pols, func(p PolicyResult) bool { return sameDesc(p.Policy, desc) })
	if i < 0 {
		if len(pols) >= maxPoliciesPerDay {
			i = len(pols) - 1 // fold into the last one rather than grow
		} else {
			pols = append(pols, PolicyResult{Policy: desc})
			i = len(pols) - 1
		}
	}
	p := &pols[i]
	if o.ResultType == "" {
		p.Summary.Successful++
	} else {
		p.Summary.Failed++
		fd := FailureDetail{
			ResultType: o.ResultType, SendingMTAIP: bound(o.SendingMTAIP), ReceivingMXHostname: bound(o.ReceivingMXHostname),
			ReceivingIP: bound(o.ReceivingIP), AdditionalInformation: bound(o.AdditionalInfo), FailureReasonCode: bound(o.FailureReasonCode),
		}
		j := slices.IndexFunc(p.FailureDetails, func(d FailureDetail) bool {
			d.FailedSessionCount = 0
			return d == fd
		})
		switch {
		case j >= 0:
			p.FailureDetails[j].FailedSessionCount++
		case len(p.FailureDetails) < maxFailureDetails:
			fd.FailedSessionCount = 1
			p.FailureDetails = append(p.FailureDetails, fd)
		}
	}
	s.days[day][domain] = pols
	s.save(day, domain, pols)
}

func sameDesc(a, b PolicyDesc) bool {
	return a.Type == b.Type && a.Domain == b.Domain && slices.Equal(a.String, b.String) && slices.Equal(a.MXHost, b.MXHost)
}

func bound(s string) string {
	if len(s) > maxFieldLen {
		return s[:maxFieldLen]
	}
	return s
}

// save writes one day's counts for a domain (temporary file and rename, so
// a crash leaves the old or the new counts, never half of them).
func (s *Store) save(day, domain string, pols []PolicyResult) {
	if s.dir == "" {
		return
	}
	path := filepath.Join(s.dir, "days", day, fileName(domain))
	b, _ := json.Marshal(pols)
	err := os.MkdirAll(filepath.Dir(path), 0o700)
	if err == nil {
		tmp := path + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, path)
		}
	}
	if err != nil {
		s.logger.Warn("TLS-RPT counts not saved", "file", path, "error", err)
	}
}

// fileName is the file of a domain's counts; "" for a name that cannot be
// a file name.
func fileName(domain string) string {
	if len(domain) > 253 || strings.HasPrefix(domain, ".") {
		return ""
	}
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return ""
		}
	}
	return domain + ".json"
}

// Days lists the days with counts, oldest first.
func (s *Store) Days() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for d := range s.days {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Domains lists the policy domains counted on day, sorted.
func (s *Store) Domains(day string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for d := range s.days[day] {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Meta is who a report comes from.
type Meta struct {
	OrganizationName string
	ContactInfo      string // e-mail address or URL
	Submitter        string // the reporting host (TLS-Report-Submitter)
}

// Report builds the report for domain on day ("" when nothing was counted).
func (s *Store) Report(day, domain string, m Meta) (*Report, error) {
	dr, err := dayRange(day)
	if err != nil {
		return nil, fmt.Errorf("day %q: %w", day, err)
	}
	s.mu.Lock()
	pols := slices.Clone(s.days[day][domain])
	s.mu.Unlock()
	if len(pols) == 0 {
		return nil, nil
	}
	for i := range pols {
		pols[i].FailureDetails = slices.Clone(pols[i].FailureDetails)
	}
	return &Report{
		OrganizationName: m.OrganizationName,
		DateRange:        dr,
		ContactInfo:      m.ContactInfo,
		ReportID:         fmt.Sprintf("%s_%s@%s", day, domain, m.Submitter),
		Policies:         pols,
	}, nil
}

// Remove forgets domain's counts for day (after its report was sent).
func (s *Store) Remove(day, domain string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.days[day], domain)
	if len(s.days[day]) == 0 {
		delete(s.days, day)
	}
	if s.dir != "" {
		os.Remove(filepath.Join(s.dir, "days", day, fileName(domain)))
		os.Remove(filepath.Join(s.dir, "days", day)) // only when empty
	}
}
