package lab

import (
	"fmt"
	"strings"
)

// Report is the outcome of a lab run. Its JSON form is what `mailflow lab
// --json` prints; fields are only ever added.
type Report struct {
	OK        bool        `json:"ok"`
	Dir       string      `json:"dir,omitempty"`
	Scenarios []*Scenario `json:"scenarios"`
}

// Scenario is one field report played end to end.
type Scenario struct {
	Name        string  `json:"name"`
	FieldReport string  `json:"field_report,omitempty"` // the title of the report it reproduces
	Summary     string  `json:"summary,omitempty"`      // what it shows, in one sentence
	OK          bool    `json:"ok"`
	Steps       []*Step `json:"steps"`
}

// Step is one thing the lab did and what it observed. OK means the
// software behaved as the field report says it should — a step that shows
// a failure (the 450 4.7.320 deferral) is OK when that failure happens.
type Step struct {
	Name     string   `json:"name"`
	OK       bool     `json:"ok"`
	Expected string   `json:"expected"`
	Observed string   `json:"observed"`
	Evidence []string `json:"evidence"`

	problems []string
}

// expect records a problem when cond is false; the step then fails and
// the problem is added to what was observed.
func (s *Step) expect(cond bool, format string, args ...any) bool {
	if !cond {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
	return cond
}

// observe sets the observed summary.
func (s *Step) observe(format string, args ...any) { s.Observed = fmt.Sprintf(format, args...) }

// evidence appends evidence lines; empty lines are skipped.
func (s *Step) evidence(lines ...string) {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			s.Evidence = append(s.Evidence, l)
		}
	}
}

// finish settles OK from the error and the recorded problems.
func (s *Step) finish(err error) {
	var why []string
	if err != nil {
		why = append(why, err.Error())
	}
	why = append(why, s.problems...)
	s.OK = len(why) == 0
	if !s.OK {
		text := strings.Join(why, "; ")
		if s.Observed == "" {
			s.Observed = text
		} else {
			s.Observed += " — NOT AS EXPECTED: " + text
		}
	}
	if s.Evidence == nil {
		s.Evidence = []string{}
	}
}

// Failed lists "scenario: step" for every step that did not behave as
// expected.
func (r *Report) Failed() []string {
	var out []string
	for _, sc := range r.Scenarios {
		for _, st := range sc.Steps {
			if !st.OK {
				out = append(out, sc.Name+": "+st.Name)
			}
		}
	}
	return out
}

// StepCount is the number of steps run.
func (r *Report) StepCount() int {
	n := 0
	for _, sc := range r.Scenarios {
		n += len(sc.Steps)
	}
	return n
}

// settle computes the OK flags bottom-up: a scenario is OK when it ran
// steps and all were OK; the report when every scenario is.
func (r *Report) settle() {
	r.OK = len(r.Scenarios) > 0
	for _, sc := range r.Scenarios {
		sc.OK = len(sc.Steps) > 0
		for _, st := range sc.Steps {
			sc.OK = sc.OK && st.OK
		}
		r.OK = r.OK && sc.OK
	}
}
