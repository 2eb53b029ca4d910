package lab

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Narrator writes the lab as a readable narrative while it runs: each
// scenario, each step with ✓ or ✗, what was expected and observed, and the
// evidence lines as they appear in the logs.
type Narrator struct {
	w    io.Writer
	step int
}

// NewNarrator returns a Narrator writing to w.
func NewNarrator(w io.Writer) *Narrator { return &Narrator{w: w} }

// Started implements Observer: the opening lines.
func (n *Narrator) Started(dir string, temporary bool) {
	fmt.Fprintln(n.w, "mailflow lab: field reports and mail-flow scenarios, reproduced end to end on loopback")
	keep := "kept"
	if temporary {
		keep = "removed at the end unless --keep"
	}
	fmt.Fprintf(n.w, "lab directory: %s (%s)\n", dir, keep)
}

// ScenarioStarted implements Observer.
func (n *Narrator) ScenarioStarted(sc *Scenario) {
	n.step = 0
	fmt.Fprintf(n.w, "\n%s\n%s\n", sc.Name, strings.Repeat("═", min(len([]rune(sc.Name)), 100)))
	if sc.FieldReport != "" {
		fmt.Fprintf(n.w, "Field report: %s\n", sc.FieldReport)
	}
	if sc.Summary != "" {
		fmt.Fprintf(n.w, "Shows: %s\n", sc.Summary)
	}
}

// StepDone implements Observer.
func (n *Narrator) StepDone(_ *Scenario, st *Step) {
	n.step++
	WriteStep(n.w, n.step, st)
}

// ScenarioDone implements Observer.
func (n *Narrator) ScenarioDone(sc *Scenario) {
	ok := 0
	for _, st := range sc.Steps {
		if st.OK {
			ok++
		}
	}
	mark := "✓"
	if !sc.OK {
		mark = "✗"
	}
	fmt.Fprintf(n.w, "\n%s %d of %d steps behaved as expected\n", mark, ok, len(sc.Steps))
}

// Outro writes the verdict of the whole run.
func (n *Narrator) Outro(r *Report) {
	fmt.Fprintln(n.w)
	if r.OK {
		fmt.Fprintf(n.w, "✓ All %d steps of %d scenarios behaved as expected.\n", r.StepCount(), len(r.Scenarios))
		return
	}
	failed := r.Failed()
	fmt.Fprintf(n.w, "✗ %d of %d steps did not behave as expected:\n", len(failed), r.StepCount())
	for _, f := range failed {
		fmt.Fprintf(n.w, "  - %s\n", f)
	}
}

// WriteStep writes one step of the narrative.
func WriteStep(w io.Writer, number int, st *Step) {
	mark := "✓"
	if !st.OK {
		mark = "✗"
	}
	fmt.Fprintf(w, "\n %s %d. %s\n", mark, number, st.Name)
	fmt.Fprintf(w, "      expected: %s\n", st.Expected)
	fmt.Fprintf(w, "      observed: %s\n", st.Observed)
	for _, e := range st.Evidence {
		fmt.Fprintf(w, "      │ %s\n", e)
	}
}

// WriteText writes a whole report as the narrative (for a report that was
// not narrated live).
func WriteText(w io.Writer, r *Report) {
	n := NewNarrator(w)
	for _, sc := range r.Scenarios {
		n.ScenarioStarted(sc)
		for _, st := range sc.Steps {
			n.StepDone(sc, st)
		}
		n.ScenarioDone(sc)
	}
	n.Outro(r)
}

// WriteKeepHelp tells how to poke the servers a kept lab leaves running.
func WriteKeepHelp(w io.Writer, l *Lab) {
	servers := l.Servers()
	if len(servers) == 0 {
		fmt.Fprintln(w, "\nNo server is running.")
		return
	}
	fmt.Fprintf(w, "\nThe servers keep running until Ctrl-C. Lab directory: %s (server logs: %s)\n", l.Dir(), filepath.Join(l.Dir(), "lab.log"))
	pki := l.PKI()
	for _, s := range servers {
		fmt.Fprintf(w, "\n[%s] %s: SMTP %s", s.Scenario, s.Role, s.SMTP)
		if s.Relay != "" {
			fmt.Fprintf(w, ", relay %s", s.Relay)
		}
		fmt.Fprintf(w, ", admin API %s\n  configuration %s\n", s.Admin, s.Config)
		fmt.Fprintf(w, "  mailflow connector list --config %s\n", s.Config)
		fmt.Fprintf(w, "  mailflow trace --config %s --since 1h\n", s.Config)
		fmt.Fprintf(w, "  mailflow logs analyze %s\n", filepath.Join(filepath.Dir(s.Config), dataDirOf(s.Role), "logs"))
		if s.Role != "on-premises" {
			fmt.Fprintf(w, "  swaks --server %s --to %s --from %s\n", s.SMTP, onpremUser, cloudUser)
			continue
		}
		fmt.Fprintf(w, "  openssl s_client -starttls smtp -connect %s -showcerts </dev/null    # from 127.0.0.1: %s\n", s.SMTP, defaultFrontend)
		fmt.Fprintf(w, "  swaks --server %s --local-interface %s --to %s --tls --tls-get-peer-cert", s.SMTP, tenantSource, onpremUser)
		if pki != nil && s.Relay != "" {
			fmt.Fprintf(w, " \\\n      --tls-cert %s --tls-key %s    # as the tenant: %s, mutual TLS", pki.TenantFile, pki.TenantFile, hybridConnector)
		}
		fmt.Fprintln(w)
		if pki != nil {
			fmt.Fprintf(w, "  mailflow probe %s --source %s --policy DomainValidation --expect %s --ca %s --no-system-roots\n", s.SMTP, tenantSource, hybridFQDN, pki.CAFile)
		}
		if s.Submit != "" {
			fmt.Fprintf(w, "  swaks --server %s --tls --auth PLAIN --auth-user %s --auth-password '%s' --from %s --to %s    # %s, relayed via the tenant\n",
				s.Submit, deviceUser, devicePassword, deviceAddress, outsideRcpt, clientFrontend)
		}
	}
}

func dataDirOf(role string) string {
	if role == "on-premises" {
		return "onprem-data"
	}
	return "tenant-data"
}
